/** The shape of a stage rule's definition (one per folder under src/rules/stage-rules/). */
import type { z } from 'zod';
import type { RuleInfo } from '../definition.js';
import type { CompiledStageRules } from './config.js';
import type { StageCompileTools } from './parts.js';
import type { StageRule } from './rule.js';

export interface StageRuleDefinition extends RuleInfo {
  /** The rule's piece of `stageRules` in the rules file, with the seed's defaults. */
  schema: z.ZodType;
  /** Names → ids, durations → milliseconds; `undefined` when the rule is off or its names do not resolve. */
  compile(cfg: never, tools: StageCompileTools): unknown;
  /** The stages it watches: a lead found there by the sweep, never seen entering, joins it. */
  watchedStages(s: CompiledStageRules): number[];
  /** Its clock runs from the lead's entry into the stage, so a joining lead needs its real entry time. */
  clockFromEntry: boolean;
  /**
   * Its violations as the РОП reads them (Telegram alerts, /violations): `text` names the stage and duration of the
   * config in force; `plain` is the wording without numbers, for when no config is at hand.
   */
  violations: Record<string, { plain: string; text(s: CompiledStageRules): string | undefined }>;
  /** Its pure handlers: on entering and leaving a stage, on any other event, on its timer, on the sweep. */
  handlers: StageRule;
}
