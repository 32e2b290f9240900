/**
 * R1/R2 in the shell: where lead state, the pure pickup rule and the effect executor meet.
 * - a webhook event → `onLeadEvent` returns the rule's plan; the webhook handler commits it with the lead's state;
 * - a deadline is an R1 timer (`R1|<lead>|deadline`) in the executor's timer set; due deadlines come in batches,
 *   are re-read from amoCRM in one leads request and one events request, and are decided lead by lead under each
 *   lead's lock (check, then act); one lead's failure never holds up the others;
 * - the safety sweep lists leads in the pickup stage (paged, bulk priority), starts a clock where none is live and
 *   restores a deadline timer the pickup state says must exist.
 * Decisions become a `Plan`: the next pickup state plus effects, carried out by the shared executor.
 */
import { createHash } from 'node:crypto';
import type { AmoClient } from '../../amocrm/api/client.js';
import type { Priority } from '../../amocrm/api/rate-limiter.js';
import type { ApiEvent, ApiLead } from '../../amocrm/api/schemas.js';
import type { Effects } from '../../effects/index.js';
import type { Committed } from '../../effects/types.js';
import type { DueTimer, Effect, Plan } from '../../rules/plan.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { LeadState } from '../../rules/lead-state.js';
import type { StepArgs } from '../../lib/steps.js';
import type { LeadEventInput } from './webhook-event.js';
import {
  activityFromEventType,
  decideAfterPick,
  headReassignRefusal,
  pickupOnDeadline,
  pickupOnEvent,
  pickupOnSweep,
  pickupReassignByHead,
  pickupViolationId,
  type HeadReassignRefusal,
  type PickupResult,
} from '../../rules/pickup/pickup.js';
import type {
  CompiledRules,
  Decision,
  LeadActivity,
  LeadSnapshot,
  PickupState,
  RuleContext,
} from '../../rules/types.js';
import type { DistributionStore } from '../../store/distribution-store.js';
import { explanationOf } from '../../store/distribution-store.js';
import { throwIfWritesInFlight, WritesInFlightError } from '../../effects/executor.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import { PICKUP_FIELD, type PickupStore } from '../../store/pickup-store.js';
import { R2 } from '../../rules/distribution/definition.js';
import { R1 } from '../../rules/pickup/definition.js';

/** amoCRM event types that can show a lead was taken (GET /api/v4/events). */
export const PICKUP_EVENT_TYPES = [
  'outgoing_call',
  'incoming_call',
  'common_note_added',
  'task_completed',
  'lead_status_changed',
  'entity_responsible_changed',
];
export const PICKUP_RULE = R1.id;
export const DEADLINE_KEY = 'deadline';

export interface PickupEngineDeps {
  rules: () => CompiledRules;
  amo: AmoClient;
  leads: LeadStore;
  pickups: PickupStore;
  distribution: DistributionStore;
  effects: Effects;
  clock: Clock;
  logger: Logger;
  /** Extra context for the rules (loads are read here; pauses, weight factors by other parts). */
  context?: (ctx: RuleContext) => Promise<RuleContext>;
}

export { WritesInFlightError };

/** What the РОП's «Переназначить» did: the lead's new manager, or why nothing changed. */
export type HeadReassignOutcome =
  { changed: true; toUserId?: number } | { changed: false; why: HeadReassignRefusal | 'not_found' };

/** The lead's main contact (read with `?with=contacts`); the first contact when none is marked main. */
export function mainContactIdOf(lead: ApiLead): number | undefined {
  const contacts = lead._embedded?.contacts ?? [];
  return (contacts.find((c) => c.is_main === true) ?? contacts[0])?.id;
}

/** Custom field id → its first value as text (R2: the listing owner field holds a name or a user id). */
export function fieldsFromApi(lead: ApiLead): Map<number, string> {
  const out = new Map<number, string>();
  for (const f of lead.custom_fields_values ?? []) {
    const v = f.values[0]?.value;
    if (typeof v === 'string' || typeof v === 'number') out.set(f.field_id, String(v));
  }
  return out;
}

/**
 * What the rules see of a lead read from amoCRM. `contactOwners` (contact id → responsible user) comes from one
 * contacts request per batch; with it the main contact's owner becomes `contactOwnerUserId` (R2 returning client).
 */
export function leadSnapshotFromApi(lead: ApiLead, contactOwners?: ReadonlyMap<number, number>): LeadSnapshot {
  const contactId = mainContactIdOf(lead);
  const owner = contactId !== undefined ? contactOwners?.get(contactId) : undefined;
  const fields = fieldsFromApi(lead);
  return {
    leadId: lead.id,
    pipelineId: lead.pipeline_id,
    statusId: lead.status_id,
    responsibleUserId: lead.responsible_user_id,
    tags: (lead._embedded?.tags ?? []).map((t) => t.name),
    ...(owner !== undefined ? { contactOwnerUserId: owner } : {}),
    ...(fields.size > 0 ? { fields } : {}),
  };
}

/** `value_after: [{ responsible_user: { id } }]` of an `entity_responsible_changed` event. */
function responsibleAfter(e: ApiEvent): number | undefined {
  for (const v of e.value_after ?? []) {
    const r = v['responsible_user'];
    if (typeof r === 'object' && r !== null && typeof (r as { id?: unknown }).id === 'number')
      return (r as { id: number }).id;
  }
  return undefined;
}

export function activityFromApi(events: ApiEvent[]): Map<number, LeadActivity[]> {
  const out = new Map<number, LeadActivity[]>();
  for (const e of events) {
    const type = activityFromEventType(e.type);
    if (!type) continue;
    const to = type === 'responsible_changed' ? responsibleAfter(e) : undefined;
    out.set(e.entity_id, [
      ...(out.get(e.entity_id) ?? []),
      { type, byUserId: e.created_by, at: e.created_at, ...(to !== undefined ? { toUserId: to } : {}) },
    ]);
  }
  return out;
}

/** A first assignment the webhook event asks for (not a re-pick after a miss, which rotation decides). */
const isNewAssignment = (d: Decision): boolean =>
  d.kind === 'assign' && (d.request.cause === 'new_lead' || d.request.cause === 'non_manager_responsible');

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);

const snapshotOf = (state: LeadState): LeadSnapshot => ({
  leadId: state.leadId,
  tags: state.tags,
  ...(state.pipelineId !== undefined ? { pipelineId: state.pipelineId } : {}),
  ...(state.statusId !== undefined ? { statusId: state.statusId } : {}),
  ...(state.responsibleUserId !== undefined ? { responsibleUserId: state.responsibleUserId } : {}),
});

/** Maps the pickup rule's decisions to executor effects (an `assign` is resolved before, by the atomic pick). */
export function effectsOf(decisions: Decision[], clockBefore: number): Effect[] {
  const out: Effect[] = [];
  let clock = clockBefore;
  for (const d of decisions) {
    switch (d.kind) {
      case 'reassign':
        out.push({
          kind: 'set_responsible',
          leadId: d.leadId,
          toUserId: d.toUserId,
          ...(d.fromUserId !== undefined ? { fromUserId: d.fromUserId } : {}),
        });
        break;
      case 'add_note':
        out.push({ kind: 'add_note', leadId: d.leadId, text: d.text });
        break;
      case 'create_task':
        out.push({
          kind: 'create_task',
          leadId: d.leadId,
          ref: `r1:${hash(`${d.userId}:${d.dueAt}:${d.text}`)}`,
          userId: d.userId,
          text: d.text,
          dueAt: d.dueAt,
        });
        break;
      case 'alert':
        out.push({
          kind: 'message',
          leadId: d.leadId,
          dedupeId: d.dedupeKey,
          message: {
            at: '',
            audience: d.audience,
            template: d.template,
            params: d.params,
            leadId: d.leadId,
            reason: d.reason,
          },
        });
        break;
      case 'record_violation':
        out.push({
          kind: 'record',
          leadId: d.leadId,
          dedupeId: `violation:${d.type}:${d.leadId}:${clock}:${d.userId}`,
          record: {
            kind: 'violation',
            type: d.type,
            at: new Date(d.at).toISOString(),
            leadId: d.leadId,
            userId: d.userId,
            rule: R1.id,
            seed: R1.seed,
            violationId: pickupViolationId(d.leadId, clock),
            ...(d.department !== undefined ? { department: d.department } : {}),
            reason: d.reason,
            ...(d.evidence !== undefined ? { evidence: d.evidence } : {}),
          },
        });
        break;
      case 'record':
        out.push({
          kind: 'record',
          leadId: d.leadId,
          dedupeId: `record:${d.record}:${d.leadId}:${clock}:${d.userId ?? ''}`,
          record: {
            kind: d.record,
            at: new Date(d.at).toISOString(),
            leadId: d.leadId,
            rule: d.record === 'assignment' || d.record === 'reassignment' || d.record === 'fallback' ? R2.id : R1.id,
            reason: d.reason,
            ...(d.userId !== undefined ? { userId: d.userId } : {}),
            ...(d.previousUserId !== undefined ? { previousUserId: d.previousUserId } : {}),
            ...(d.explanation !== undefined ? { explanation: d.explanation } : {}),
            ...(d.takenAfterMs !== undefined ? { takenAfterMs: d.takenAfterMs } : {}),
          },
        });
        break;
      case 'schedule_timer':
        clock = d.clock;
        out.push({ kind: 'schedule_timer', rule: PICKUP_RULE, leadId: d.leadId, key: DEADLINE_KEY, dueAt: d.dueAt });
        break;
      case 'cancel_timer':
        out.push({ kind: 'cancel_timer', rule: PICKUP_RULE, leadId: d.leadId, key: DEADLINE_KEY });
        break;
      case 'assign':
      case 'release_load':
        break;
    }
  }
  return out;
}

/** What the steps below share: their dependencies, stores and keys, built once per instance. */
function createPickupEngineEnv(deps: PickupEngineDeps) {
  const { pickups, distribution } = deps;
  const log = deps.logger.child({ rule: 'pickup' });

  const returningClient = (): boolean => deps.rules().routing?.returningClient === true;
  const leadsOptions = (): { with?: Array<'contacts'> } => (returningClient() ? { with: ['contacts'] } : {});
  return { deps, pickups, distribution, log, returningClient, leadsOptions };
}

type PickupEngineEnv = ReturnType<typeof createPickupEngineEnv>;

export function createPickupEngine(deps: PickupEngineDeps) {
  const env = createPickupEngineEnv(deps);
  const { pickups, distribution } = env;
  return {
    pickups,
    distribution,
    onLeadEvent: (...args: StepArgs<typeof onLeadEvent>) => onLeadEvent(env, ...args),
    onDue: (...args: StepArgs<typeof onDue>) => onDue(env, ...args),
    checkTakenNow: (...args: StepArgs<typeof checkTakenNow>) => checkTakenNow(env, ...args),
    reassignByHead: (...args: StepArgs<typeof reassignByHead>) => reassignByHead(env, ...args),
    sweep: (...args: StepArgs<typeof sweep>) => sweep(env, ...args),
  };
}

async function context(env: PickupEngineEnv): Promise<RuleContext> {
  const { deps, distribution } = env;
  const rules = deps.rules();
  const ids = rules.departments.flatMap((d) => d.managers.map((m) => m.userId));
  const base: RuleContext = { rules, now: deps.clock.now().getTime(), loads: await distribution.loads(ids) };
  return deps.context ? deps.context(base) : base;
}

/** The owners of the leads' main contacts, in one contacts request for the whole batch (none when routing is off). */
async function contactOwners(env: PickupEngineEnv, leads: ApiLead[], priority: Priority): Promise<Map<number, number>> {
  const { deps, returningClient } = env;
  if (!returningClient()) return new Map();
  const ids = [...new Set(leads.map(mainContactIdOf).filter((id): id is number => id !== undefined))];
  if (ids.length === 0) return new Map();
  const contacts = await deps.amo.getContactsByIds(ids, priority);
  return new Map(contacts.map((c) => [c.id, c.responsible_user_id]));
}

/**
 * Resolves the shell steps inside a result (the atomic pick, releasing loads) and returns the final pickup state
 * with every decision. The pick is idempotent per (lead, clock), so a retry gets the same manager.
 */
async function resolve(
  env: PickupEngineEnv,
  result: PickupResult,
  lead: LeadSnapshot,
  ctx: RuleContext,
): Promise<PickupResult> {
  const { distribution, log } = env;
  let pickup = result.pickup;
  const decisions: Decision[] = [];
  for (const d of result.decisions) {
    if (d.kind === 'assign') {
      const input = {
        pool: d.request.department,
        leadId: d.request.leadId,
        clock: d.request.clock,
        candidates: d.request.eligible,
        strategy: d.request.strategy,
      };
      const picked = await distribution.pick(input);
      const explanation = explanationOf(
        { ...input, department: d.request.department, skipped: d.request.skipped },
        picked,
      );
      log.info(
        {
          leadId: d.request.leadId,
          department: d.request.department,
          cause: d.request.cause,
          eligible: d.request.eligible.map((c) => c.userId),
          skipped: d.request.skipped,
          winner: picked.winner,
        },
        'pickup: manager picked',
      );
      const next = await resolve(env, decideAfterPick(pickup, lead, d.request, explanation, ctx), lead, ctx);
      pickup = next.pickup;
      decisions.push(...next.decisions);
    } else {
      // Releasing a load is idempotent (a set removal): done now, so the pick above sees the right loads.
      if (d.kind === 'release_load') await distribution.release(d.leadId);
      decisions.push(d);
    }
  }
  return { pickup, decisions };
}

async function planOf(
  env: PickupEngineEnv,
  id: string,
  result: PickupResult,
  lead: LeadSnapshot,
  ctx: RuleContext,
  before: PickupState,
): Promise<Plan | undefined> {
  if (result.decisions.length === 0 && JSON.stringify(result.pickup) === JSON.stringify(before)) return undefined;
  const resolved = await resolve(env, result, lead, ctx);
  const effects = effectsOf(resolved.decisions, before.clock).map((e) =>
    e.kind === 'message' ? { ...e, message: { ...e.message, at: new Date(ctx.now).toISOString() } } : e,
  );
  const reasons = resolved.decisions.map((d) => d.reason);
  // A refused write puts the pickup back as it was: its deadline then comes again, instead of the robot reading
  // amoCRM's unchanged responsible as a person's reassignment.
  return {
    id,
    rule: PICKUP_RULE,
    leadId: lead.leadId,
    reason: reasons[0] ?? 'pickup state changed',
    state: { [PICKUP_FIELD]: resolved.pickup },
    revert: { [PICKUP_FIELD]: before },
    effects,
  };
}

/** The rule's plans for a webhook event; the caller holds the lead's lock and commits them with the lead's state. */
async function onLeadEvent(env: PickupEngineEnv, { before, after, event }: LeadEventInput): Promise<Plan[]> {
  const { deps, pickups, returningClient } = env;
  const ctx = await context(env);
  const pickup = await pickups.get(after.leadId);
  let lead = snapshotOf(after);
  let result = pickupOnEvent(pickup, before, after, event, ctx);
  // The event does not say who owns the client: a lead entering the stage to be assigned is read with its
  // contacts first, so routing can give a returning client back to their manager (R2).
  if (returningClient() && result.decisions.some(isNewAssignment)) {
    const [api] = await deps.amo.getLeadsByIds([after.leadId], 'normal', { with: ['contacts'] });
    if (api) {
      const fresh = leadSnapshotFromApi(api, await contactOwners(env, [api], 'normal'));
      const known = {
        ...(fresh.contactOwnerUserId !== undefined ? { contactOwnerUserId: fresh.contactOwnerUserId } : {}),
        ...(fresh.fields ? { fields: fresh.fields } : {}),
      };
      lead = { ...lead, ...known };
      result = pickupOnEvent(pickup, before, after, event, ctx, known);
    }
  }
  const plan = await planOf(
    env,
    `R1:${after.leadId}:evt:${hash(event.dedupeKey)}:c${pickup.clock}`,
    result,
    lead,
    ctx,
    pickup,
  );
  return plan ? [plan] : [];
}

/**
 * Due deadlines: one leads request and one events request for the whole batch, then each lead decided under
 * its own lock and committed there. A lead another job holds, or whose decision failed, is retried alone.
 */
async function onDue(env: PickupEngineEnv, due: DueTimer[]) {
  const { deps, pickups, log, leadsOptions } = env;
  const ids = [...new Set(due.map((d) => d.leadId))];
  const states = await pickups.many(ids);
  const live = ids.filter((id) => {
    const p = states.get(id);
    return p !== undefined && (p.phase === 'running' || p.phase === 'waiting_shift');
  });
  const committed: Committed[] = [];
  const failed: Array<{ timer: DueTimer; error: unknown }> = [];
  if (live.length === 0) return { committed, failed };
  const now = deps.clock.now().getTime();
  const since = Math.min(...live.map((id) => states.get(id)?.assignedAt ?? now));
  // A failure here (amoCRM down) fails the batch: every timer stays and is retried soon.
  const [leads, events] = await Promise.all([
    deps.amo.getLeadsByIds(live, 'sla', leadsOptions()),
    deps.amo.listEvents(
      { entityType: 'lead', entityIds: live, types: PICKUP_EVENT_TYPES, createdFrom: Math.floor(since / 1000) - 1 },
      'sla',
    ),
  ]);
  const owners = await contactOwners(env, leads, 'sla');
  const byId = new Map(leads.map((l) => [l.id, l]));
  const activity = activityFromApi(events);
  for (const timer of due) {
    if (!live.includes(timer.leadId)) continue;
    try {
      await deps.leads.withLock(timer.leadId, async () => {
        const ctx = await context(env);
        const pickup = await pickups.get(timer.leadId);
        if (pickup.phase !== 'running' && pickup.phase !== 'waiting_shift') return;
        if (pickup.deadlineAt !== undefined && pickup.deadlineAt > ctx.now) return; // moved meanwhile; its timer says when
        // A write of the lead that started after the runner's check: amoCRM may not show it yet. Check again shortly.
        await throwIfWritesInFlight(deps.effects.executor.store, timer.leadId);
        const api = byId.get(timer.leadId);
        const fresh = {
          lead: api ? leadSnapshotFromApi(api, owners) : null,
          activity: activity.get(timer.leadId) ?? [],
        };
        const result = pickupOnDeadline(pickup, pickup.clock, fresh, ctx);
        // A clock moved on for a late landing decides again at its new deadline, under its own plan id.
        const late =
          result.pickup.clock === pickup.clock &&
          result.pickup.phase === 'running' &&
          result.pickup.deadlineAt !== pickup.deadlineAt;
        const plan = await planOf(
          env,
          `R1:${timer.leadId}:deadline:c${pickup.clock}${late ? ':late' : ''}`,
          result,
          fresh.lead ?? { leadId: timer.leadId, tags: [] },
          ctx,
          pickup,
        );
        if (plan) committed.push(...(await deps.effects.executor.commit([plan])));
      });
    } catch (err) {
      if (!(err instanceof LeadLockedError) && !(err instanceof WritesInFlightError))
        log.error(
          { leadId: timer.leadId, err: { message: (err as Error).message } },
          'pickup deadline of one lead failed; the others proceed',
        );
      failed.push({ timer, error: err });
    }
  }
  return { committed, failed };
}

/**
 * A manager says they took the lead (the Telegram button): the lead is checked against amoCRM now, by the same
 * rule as at its deadline, and the clock stops only if amoCRM shows the evidence R1 requires. Never reassigns
 * early: without the evidence nothing changes and the clock runs on. Returns whether the lead counts as taken.
 */
async function checkTakenNow(env: PickupEngineEnv, leadId: number, userId: number): Promise<boolean> {
  const { deps, pickups, leadsOptions } = env;
  const pickup = await pickups.get(leadId);
  if (pickup.phase !== 'running' || pickup.assignedUserId !== userId) return pickup.phase === 'taken';
  const since = pickup.assignedAt ?? deps.clock.now().getTime();
  const [leads, events] = await Promise.all([
    deps.amo.getLeadsByIds([leadId], 'sla', leadsOptions()),
    deps.amo.listEvents(
      {
        entityType: 'lead',
        entityIds: [leadId],
        types: PICKUP_EVENT_TYPES,
        createdFrom: Math.floor(since / 1000) - 1,
      },
      'sla',
    ),
  ]);
  const api = leads[0];
  if (!api) return false;
  const lead = leadSnapshotFromApi(api, await contactOwners(env, [api], 'sla'));
  let committed: Committed[] = [];
  const taken = await deps.leads.withLock(leadId, async () => {
    const ctx = await context(env);
    const current = await pickups.get(leadId);
    if (current.phase !== 'running' || current.clock !== pickup.clock) return current.phase === 'taken';
    const result = pickupOnDeadline(
      current,
      current.clock,
      { lead, activity: activityFromApi(events).get(leadId) ?? [] },
      ctx,
    );
    if (result.pickup.phase !== 'taken') return false;
    const plan = await planOf(env, `R1:${leadId}:button:c${current.clock}`, result, lead, ctx, current);
    if (plan) committed = await deps.effects.executor.commit([plan]);
    return true;
  });
  if (committed.length > 0) await deps.effects.executor.drain(committed);
  return taken;
}

/**
 * The РОП pressed «Переназначить»: the lead is re-read from amoCRM and, under its lock, handed on by the pickup
 * rule (the current manager released and excluded, no miss counted). Says what changed, or why nothing did.
 */
async function reassignByHead(
  env: PickupEngineEnv,
  leadId: number,
  byUserId: number | undefined,
): Promise<HeadReassignOutcome> {
  const { deps, pickups, log } = env;
  const [api] = await deps.amo.getLeadsByIds([leadId], 'sla');
  if (!api) return { changed: false, why: 'not_found' };
  const lead = leadSnapshotFromApi(api);
  let committed: Committed[] = [];
  const outcome = await deps.leads.withLock(leadId, async (): Promise<HeadReassignOutcome> => {
    const ctx = await context(env);
    const pickup = await pickups.get(leadId);
    const why = headReassignRefusal(pickup, lead, ctx, byUserId);
    if (why !== undefined) return { changed: false, why };
    const result = pickupReassignByHead(pickup, lead, ctx, byUserId);
    const plan =
      result.decisions.length > 0
        ? await planOf(env, `R1:${leadId}:head:c${pickup.clock}`, result, lead, ctx, pickup)
        : undefined;
    if (!plan) return { changed: false, why: 'no_clock' };
    committed = await deps.effects.executor.commit([plan]);
    const to = plan.effects.find((e) => e.kind === 'set_responsible');
    return { changed: true, ...(to?.kind === 'set_responsible' ? { toUserId: to.toUserId } : {}) };
  });
  if (committed.length > 0) await deps.effects.executor.drain(committed);
  log.info({ leadId, byUserId, ...outcome }, 'pickup: reassignment requested by the head of sales');
  return outcome;
}

/**
 * Safety sweep: a lead in the pickup stage with no live clock (its webhook never came) gets one, and a live
 * clock whose deadline timer is missing gets it back. The pickup state, not a job, says what must exist.
 */
async function sweep(
  env: PickupEngineEnv,
): Promise<{ found: number; started: number; rescheduled: number; failed: number }> {
  const { deps, pickups, log, leadsOptions } = env;
  const rules = deps.rules();
  const leads = await deps.amo.listLeads(
    {
      'filter[statuses][0][pipeline_id]': rules.pickup.pipelineId,
      'filter[statuses][0][status_id]': rules.pickup.statusId,
      ...leadsOptions(),
    },
    'bulk',
  );
  // Only leads without a live clock can be assigned here: their contacts' owners are read in one batch.
  const states = await pickups.many(leads.map((l) => l.id));
  const owners = await contactOwners(
    env,
    leads.filter((l) => {
      const phase = states.get(l.id)?.phase;
      return phase !== 'running' && phase !== 'waiting_shift';
    }),
    'bulk',
  );
  // A live clock with its deadline timer needs nothing: seen without the lead's lock (all leads' timers read
  // side by side), so a sweep of 100,000 leads costs its pages and two reads a lead, not a lock round a lead.
  const live = (id: number): boolean => ['running', 'waiting_shift'].includes(states.get(id)?.phase ?? '');
  const timed = await Promise.all(
    leads.map((l) =>
      live(l.id) ? deps.effects.timers.get(PICKUP_RULE, l.id, DEADLINE_KEY) : Promise.resolve(undefined),
    ),
  );
  let started = 0;
  let rescheduled = 0;
  let failed = 0;
  const toDrain: Committed[] = [];
  for (const [i, api] of leads.entries()) {
    if (live(api.id) && timed[i] !== undefined) continue;
    try {
      await deps.leads.withLock(api.id, async () => {
        const pickup = await pickups.get(api.id);
        if (pickup.phase === 'running' || pickup.phase === 'waiting_shift') {
          const timer = await deps.effects.timers.get(PICKUP_RULE, api.id, DEADLINE_KEY);
          if (timer === undefined && pickup.deadlineAt !== undefined) {
            rescheduled += 1;
            await deps.effects.timers.schedule([
              { rule: PICKUP_RULE, leadId: api.id, key: DEADLINE_KEY, dueAt: pickup.deadlineAt },
            ]);
            log.warn({ leadId: api.id, clock: pickup.clock }, 'sweep: the clock had no deadline timer; timer restored');
          }
          return;
        }
        const ctx = await context(env);
        const lead = leadSnapshotFromApi(api, owners);
        const result = pickupOnSweep(pickup, lead, ctx);
        if (result.decisions.length === 0) return;
        started += 1;
        log.warn({ leadId: api.id }, 'sweep: lead in the pickup stage had no clock (missed webhook?); starting one');
        const plan = await planOf(env, `R1:${api.id}:sweep:c${pickup.clock}`, result, lead, ctx, pickup);
        if (plan) toDrain.push(...(await deps.effects.executor.commit([plan])));
      });
    } catch (err) {
      if (err instanceof LeadLockedError) continue;
      failed += 1;
      log.error(
        { leadId: api.id, err: { message: (err as Error).message } },
        'sweep: one lead failed; the others proceed',
      );
    }
  }
  if (toDrain.length > 0) await deps.effects.executor.drain(toDrain);
  return { found: leads.length, started, rescheduled, failed };
}

export type PickupEngine = ReturnType<typeof createPickupEngine>;
