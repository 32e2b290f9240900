/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { FieldId, ms, Stage, StageDurationSchema, type StageCompileTools, type StageRef } from '../parts.js';

/** R5, seed 001 «На закрытие»: «Обязательно укажите причину перемещения в этот этап». */
export const CloseReasonSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('На закрытие'),
    within: StageDurationSchema.default('PT10M'),
    /** A lead field that holds the reason; a note by the responsible counts as well. */
    reasonFieldId: FieldId.optional(),
  })
  .strict();

export type CloseReasonConfig = z.infer<typeof CloseReasonSchema>;
export interface CompiledCloseReason {
  stage: StageRef;
  withinMs: number;
  reasonFieldId?: number;
}

export function compileCloseReason(cfg: CloseReasonConfig, t: StageCompileTools): CompiledCloseReason | undefined {
  if (!cfg.enabled) return undefined;
  const s = t.stage(cfg.stage, `${t.path}.stage`);
  return s
    ? {
        stage: s,
        withinMs: ms(cfg.within),
        ...(cfg.reasonFieldId !== undefined ? { reasonFieldId: cfg.reasonFieldId } : {}),
      }
    : undefined;
}
