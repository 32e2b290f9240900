/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { ms, Stage, StageDurationSchema, type StageCompileTools } from '../parts.js';

/** R10, seed 002 §2.6, §2.12: «не реже 1 раза в неделю вносит комментарии и обновляет статусы». */
export const WeeklyUpdateSchema = z
  .object({
    enabled: z.boolean().default(true),
    maxSilence: StageDurationSchema.default('P7D'),
    /** How often the sweep pages through open leads (bulk priority, 250 per request). */
    sweepInterval: StageDurationSchema.default('PT1H'),
    /** Stages not checked (besides won and lost). */
    exceptStages: z.array(Stage).default(['Неразобранное']),
  })
  .strict();

export type WeeklyUpdateConfig = z.infer<typeof WeeklyUpdateSchema>;
export interface CompiledWeeklyUpdate {
  maxSilenceMs: number;
  sweepIntervalMs: number;
  openStatusIds: ReadonlySet<number>;
  pipelineIds: number[];
}

/** Every open stage of the rules' pipeline is checked, except won (142), lost (143) and `exceptStages`. */
export function compileWeeklyUpdate(cfg: WeeklyUpdateConfig, t: StageCompileTools): CompiledWeeklyUpdate | undefined {
  if (!cfg.enabled) return undefined;
  const except = new Set(
    cfg.exceptStages.flatMap((name, j) => t.stage(name, `${t.path}.exceptStages[${j}]`)?.statusId ?? []),
  );
  const open = t.pipeline.statuses.filter((s) => s.id !== 142 && s.id !== 143 && !except.has(s.id)).map((s) => s.id);
  return {
    maxSilenceMs: ms(cfg.maxSilence),
    sweepIntervalMs: ms(cfg.sweepInterval),
    openStatusIds: new Set(open),
    pipelineIds: [t.pipeline.id],
  };
}
