/**
 * The one road from decision to effect (STYLE habit 14). Rules stay pure and return decisions; the shell turns
 * them into a `Plan` per lead and hands the plans to the effect executor, which carries them out for every rule:
 *
 * 1. commit: the plan's rule state and its intent (the effects still to do) are written to the lead's hash in one
 *    atomic step, after the lead is marked pending. A crash after this point is resumed, never misread as a
 *    person's change: the state already says what the robot meant to do.
 * 2. drain: amoCRM writes are batched across all plans in hand (one PATCH /leads, one POST /leads/notes, one
 *    POST /tasks per up to 250 items); a write that may already have landed (a resumed intent) is reconciled with
 *    amoCRM first (responsible already set, the robot's note or task already there → not repeated).
 * 3. after its writes succeeded: records, outbox messages and timers of the plan; each effect is marked done only
 *    after it succeeded. When every effect of a plan is done, its intent is removed.
 *
 * Failures are isolated per lead: a permanent error (amoCRM rejected the write) dead-letters that plan with the
 * request and amoCRM's answer, counts a metric and alerts the operator once; a transient one parks the plan for a
 * retry with backoff. Other leads in the same batch proceed.
 *
 * No rule imports this module's implementation: rules return decisions, the shell maps them to these effects.
 */
import type { DueTimer, Plan } from '../rules/plan.js';

export type { DueTimer, Effect, EffectKind, Plan } from '../rules/plan.js';

export type PlanOutcome =
  | { kind: 'done'; planId: string; leadId: number }
  | { kind: 'duplicate'; planId: string; leadId: number }
  | { kind: 'parked'; planId: string; leadId: number; retryAt: number; error: string }
  | { kind: 'dead_lettered'; planId: string; leadId: number; error: string };

export interface ExecuteReport {
  outcomes: PlanOutcome[];
  /** amoCRM requests made for this call, by endpoint. */
  requests: Record<string, number>;
}

/**
 * A rule's timer handler: gets every due timer of the rule in one batch (up to 250) and returns plans. A timer
 * is settled when a returned plan cancels or reschedules it; a timer left unsettled is handed again with backoff.
 * A handler may throw for the whole batch (amoCRM down): every timer stays due and is retried.
 * Per-lead errors are reported in `failed` so the others proceed.
 */
export type DueHandler = (due: DueTimer[]) => Promise<DueResult>;

export interface DueResult {
  /** Plans to commit and carry out. */
  plans?: Plan[];
  /** Plans the handler already committed under the lead's lock (`EffectExecutor.commit`); only carried out. */
  committed?: Committed[];
  failed?: Array<{ timer: DueTimer; error: unknown }>;
}

/** A plan whose state and intent are in Redis; `resumed` when an earlier attempt may have written to amoCRM. */
export interface Committed {
  plan: Plan;
  /** Indexes of effects already done. */
  done: number[];
  attempts: number;
  resumed: boolean;
}

export interface EffectExecutor {
  /** Commits every plan (state + intent), then carries the effects out, batched across plans. */
  execute(plans: Plan[]): Promise<ExecuteReport>;
  /**
   * Only the commit: state and intent in one atomic step per lead. Call it holding the lead's lock, so the state a
   * rule read is the state it replaces; then `drain` the result (the lock may be released first).
   * A plan already done or already pending is not committed again.
   */
  commit(plans: Plan[]): Promise<Committed[]>;
  drain(committed: Committed[]): Promise<ExecuteReport>;
  /** Finishes intents left by a crash or parked for retry (all due ones, or those of some leads). */
  resume(leadIds?: number[]): Promise<ExecuteReport>;
}

export interface EffectStore {
  /** Rule state fields of a lead's hash, parsed from JSON (`undefined` for a missing field). */
  readState(leadId: number, fields: string[]): Promise<Record<string, unknown>>;
  /** The amoCRM id of a task the executor created under `ref`, or the ref of an amoCRM task id. */
  taskId(leadId: number, ref: string): Promise<number | undefined>;
  taskRef(leadId: number, taskId: number): Promise<string | undefined>;
  /** Ids of plans not finished yet for a lead. */
  pendingPlans(leadId: number): Promise<string[]>;
  /** The leads among these with plans that may still be writing (one round trip; a superset of those with intents). */
  inFlight(leadIds: number[]): Promise<Set<number>>;
}
