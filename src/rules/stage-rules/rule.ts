/** The shape every stage rule (R4-R10) has, and the small effect builders they share. */
import type { Effect } from '../plan.js';
import type { WebhookEvent } from '../events.js';
import type { RuleOutcome, StageContext, StageLead, StageState } from './common.js';

export interface Step {
  state: StageState;
  outcome?: RuleOutcome;
}

export interface DueTimerInput {
  rule: string;
  key: string;
  dueAt: number;
}

/** What a timer's handler read from amoCRM for the lead, in one batch for all due leads. */
export interface DueFresh {
  /** null: the lead no longer exists. */
  lead: StageLead | null;
  /** Common notes and calls on the lead (from the events API), for reasons and touches. */
  notes: Array<{ byUserId: number; at: number }>;
}

export interface StageRule {
  rule: string;
  /** The lead entered a stage. `state` already holds the new stage, its entry time and whether a robot moved it. */
  onEnter?(state: StageState, lead: StageLead, ctx: StageContext): Step;
  /** The lead is leaving the stage `state` describes (called before the state moves on). */
  onLeave?(
    state: StageState,
    lead: StageLead,
    to: { statusId?: number | undefined; pipelineId?: number | undefined },
    ctx: StageContext,
  ): Step;
  /** Any other event while the lead stays in its stage. */
  onEvent?(state: StageState, lead: StageLead, event: WebhookEvent, ctx: StageContext): Step;
  /** A timer of this rule is due; `fresh` is amoCRM's view now (check, then act). */
  onDue?(state: StageState, timer: DueTimerInput, fresh: DueFresh, ctx: StageContext): Step;
  /** The paged sweep met an open lead (after it joined the stage it sits in). */
  onSweep?(state: StageState, lead: StageLead, ctx: StageContext): Step;
}

export const schedule = (rule: string, leadId: number, key: string, dueAt: number): Effect => ({
  kind: 'schedule_timer',
  rule,
  leadId,
  key,
  dueAt,
});
export const cancel = (rule: string, leadId: number, key: string): Effect => ({
  kind: 'cancel_timer',
  rule,
  leadId,
  key,
});
export const note = (leadId: number, text: string): Effect => ({ kind: 'add_note', leadId, text });

/** The entry time of the visit a timer key belongs to: keys look like `stale:<enteredAt>`. */
export const keyVisit = (key: string): number => Number(key.split(':')[1] ?? NaN);

/** A timer that found nothing to do is settled by cancelling it. */
export const settle = (rule: string, state: StageState, leadId: number, timer: DueTimerInput, why: string): Step => ({
  state,
  outcome: { rule, key: `${timer.key}:settled`, reason: why, effects: [cancel(rule, leadId, timer.key)] },
});
