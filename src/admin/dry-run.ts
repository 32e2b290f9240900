/**
 * Dry run: what a rules draft would have done over the last days, next to what the running rules would have done.
 * Pure: the kept webhook events are replayed in time order through the same pure rules (pickup, distribution) on a
 * fake clock, with lead state, turns, untaken loads and timers kept in memory. Nothing is written anywhere.
 *
 * People's actions are replayed as they happened (calls, notes, completed tasks, stage moves). The robot's own past
 * writes (responsible changes by robot users) are left out: the replay makes its own assignments instead, so the two
 * configs are compared on the same input, each from an empty state at the start of the window.
 */
import { applyEvent, emptyLeadState, leadIdOf, type LeadState } from '../rules/lead-state.js';
import { leastLoaded, smoothWeightedRoundRobin } from '../rules/distribution/distribution.js';
import {
  activityFromEventType,
  decideAfterPick,
  pickupOnDeadline,
  pickupOnEvent,
  type PickupResult,
} from '../rules/pickup/pickup.js';
import type { WebhookEvent } from '../rules/events.js';
import type {
  CompiledRules,
  DistributionExplanation,
  LeadActivity,
  LeadSnapshot,
  PickupState,
  RuleContext,
} from '../rules/types.js';
import { emptyPickupState } from '../rules/types.js';

export interface ReplayCounts {
  /** Leads given to this manager (assignments and reassignments to them; fallbacks to the РОП). */
  assigned: number;
  /** Leads taken away from this manager after a missed pickup. */
  reassignedAway: number;
  tasksCreated: number;
  violations: number;
}

export interface ReplayOutcome {
  byUser: Map<number, ReplayCounts>;
  events: number;
  leads: number;
}

export interface ManagerDifference {
  userId: number;
  name: string;
  current: ReplayCounts;
  draft: ReplayCounts;
  /** What the record says really happened in the window (assignments and violations). */
  recorded?: { assigned: number; violations: number };
}

export interface DryRunReport {
  from: string;
  to: string;
  events: number;
  leads: number;
  managers: ManagerDifference[];
  totals: { current: ReplayCounts; draft: ReplayCounts };
}

const zero = (): ReplayCounts => ({ assigned: 0, reassignedAway: 0, tasksCreated: 0, violations: 0 });

interface Timer {
  leadId: number;
  clock: number;
  dueAt: number;
}

/**
 * The replay's clock reads when the service received an event, as the live service did: the deadlines it computed
 * and the activity it saw were all on that clock.
 */
export function eventTime(e: WebhookEvent): number {
  return Date.parse(e.receivedAt);
}

/** A person's action on a lead that can show the lead was taken (R1 takenBy), as the deadline check reads it. */
export function activityOf(e: WebhookEvent): { leadId: number; activity: LeadActivity } | undefined {
  const at = Math.floor(eventTime(e) / 1000);
  if (e.kind === 'note' && e.entityType === 'lead' && e.createdUserId !== undefined) {
    const type =
      e.noteType === 11 ? 'outgoing_call' : e.noteType === 10 ? 'incoming_call' : e.noteType === 4 ? 'note' : undefined;
    return type ? { leadId: e.entityId, activity: { type, byUserId: e.createdUserId, at } } : undefined;
  }
  if (e.kind === 'task' && e.entityType === 'lead' && e.entityId !== undefined && e.isCompleted === true) {
    const by = e.modifiedUserId ?? e.responsibleUserId;
    return by !== undefined
      ? { leadId: e.entityId, activity: { type: 'task_completed', byUserId: by, at } }
      : undefined;
  }
  if (e.kind === 'lead' && e.action === 'status' && e.modifiedUserId !== undefined) {
    const type = activityFromEventType('lead_status_changed');
    return type ? { leadId: e.leadId, activity: { type, byUserId: e.modifiedUserId, at } } : undefined;
  }
  return undefined;
}

/** Replays events (any order; sorted here) through the pickup and distribution rules of `rules`, from `from` to `to`. */
export function replay(
  events: WebhookEvent[],
  rules: CompiledRules,
  window: { from: number; to: number },
): ReplayOutcome {
  const byUser = new Map<number, ReplayCounts>();
  const count = (userId: number | undefined, field: keyof ReplayCounts): void => {
    if (userId === undefined) return;
    const c = byUser.get(userId) ?? zero();
    c[field] += 1;
    byUser.set(userId, c);
  };
  const leads = new Map<number, LeadState>();
  const pickups = new Map<number, PickupState>();
  const activity = new Map<number, LeadActivity[]>();
  const swrr = new Map<string, Record<string, number>>();
  const untaken = new Map<number, number>(); // leadId → manager holding it untaken
  let timers: Timer[] = [];

  const loads = (): Map<number, number> => {
    const out = new Map<number, number>();
    for (const userId of untaken.values()) out.set(userId, (out.get(userId) ?? 0) + 1);
    return out;
  };
  const ctxAt = (now: number): RuleContext => ({ rules, now, loads: loads() });
  const snapshotOf = (leadId: number): LeadSnapshot => {
    const s = leads.get(leadId);
    return {
      leadId,
      tags: s?.tags ?? [],
      ...(s?.pipelineId !== undefined ? { pipelineId: s.pipelineId } : {}),
      ...(s?.statusId !== undefined ? { statusId: s.statusId } : {}),
      ...(s?.responsibleUserId !== undefined ? { responsibleUserId: s.responsibleUserId } : {}),
    };
  };

  const apply = (result: PickupResult, lead: LeadSnapshot, ctx: RuleContext): PickupState => {
    let pickup = result.pickup;
    for (const d of result.decisions) {
      switch (d.kind) {
        case 'assign': {
          const pool = d.request.department;
          const current = swrr.get(pool) ?? {};
          const under = d.request.eligible.filter((c) => (ctx.loads.get(c.userId) ?? 0) < c.cap);
          let winner: number | undefined;
          let scores: Record<string, number> = {};
          if (d.request.strategy === 'least_loaded') {
            winner = leastLoaded(ctx.loads, under);
            scores = Object.fromEntries(under.map((c) => [String(c.userId), ctx.loads.get(c.userId) ?? 0]));
          } else {
            const picked = smoothWeightedRoundRobin(current, under);
            winner = picked.winner;
            scores = picked.next;
            swrr.set(pool, picked.next);
          }
          const explanation: DistributionExplanation = {
            department: pool,
            strategy: d.request.strategy,
            candidates: d.request.eligible,
            skipped: d.request.skipped,
            scores,
            ...(winner !== undefined ? { winner } : {}),
          };
          if (winner !== undefined) untaken.set(d.request.leadId, winner);
          pickup = apply(decideAfterPick(pickup, lead, d.request, explanation, ctx), lead, ctx);
          break;
        }
        case 'reassign': {
          const state = leads.get(d.leadId) ?? emptyLeadState(d.leadId);
          leads.set(d.leadId, { ...state, responsibleUserId: d.toUserId });
          lead = { ...lead, responsibleUserId: d.toUserId };
          if (d.fromUserId !== undefined && d.fromUserId !== d.toUserId && pickup.missedUserIds.includes(d.fromUserId))
            count(d.fromUserId, 'reassignedAway');
          break;
        }
        case 'create_task':
          count(d.userId, 'tasksCreated');
          break;
        case 'record_violation':
          count(d.userId, 'violations');
          break;
        case 'record':
          if (d.record === 'assignment' || d.record === 'reassignment' || d.record === 'fallback')
            count(d.userId, 'assigned');
          if (d.record === 'fallback' && d.userId !== undefined) untaken.delete(d.leadId);
          break;
        case 'schedule_timer':
          timers = timers.filter((t) => t.leadId !== d.leadId);
          timers.push({ leadId: d.leadId, clock: d.clock, dueAt: d.dueAt });
          break;
        case 'cancel_timer':
          timers = timers.filter((t) => !(t.leadId === d.leadId && t.clock === d.clock));
          break;
        case 'release_load':
          untaken.delete(d.leadId);
          break;
        default:
          break; // notes and messages change nothing the replay counts
      }
    }
    pickups.set(pickup.leadId, pickup);
    return pickup;
  };

  const runTimersUntil = (until: number): void => {
    for (;;) {
      const due = timers.filter((t) => t.dueAt <= until).sort((a, b) => a.dueAt - b.dueAt)[0];
      if (!due) return;
      timers = timers.filter((t) => t !== due);
      const ctx = ctxAt(due.dueAt);
      const pickup = pickups.get(due.leadId) ?? emptyPickupState(due.leadId);
      const seen = (activity.get(due.leadId) ?? []).filter((a) => a.at * 1000 <= due.dueAt);
      const fresh = { lead: snapshotOf(due.leadId), activity: seen };
      const result = pickupOnDeadline(pickup, due.clock, fresh, ctx);
      if (pickup.assignedUserId !== undefined && result.pickup.phase === 'taken') untaken.delete(due.leadId);
      apply(result, fresh.lead, ctx);
    }
  };

  const ordered = events
    .map((e, i) => ({ e, t: eventTime(e), i }))
    .filter(({ t }) => t >= window.from && t <= window.to)
    .sort((a, b) => a.t - b.t || a.i - b.i);
  for (const { e, t } of ordered) {
    runTimersUntil(t);
    const leadId = leadIdOf(e);
    if (leadId === undefined) continue;
    const seen = activityOf(e);
    if (seen) activity.set(seen.leadId, [...(activity.get(seen.leadId) ?? []), seen.activity]);
    // The robot's own past writes are what is being re-decided: leave them out.
    if (
      e.kind === 'lead' &&
      e.action === 'responsible' &&
      e.modifiedUserId !== undefined &&
      rules.pickup.robotUserIds.has(e.modifiedUserId)
    )
      continue;
    const before = leads.get(leadId);
    const after = applyEvent(before ?? emptyLeadState(leadId), e, new Date(t).toISOString());
    leads.set(leadId, after);
    const ctx = ctxAt(t);
    const pickup = pickups.get(leadId) ?? emptyPickupState(leadId);
    const result = pickupOnEvent(pickup, before, after, e, ctx);
    if (pickup.phase === 'running' && result.pickup.phase === 'taken') untaken.delete(leadId);
    apply(result, snapshotOf(leadId), ctx);
  }
  runTimersUntil(window.to);
  return { byUser, events: ordered.length, leads: leads.size };
}

/** The dry-run table: per manager, the running rules' replay beside the draft's, and the record's figures. */
export function compareReplays(input: {
  events: WebhookEvent[];
  current: CompiledRules;
  draft: CompiledRules;
  from: number;
  to: number;
  recorded?: Map<number, { assigned: number; violations: number }>;
}): DryRunReport {
  const window = { from: input.from, to: input.to };
  const current = replay(input.events, input.current, window);
  const draft = replay(input.events, input.draft, window);
  const ids = new Set<number>([...current.byUser.keys(), ...draft.byUser.keys(), ...(input.recorded?.keys() ?? [])]);
  const name = (id: number): string => input.draft.userNames.get(id) ?? input.current.userNames.get(id) ?? `#${id}`;
  const managers = [...ids]
    .map((userId) => ({
      userId,
      name: name(userId),
      current: current.byUser.get(userId) ?? zero(),
      draft: draft.byUser.get(userId) ?? zero(),
      ...(input.recorded ? { recorded: input.recorded.get(userId) ?? { assigned: 0, violations: 0 } } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name, 'ru'));
  const sum = (field: 'current' | 'draft'): ReplayCounts =>
    managers.reduce(
      (acc, m) => ({
        assigned: acc.assigned + m[field].assigned,
        reassignedAway: acc.reassignedAway + m[field].reassignedAway,
        tasksCreated: acc.tasksCreated + m[field].tasksCreated,
        violations: acc.violations + m[field].violations,
      }),
      zero(),
    );
  return {
    from: new Date(input.from).toISOString(),
    to: new Date(input.to).toISOString(),
    events: current.events,
    leads: current.leads,
    managers,
    totals: { current: sum('current'), draft: sum('draft') },
  };
}
