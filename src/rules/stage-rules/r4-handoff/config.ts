/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { ms, Stage, StageDurationSchema, type StageCompileTools, type StageRef } from '../parts.js';

/** R4, seed 001 «Для передачи»: more than 1 day in the stage is a signal to the РОП. */
export const HandoffSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Для передачи'),
    maxStay: StageDurationSchema.default('P1D'),
  })
  .strict();

export type HandoffConfig = z.infer<typeof HandoffSchema>;
export interface CompiledHandoff {
  stage: StageRef;
  maxStayMs: number;
}

export function compileHandoff(cfg: HandoffConfig, t: StageCompileTools): CompiledHandoff | undefined {
  if (!cfg.enabled) return undefined;
  const s = t.stage(cfg.stage, `${t.path}.stage`);
  return s ? { stage: s, maxStayMs: ms(cfg.maxStay) } : undefined;
}
