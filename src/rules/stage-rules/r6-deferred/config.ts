/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { ms, Stage, StageDurationSchema, type StageCompileTools, type StageRef } from '../parts.js';

/** R6, seed 001 «Отложенный спрос»: «Минимум 1 касание в месяц»; seed 000: weekly touch for two tags. */
export const DeferredSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Отложенный спрос >7 мес'),
    touchEvery: StageDurationSchema.default('P1M'),
    untouchedAfter: StageDurationSchema.default('P30D'),
    weeklyTags: z.array(z.string().min(1)).default(['ПРОДАЮТ СВОЕ ЖИЛЬЕ', 'СОГЛАСОВАНО РОПом']),
    weeklyEvery: StageDurationSchema.default('P7D'),
  })
  .strict();

export type DeferredConfig = z.infer<typeof DeferredSchema>;
export interface CompiledDeferred {
  stage: StageRef;
  touchEvery: string;
  untouchedAfterMs: number;
  weeklyTags: string[];
  weeklyEvery: string;
}

export function compileDeferred(cfg: DeferredConfig, t: StageCompileTools): CompiledDeferred | undefined {
  if (!cfg.enabled) return undefined;
  const s = t.stage(cfg.stage, `${t.path}.stage`);
  return s
    ? {
        stage: s,
        touchEvery: cfg.touchEvery,
        untouchedAfterMs: ms(cfg.untouchedAfter),
        weeklyTags: cfg.weeklyTags,
        weeklyEvery: cfg.weeklyEvery,
      }
    : undefined;
}
