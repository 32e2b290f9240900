/**
 * The stage rules R4-R10 as one pure unit the shell calls:
 * - `stageRulesOnLeadEvent`: a webhook event was folded into the lead's state; every stage change it carries is
 *   walked in order (a lead that moved fast through several stages yields each rule's decision once, in order);
 * - `stageRulesOnDue`: a rule's timer is due and the lead was re-read from amoCRM (check, then act);
 * - `stageRulesOnSweep`: the paged sweep met a lead: it joins the stage it sits in (with its real entry time)
 *   when the worker never saw it enter, and R10 checks its last update.
 * The service's own writes (robot users) never start a rule and never count as a touch.
 */
import type { Plan } from '../plan.js';
import type { WebhookEvent } from '../events.js';
import type { LeadState, StageChange } from '../lead-state.js';
import type { RuleContext } from '../types.js';
import {
  fieldsFromEvent,
  isRobot,
  stageContext,
  toPlan,
  type RuleOutcome,
  type StageContext,
  type StageLead,
  type StageState,
} from './common.js';
import { STAGE_RULE_LIST, STAGE_RULES } from './registry.js';
import type { DueFresh, DueTimerInput, Step } from './rule.js';

export { emptyStageState, StageStateSchema, type StageLead, type StageState } from './common.js';
export type { DueFresh } from './rule.js';

export { STAGE_RULE_IDS, STAGE_RULE_LIST, STAGE_RULES } from './registry.js';

export interface StageResult {
  state: StageState;
  plans: Plan[];
}

export function stageLeadFrom(after: LeadState, event: WebhookEvent | undefined): StageLead {
  // Only a full lead body (add, update, status, responsible) carries the lead's custom fields (amocrm.md §1).
  const full = event?.kind === 'lead' && !event.short;
  const seen = full && event.updatedAt !== undefined ? Date.parse(event.updatedAt) : undefined;
  return {
    leadId: after.leadId,
    tags: after.tags,
    fields: full ? fieldsFromEvent(event.customFields) : new Map(),
    ...(full ? {} : { fieldsKnown: false }),
    ...(seen !== undefined ? { updatedAt: seen } : {}),
    ...(after.pipelineId !== undefined ? { pipelineId: after.pipelineId } : {}),
    ...(after.statusId !== undefined ? { statusId: after.statusId } : {}),
    ...(after.responsibleUserId !== undefined ? { responsibleUserId: after.responsibleUserId } : {}),
  };
}

/** The stage changes `after` has that `before` had not (the history is capped, so match by the last known one). */
export function newTransitions(before: LeadState | undefined, after: LeadState): StageChange[] {
  const last = before?.history.at(-1);
  if (!last) return after.history;
  const key = JSON.stringify(last);
  for (let i = after.history.length - 1; i >= 0; i--)
    if (JSON.stringify(after.history[i]) === key) return after.history.slice(i + 1);
  return after.history.slice(-1).filter((h) => h.statusId !== before?.statusId);
}

class Collector {
  plans: Plan[] = [];
  constructor(
    readonly leadId: number,
    public state: StageState,
  ) {}
  take(step: Step): void {
    this.state = step.state;
    if (step.outcome && step.outcome.effects.length > 0) this.plans.push(toPlan(this.leadId, step.outcome, step.state));
  }
  add(outcome: RuleOutcome): void {
    this.plans.push(toPlan(this.leadId, outcome, this.state));
  }
}

function enter(
  c: Collector,
  lead: StageLead,
  to: { statusId?: number | undefined; pipelineId?: number | undefined },
  at: number,
  byUserId: number | undefined,
  robot: boolean,
  ctx: StageContext,
): void {
  if (c.state.statusId !== undefined && c.state.statusId !== to.statusId) {
    for (const r of STAGE_RULES) if (r.onLeave) c.take(r.onLeave(c.state, lead, to, ctx));
  }
  const next: StageState = { ...c.state, visit: c.state.visit + 1, enteredAt: at, robotEntry: robot };
  if (to.statusId !== undefined) next.statusId = to.statusId;
  if (to.pipelineId !== undefined) next.pipelineId = to.pipelineId;
  if (byUserId !== undefined) next.enteredBy = byUserId;
  else delete next.enteredBy;
  if (!robot && byUserId !== undefined) next.lastTouchAt = Math.max(next.lastTouchAt ?? 0, at);
  c.state = next;
  const atStage = {
    ...lead,
    ...(to.statusId !== undefined ? { statusId: to.statusId } : {}),
    ...(to.pipelineId !== undefined ? { pipelineId: to.pipelineId } : {}),
  };
  for (const r of STAGE_RULES) if (r.onEnter) c.take(r.onEnter(c.state, atStage, ctx));
}

/** A touch for R6 and R10: a note, call or task completion by a person (never the service's own writes). */
function touchOf(event: WebhookEvent, ctx: StageContext): number | undefined {
  if (event.kind === 'note' && !isRobot(ctx.rules, event.createdUserId))
    return event.createdAt !== undefined ? Date.parse(event.createdAt) : ctx.now;
  if (
    event.kind === 'task' &&
    event.isCompleted === true &&
    event.modifiedUserId !== undefined &&
    event.modifiedUserId > 0 &&
    !isRobot(ctx.rules, event.modifiedUserId)
  )
    return event.updatedAt !== undefined ? Date.parse(event.updatedAt) : ctx.now;
  return undefined;
}

/** A webhook event was applied to the lead's state (`before` → `after`); what the stage rules do about it. */
export function stageRulesOnLeadEvent(input: {
  before: LeadState | undefined;
  after: LeadState;
  event: WebhookEvent;
  state: StageState;
  ctx: RuleContext;
}): StageResult {
  const ctx = stageContext(input.ctx);
  if (!ctx) return { state: input.state, plans: [] };
  const { after, event } = input;
  const lead = stageLeadFrom(after, event);
  const c = new Collector(after.leadId, input.state);
  const original = JSON.stringify(input.state);

  for (const t of newTransitions(input.before, after)) {
    if (t.statusId === undefined || t.statusId === c.state.statusId) continue;
    // A Digital Pipeline webhook names nobody: the move is taken as a person's (the service's own writes always come
    // back with its user id), so the stage's rules start; only a named robot's move does not start them.
    const robot = t.byUserId !== undefined && isRobot(ctx.rules, t.byUserId);
    enter(
      c,
      lead,
      { statusId: t.statusId, pipelineId: t.pipelineId ?? after.pipelineId },
      Date.parse(t.at),
      t.byUserId,
      robot,
      ctx,
    );
  }
  if (after.deleted && c.state.statusId !== undefined) {
    for (const r of STAGE_RULES) if (r.onLeave) c.take(r.onLeave(c.state, lead, {}, ctx));
    const gone = { ...c.state };
    delete gone.statusId;
    c.state = gone;
  }

  const touch = touchOf(event, ctx);
  if (touch !== undefined) c.state = { ...c.state, lastTouchAt: Math.max(c.state.lastTouchAt ?? 0, touch) };
  for (const r of STAGE_RULES) if (r.onEvent) c.take(r.onEvent(c.state, lead, event, ctx));

  if (JSON.stringify(c.state) !== original) {
    const last = c.plans.at(-1);
    if (!last || JSON.stringify(last.state?.stage) !== JSON.stringify(c.state)) {
      c.plans.push({
        id: `stage:${after.leadId}:${event.dedupeKey}`,
        rule: 'stage',
        leadId: after.leadId,
        reason: 'stage rules state',
        state: { stage: c.state },
        effects: [],
      });
    }
  }
  return { state: c.state, plans: c.plans };
}

/** A rule's timer is due; `fresh` is the lead re-read from amoCRM. Every plan settles the timer (cancel or reschedule). */
export function stageRulesOnDue(
  timer: DueTimerInput & { leadId: number },
  state: StageState,
  fresh: DueFresh,
  input: RuleContext,
): StageResult {
  const ctx = stageContext(input);
  const cancelOnly: Plan = {
    id: `${timer.rule}:${timer.leadId}:${timer.key}:off`,
    rule: timer.rule,
    leadId: timer.leadId,
    reason: 'stage rules are off',
    effects: [{ kind: 'cancel_timer', rule: timer.rule, leadId: timer.leadId, key: timer.key }],
  };
  if (!ctx) return { state, plans: [cancelOnly] };
  const rule = STAGE_RULES.find((r) => r.rule === timer.rule);
  if (!rule?.onDue) return { state, plans: [{ ...cancelOnly, reason: `no due handler for ${timer.rule}` }] };
  const c = new Collector(timer.leadId, state);
  c.take(rule.onDue(state, timer, fresh, ctx));
  if (c.plans.length === 0) c.plans.push({ ...cancelOnly, reason: 'nothing to do' });
  return { state: c.state, plans: c.plans };
}

/**
 * The sweep met an open lead. If the worker's state does not know it sits in this stage (the rule was switched on
 * after it entered, or a webhook was lost), it joins at `enteredAt` (its real entry, from amoCRM's events; the
 * lead's `updated_at` when no event says). Then R10 checks its last update.
 */
export function stageRulesOnSweep(
  state: StageState,
  lead: StageLead,
  enteredAt: number | undefined,
  input: RuleContext,
): StageResult {
  const ctx = stageContext(input);
  if (!ctx) return { state, plans: [] };
  const c = new Collector(lead.leadId, state);
  if (lead.statusId !== undefined && state.statusId !== lead.statusId && ruledStages(ctx).has(lead.statusId)) {
    const at = enteredAt ?? lead.updatedAt ?? ctx.now;
    const before = state.lastTouchAt;
    enter(c, lead, { statusId: lead.statusId, pipelineId: lead.pipelineId }, at, undefined, false, ctx);
    // Joining is not a person's touch: keep what was known, else the last person's touch amoCRM shows, else the
    // lead's creation (amoCRM's updated_at moves with the robot's own writes, so it is no touch).
    const joined = { ...c.state };
    const known = before ?? lead.lastPersonTouchAt ?? lead.createdAt;
    if (known !== undefined) joined.lastTouchAt = known;
    else delete joined.lastTouchAt;
    c.state = joined;
    for (const p of c.plans) p.id = `${p.id}:join`;
    const last = c.plans.at(-1);
    if (last) last.state = { stage: c.state };
    else
      c.plans.push({
        id: `stage:${lead.leadId}:join:${lead.statusId}:${at}`,
        rule: 'stage',
        leadId: lead.leadId,
        reason: `joined stage ${lead.statusId} entered ${new Date(at).toISOString()}`,
        state: { stage: c.state },
        effects: [],
      });
  }
  const beforeR10 = c.state.lastTouchAt;
  for (const r of STAGE_RULES) if (r.onSweep) c.take(r.onSweep(c.state, lead, ctx));
  if (
    c.plans.length === 0 &&
    beforeR10 === undefined &&
    c.state.lastTouchAt !== undefined &&
    lead.lastPersonTouchAt !== undefined
  ) {
    // A person's touch read from amoCRM's events is kept, so the next sweep need not read them again.
    c.plans.push({
      id: `stage:${lead.leadId}:touch:${c.state.lastTouchAt}`,
      rule: 'R10',
      leadId: lead.leadId,
      reason: `last touch by a person at ${new Date(c.state.lastTouchAt).toISOString()} (amoCRM events)`,
      state: { stage: c.state },
      effects: [],
    });
  }
  return { state: c.state, plans: c.plans };
}

/** Stages some stage rule watches: only there does a lead the worker never saw enter need to join. */
function ruledStages(ctx: StageContext): Set<number> {
  return new Set(STAGE_RULE_LIST.flatMap((d) => d.watchedStages(ctx.stage)));
}

/** Stages whose rules need the real entry time when a lead joins (their clocks run from the entry). */
export function stagesNeedingEntryTime(input: RuleContext): number[] {
  const s = input.rules.stageRules;
  if (!s) return [];
  return [...new Set(STAGE_RULE_LIST.filter((d) => d.clockFromEntry).flatMap((d) => d.watchedStages(s)))];
}
