/** R9 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import { ruDuration } from '../../../lib/ru-duration.js';
import type { StageRuleDefinition } from '../define.js';
import { compileOffer, OfferSchema } from './config.js';
import { r9Offer, R9_SEED } from './rule.js';

export const R9 = {
  id: 'R9',
  title: 'Обратная связь по КП',
  summary: 'feedback after an offer',
  seed: R9_SEED,
  folder: 'src/rules/stage-rules/r9-offer/',
  configKey: 'stageRules.offer',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: OfferSchema.default(OfferSchema.parse({})),
  compile: compileOffer,
  watchedStages: (s) => (s.offer ? [s.offer.stage.statusId] : []),
  clockFromEntry: true,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: {
    offer_stale: {
      plain: 'сделка в «Отправлено КП» дольше нормы',
      text: (s) =>
        s.offer ? `сделка в «${s.offer.stage.name}» дольше, чем ${ruDuration(s.offer.maxStayMs)}` : undefined,
    },
  },
  handlers: r9Offer,
} satisfies StageRuleDefinition;
