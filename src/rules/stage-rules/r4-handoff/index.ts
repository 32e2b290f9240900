/** R4 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import { ruDuration } from '../../../lib/ru-duration.js';
import type { StageRuleDefinition } from '../define.js';
import { compileHandoff, HandoffSchema } from './config.js';
import { r4Handoff, R4_SEED } from './rule.js';

export const R4 = {
  id: 'R4',
  title: 'Передача сделки',
  summary: '«Для передачи» left in time',
  seed: R4_SEED,
  folder: 'src/rules/stage-rules/r4-handoff/',
  configKey: 'stageRules.handoff',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: HandoffSchema.default(HandoffSchema.parse({})),
  compile: compileHandoff,
  watchedStages: (s) => (s.handoff ? [s.handoff.stage.statusId] : []),
  clockFromEntry: true,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: {
    handoff_stale: {
      plain: 'сделка в «Для передачи» дольше нормы',
      text: (s) =>
        s.handoff ? `сделка в «${s.handoff.stage.name}» дольше, чем ${ruDuration(s.handoff.maxStayMs)}` : undefined,
    },
  },
  handlers: r4Handoff,
} satisfies StageRuleDefinition;
