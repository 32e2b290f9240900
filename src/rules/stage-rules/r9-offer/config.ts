/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { ms, Stage, StageDurationSchema, type StageCompileTools, type StageRef } from '../parts.js';

/** R9, seed 001 «Отправлено КП»: «не забудьте поставить задачу Получить обратную связь … не может находиться долгое время». */
export const OfferSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Отправлено КП'),
    feedbackWorkingDays: z.number().int().min(1).max(30).default(2),
    maxStay: StageDurationSchema.default('P5D'),
  })
  .strict();

export type OfferConfig = z.infer<typeof OfferSchema>;
export interface CompiledOffer {
  stage: StageRef;
  feedbackWorkingDays: number;
  maxStayMs: number;
}

export function compileOffer(cfg: OfferConfig, t: StageCompileTools): CompiledOffer | undefined {
  if (!cfg.enabled) return undefined;
  const s = t.stage(cfg.stage, `${t.path}.stage`);
  return s ? { stage: s, feedbackWorkingDays: cfg.feedbackWorkingDays, maxStayMs: ms(cfg.maxStay) } : undefined;
}
