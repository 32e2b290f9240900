/**
 * R3 call cadences: the compiled profile bound to a stage, and the per-lead cadence state the shell keeps in the
 * lead's hash (field `cadence`). Instants are epoch ms; days are local calendar days in the account's zone.
 */
import { z } from 'zod';
import type { ShiftSpan } from '../shift-span.js';

export type CadenceStop = 'left_stage' | 'answered_call' | 'meeting_set';

export interface CadencePhase {
  /** Days since entering the stage: [from, to). */
  from: number;
  to: number;
  /** Calls in each block of `everyDays` days. */
  calls: number;
  everyDays: number;
  weekendCall: boolean;
  messengerText?: string;
}

export type CadenceEnd =
  { kind: 'move'; pipelineId: number; statusId: number; stageName: string; reason?: string } | { kind: 'alert' };

export interface CompiledCadence {
  profile: string;
  seed: string;
  pipelineId: number;
  statusId: number;
  stageName: string;
  phases: CadencePhase[];
  /** Minutes from local midnight. Weekend windows apply on Saturdays, Sundays and public holidays. */
  windows: { weekdays: ShiftSpan[]; weekends: ShiftSpan[] };
  rotateWindows: boolean;
  end: CadenceEnd;
  endAt: 'end_of_last_phase' | 'after_last_call';
  stopOn: ReadonlySet<CadenceStop>;
  answeredMinDurationSec: number;
  overdueAfterMs: number;
  /** The Nth manager in a row without contact ends the cadence at once (seed 001 scenario 2); absent = off. */
  thirdManager?: number;
  joinExisting: boolean;
}

export interface CompiledCadences {
  bindings: CompiledCadence[];
  sweepIntervalMs: number;
}

export const AttemptOutcomeSchema = z.enum(['no_answer', 'no_call', 'overdue']);
export type AttemptOutcome = z.infer<typeof AttemptOutcomeSchema>;

export const CadenceStateSchema = z.object({
  /** Increments every time the lead enters a bound stage; task refs and plan ids carry it. */
  run: z.number().int().nonnegative(),
  status: z.enum(['running', 'waiting_end', 'waiting_slot', 'stopped', 'ended']),
  profile: z.string(),
  pipelineId: z.number().int(),
  statusId: z.number().int(),
  entryAt: z.number(),
  userId: z.number().int().optional(),
  /** The step whose task is open (1-based), and how many times it was set again after going overdue. */
  step: z.number().int().nonnegative(),
  reissue: z.number().int().nonnegative(),
  openTask: z
    .object({
      ref: z.string(),
      step: z.number().int(),
      dueAt: z.number(),
      window: z.number().int(),
      day: z.string(),
      createdAt: z.number(),
      weekendMissed: z.boolean().optional(),
      text: z.string().optional(),
    })
    .optional(),
  /** When the rule's timer is due (overdue check, the end, or a retry to find a slot). */
  timerAt: z.number().optional(),
  attempts: z.array(
    z.object({
      step: z.number().int(),
      outcome: AttemptOutcomeSchema,
      at: z.number(),
      dueAt: z.number(),
      userId: z.number().int().optional(),
      calls: z.number().int(),
    }),
  ),
  /** Call notes seen while the current task is open. */
  calls: z.array(
    z.object({
      at: z.number(),
      answered: z.boolean(),
      durationSec: z.number(),
      status: z.number().int().optional(),
      direction: z.enum(['in', 'out']),
    }),
  ),
  /** Days and windows of issued calls, for rotation and the calls-per-day cap. */
  slots: z.array(z.object({ step: z.number().int(), day: z.string(), window: z.number().int() })),
  stoppedBy: z.enum(['left_stage', 'answered_call', 'meeting_set', 'profile_off']).optional(),
  endedAt: z.number().optional(),
  /** Managers, in order, who ran a cadence on this lead and never reached the client (kept across runs). */
  unreachedBy: z.array(z.number().int()),
});
export type CadenceState = z.infer<typeof CadenceStateSchema>;

/** A call note, from a `leads[note]` webhook or the events/notes API. */
export interface CallNote {
  direction: 'in' | 'out';
  at: number;
  durationSec: number;
  /** amoCRM call_status: 1 voicemail, 2 call back later, 3 not available, 4 conversation, 5 wrong number, 6 no answer, 7 busy. */
  status?: number;
  byUserId?: number;
}
