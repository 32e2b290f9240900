/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import { ms, Stage, StageDurationSchema, type StageCompileTools, type StageRef } from '../parts.js';

/** R8, seed 001 «Встреча состоялась»: «НИ В КОЕМ СЛУЧАЕ НЕЛЬЗЯ ПРОПУСКАТЬ ИЛИ "ПЕРЕПРЫГИВАТЬ" этот этап». */
export const MustPassThroughSchema = z
  .object({
    name: z.string().min(1),
    enabled: z.boolean().default(true),
    pipeline: z.string().min(1).optional(),
    /** Once a lead was here… */
    from: Stage,
    /** …it must pass this stage before any later one. */
    mustPass: Stage,
    /** Later stages that do not count (the lost stage is never "later"). */
    except: z.array(Stage).default([]),
    violation: z
      .string()
      .regex(/^[a-z_]+$/)
      .default('meeting_skipped'),
    /** The task to record the skipped stage's result is due this long after the violation. */
    taskWithin: StageDurationSchema.default('PT1H'),
  })
  .strict();

export type MustPassThroughConfig = z.infer<typeof MustPassThroughSchema>;
export interface CompiledMustPass {
  name: string;
  pipelineId: number;
  from: StageRef;
  mustPass: StageRef;
  /** Status ids that count as "later than mustPass". */
  later: ReadonlySet<number>;
  violation: string;
  taskWithinMs: number;
}

/** Every enabled `mustPassThrough` entry; one whose names do not resolve is left out (with its errors). */
export function compileMustPassThrough(list: MustPassThroughConfig[], t: StageCompileTools): CompiledMustPass[] {
  const out: CompiledMustPass[] = [];
  list.forEach((r, i) => {
    if (!r.enabled) return;
    const path = `${t.path}[${i}]`;
    const p = r.pipeline !== undefined ? t.pipelineOf(r.pipeline, `${path}.pipeline`) : t.pipeline;
    if (!p) return;
    const from = t.stage(r.from, `${path}.from`, p);
    const mustPass = t.stage(r.mustPass, `${path}.mustPass`, p);
    const except = new Set(r.except.flatMap((name, j) => t.stage(name, `${path}.except[${j}]`, p)?.statusId ?? []));
    if (!from || !mustPass) return;
    const passSort = p.statuses.find((s) => s.id === mustPass.statusId)?.sort ?? 0;
    // The lost stage (143) is never "later": closing a lead is not skipping its meeting.
    const later = new Set(
      p.statuses.filter((s) => (s.sort ?? 0) > passSort && s.id !== 143 && !except.has(s.id)).map((s) => s.id),
    );
    out.push({
      name: r.name,
      pipelineId: p.id,
      from,
      mustPass,
      later,
      violation: r.violation,
      taskWithinMs: ms(r.taskWithin),
    });
  });
  return out;
}
