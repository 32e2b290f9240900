/** The config piece of this rule (`stageRules.<key>` in the rules file) and its compile step. */
import { z } from 'zod';
import {
  FieldId,
  LOCAL_TIME,
  ms,
  Stage,
  StageDurationSchema,
  type StageCompileTools,
  type StageRef,
} from '../parts.js';

/** R7, seed 001 «Встреча назначена»; seed 004 rule 3: confirmation the same day 2-3 h before, or that morning and 2-3 h before. */
export const MeetingSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Встреча назначена'),
    /** The date-time field of the meeting. */
    meetingTimeFieldId: FieldId,
    /** Time to fill the field after the lead enters the stage before it is a violation. */
    fillWithin: StageDurationSchema.default('PT10M'),
    /** Confirm between `confirmFrom` and `confirmTo` before the meeting (seed 004: 2-3 h); the task is due at `confirmTo`. */
    confirmFrom: StageDurationSchema.default('PT3H'),
    confirmTo: StageDurationSchema.default('PT2H'),
    /** "С утра" of the meeting day, local time. */
    morningAt: LOCAL_TIME.default('10:00'),
  })
  .strict()
  .refine((m) => ms(m.confirmFrom) >= ms(m.confirmTo), {
    message: '"confirmFrom" must not be shorter than "confirmTo"',
    path: ['confirmFrom'],
  });

export type MeetingConfig = z.infer<typeof MeetingSchema>;
export interface CompiledMeeting {
  stage: StageRef;
  meetingTimeFieldId: number;
  fillWithinMs: number;
  confirmFromMs: number;
  confirmToMs: number;
  morningMin: number;
}

export function compileMeeting(cfg: MeetingConfig | undefined, t: StageCompileTools): CompiledMeeting | undefined {
  if (!cfg?.enabled) return undefined;
  const s = t.stage(cfg.stage, `${t.path}.stage`);
  const [h = 0, min = 0] = cfg.morningAt.split(':').map(Number);
  return s
    ? {
        stage: s,
        meetingTimeFieldId: cfg.meetingTimeFieldId,
        fillWithinMs: ms(cfg.fillWithin),
        confirmFromMs: ms(cfg.confirmFrom),
        confirmToMs: ms(cfg.confirmTo),
        morningMin: h * 60 + min,
      }
    : undefined;
}
