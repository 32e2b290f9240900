/** R6 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import { ruDuration } from '../../../lib/ru-duration.js';
import type { StageRuleDefinition } from '../define.js';
import { compileDeferred, DeferredSchema } from './config.js';
import { r6Deferred, R6_SEED } from './rule.js';

export const R6 = {
  id: 'R6',
  title: 'Отложенный спрос',
  summary: 'deferred demand touched',
  seed: R6_SEED,
  folder: 'src/rules/stage-rules/r6-deferred/',
  configKey: 'stageRules.deferred',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: DeferredSchema.default(DeferredSchema.parse({})),
  compile: compileDeferred,
  watchedStages: (s) => (s.deferred ? [s.deferred.stage.statusId] : []),
  clockFromEntry: true,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: {
    deferred_untouched: {
      plain: 'отложенный спрос: нет касания дольше нормы',
      text: (s) =>
        s.deferred ? `отложенный спрос: нет касания дольше, чем ${ruDuration(s.deferred.untouchedAfterMs)}` : undefined,
    },
  },
  handlers: r6Deferred,
} satisfies StageRuleDefinition;
