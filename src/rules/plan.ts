/**
 * What a rule's decision becomes: a `Plan` of `Effect`s for one lead, and the records and messages it leaves. These
 * are the functional core's output types; the effect executor (src/effects/) carries plans out, the stores keep
 * records and outbox messages. Everything here is data: no I/O, no imports from the shell.
 */
import type { ViolationEvidence } from './disputes/policy.js';

/** A message for people (Telegram) as a rule decides it; delivery renders it from `template` and `params`. */
export interface OutboxMessage {
  at: string;
  audience: { kind: 'department'; department: string; chatId?: string } | { kind: 'manager'; userId: number };
  template: string;
  params: Record<string, unknown>;
  leadId?: number;
  reason: string;
  priority?: 'low' | 'normal';
}

/**
 * `action` is anything else the robot did to a lead (a task created, a lead moved, a cadence step), with `type`
 * naming it (`cadence_task`, `cadence_end`, `meeting_confirmation`, …).
 */
export type RecordKind =
  | 'assignment'
  | 'reassignment'
  | 'fallback'
  | 'violation'
  | 'pickup_taken'
  | 'pickup_started'
  | 'pickup_waiting'
  | 'action'
  | 'intake_paused'
  | 'intake_resumed';

/** The record an admin can query: what the robot did to a lead, or a violation, with the reason. */
export interface RobotRecord {
  kind: RecordKind;
  at: string;
  leadId: number;
  /** The manager the record is about: the new responsible, or the one who broke a rule. */
  userId?: number;
  previousUserId?: number;
  /** Violation type (`pickup_missed`, …) or the cause of an assignment. */
  type?: string;
  rule: string;
  /** The regulation line the rule enforces, e.g. `seed 001 «Встреча состоялась»`. */
  seed?: string;
  /** Stable id of a violation (`<type>:<leadId>:<window>`), shared by the record, the alert and reports. */
  violationId?: string;
  /** A violation's evidence: the times and events the rule read, the config in force (the ledger keeps it). */
  evidence?: ViolationEvidence;
  department?: string;
  reason: string;
  /** Structured explanation: candidates, who was skipped and why, weights, winner. */
  explanation?: unknown;
  /** Lead activity for reports (src/reports/activity.ts): the stage entered, its milestone, a call's outcome, the source. */
  statusId?: number;
  statusName?: string;
  milestone?: string;
  direction?: 'in' | 'out';
  answered?: boolean;
  source?: string;
  /** pickup_taken: milliseconds from the assignment to the evidence the lead was taken. */
  takenAfterMs?: number;
}

/** What the robot may do. A new rule adds decision kinds that map to these, never a new executor. */
export type Effect =
  /** PATCH /api/v4/leads: the responsible manager. Reconciled: skipped when amoCRM already has `toUserId`. */
  | { kind: 'set_responsible'; leadId: number; toUserId: number; fromUserId?: number }
  /** PATCH /api/v4/leads: the stage. Reconciled: skipped when the lead is already there. */
  | { kind: 'move_lead'; leadId: number; pipelineId: number; statusId: number; lossReasonId?: number }
  /** POST /api/v4/leads/notes, a common note in Russian. Reconciled: skipped when the same text is on the lead. */
  | { kind: 'add_note'; leadId: number; text: string }
  /**
   * POST /api/v4/tasks. `ref` names the task for the rule (e.g. `cadence:3`); the executor remembers the amoCRM id
   * under it (see `EffectStore.taskId`), so later effects and incoming task webhooks can refer to it.
   * Reconciled: an open task of the lead with the same text and due time is taken as this one.
   */
  | {
      kind: 'create_task';
      leadId: number;
      ref: string;
      userId: number;
      text: string;
      dueAt: number;
      taskTypeId?: number;
    }
  /** PATCH /api/v4/tasks: complete (with a result text) or move a task created earlier under `ref`. */
  | { kind: 'complete_task'; leadId: number; ref: string; resultText: string }
  | { kind: 'update_task'; leadId: number; ref: string; dueAt?: number; text?: string; userId?: number }
  /** A message for people (Telegram), queued once per `dedupeId`. */
  | { kind: 'message'; leadId: number; dedupeId: string; message: OutboxMessage }
  /** The record an admin can query; written once per `dedupeId`. Violations carry rule, seed line and a stable id. */
  | { kind: 'record'; leadId: number; dedupeId: string; record: RobotRecord }
  /**
   * A timer of a rule for a lead: when `dueAt` passes, the rule's due handler gets (leadId, key) in a batch with
   * the others due at that time. Timers live in one sorted set, so none is ever lost with a job; scheduling the same
   * (rule, lead, key) again moves it.
   */
  | { kind: 'schedule_timer'; rule: string; leadId: number; key: string; dueAt: number }
  | { kind: 'cancel_timer'; rule: string; leadId: number; key: string };

export type EffectKind = Effect['kind'];

export interface Plan {
  /**
   * Deterministic idempotency id: the same rule firing for the same cause gets the same id
   * (e.g. `R1:lead123:clock5:missed`), so a retried job or a second worker never doubles it.
   */
  id: string;
  rule: string;
  leadId: number;
  /** Why, in English, for the log line; people read the Russian note and record. */
  reason: string;
  /**
   * Rule state saved atomically with the intent: field of the lead's hash → value (JSON-serialisable).
   * `null` deletes the field. E.g. `{ pickup: nextPickupState }`.
   */
  state?: Record<string, unknown>;
  /**
   * State to put back when the plan is dead-lettered (amoCRM refused its write for good), so the rule's state never
   * claims a change amoCRM does not have (e.g. the pickup state before a reassignment that was refused).
   */
  revert?: Record<string, unknown>;
  effects: Effect[];
}

export interface DueTimer {
  rule: string;
  leadId: number;
  key: string;
  dueAt: number;
  /** How many times this timer was handed to its rule and not settled (transient failures). */
  attempts: number;
}
