/** R5 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import type { StageRuleDefinition } from '../define.js';
import { compileCloseReason, CloseReasonSchema } from './config.js';
import { r5CloseReason, R5_SEED } from './rule.js';

export const R5 = {
  id: 'R5',
  title: 'Причина закрытия',
  summary: 'a close reason given',
  seed: R5_SEED,
  folder: 'src/rules/stage-rules/r5-close-reason/',
  configKey: 'stageRules.closeReason',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: CloseReasonSchema.default(CloseReasonSchema.parse({})),
  compile: compileCloseReason,
  watchedStages: (s) => (s.closeReason ? [s.closeReason.stage.statusId] : []),
  clockFromEntry: true,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: { close_without_reason: { plain: 'закрытие без указания причины', text: () => undefined } },
  handlers: r5CloseReason,
} satisfies StageRuleDefinition;
