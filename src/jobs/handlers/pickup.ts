/**
 * R1/R2 in the shell: where lead state, the pure pickup rule and side effects meet.
 * - a webhook event → `pickupOnEvent` under the lead's lock;
 * - a deadline timer → the lead joins the due set; a per-window check re-reads every due lead from amoCRM in
 *   one leads request and one events request, then runs `pickupOnDeadline` (check, then act);
 * - the safety sweep lists leads sitting in the pickup stage and starts a clock where none is live.
 * Every decision is carried out here and logged with its reason; records and messages are written once per
 * decision even when a job is retried.
 */
import { createHash } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../amocrm/api/client.js';
import type { ApiEvent, ApiLead } from '../../amocrm/api/schemas.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import type { WebhookEvent } from '../../rules/events.js';
import type { LeadState } from '../../rules/lead-state.js';
import { activityFromEventType, decideAfterPick, pickupOnDeadline, pickupOnEvent, pickupOnSweep, type PickupResult } from '../../rules/pickup/pickup.js';
import type { CompiledRules, Decision, LeadActivity, LeadSnapshot, PickupState, RuleContext } from '../../rules/types.js';
import { createDistributionStore, explanationOf } from '../../store/distribution-store.js';
import type { Keys } from '../../store/keys.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import type { Outbox } from '../../store/outbox.js';
import { createPickupStore } from '../../store/pickup-store.js';
import type { RecordStore } from '../../store/record-store.js';
import { JOBS, jobIdFor, type PickupCheckJob, type PickupDeadlineJob } from '../catalog.js';
import type { Queues } from '../queues.js';

/** amoCRM event types that can show a lead was taken (GET /api/v4/events). */
export const PICKUP_EVENT_TYPES = ['outgoing_call', 'incoming_call', 'common_note_added', 'task_completed', 'lead_status_changed', 'entity_responsible_changed'];
const MAX_BATCH = 250;

export interface PickupEngineDeps {
  rules: () => CompiledRules;
  amo: AmoClient;
  redis: Redis;
  keys: Keys;
  leads: LeadStore;
  queues: Queues;
  records: RecordStore;
  outbox: Outbox;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}

export function leadSnapshotFromApi(lead: ApiLead): LeadSnapshot {
  return {
    leadId: lead.id,
    pipelineId: lead.pipeline_id,
    statusId: lead.status_id,
    responsibleUserId: lead.responsible_user_id,
    tags: (lead._embedded?.tags ?? []).map((t) => t.name),
  };
}

export function activityFromApi(events: ApiEvent[]): Map<number, LeadActivity[]> {
  const out = new Map<number, LeadActivity[]>();
  for (const e of events) {
    const type = activityFromEventType(e.type);
    if (!type) continue;
    out.set(e.entity_id, [...(out.get(e.entity_id) ?? []), { type, byUserId: e.created_by, at: e.created_at }]);
  }
  return out;
}

export function createPickupEngine(deps: PickupEngineDeps) {
  const distribution = createDistributionStore(deps.redis, deps.keys);
  const pickups = createPickupStore(deps.redis, deps.keys);
  const log = deps.logger.child({ rule: 'pickup' });

  const context = async (): Promise<RuleContext> => {
    const rules = deps.rules();
    const ids = rules.departments.flatMap((d) => d.managers.map((m) => m.userId));
    return { rules, now: deps.clock.now().getTime(), loads: await distribution.loads(ids) };
  };

  const once = async (id: string): Promise<boolean> =>
    (await deps.redis.set(deps.keys.of('applied', createHash('sha256').update(id).digest('hex').slice(0, 32)), '1', 'EX', 14 * 24 * 3600, 'NX')) === 'OK';

  /** Carries out decisions in order; an `assign` request is completed by the atomic pick and what follows from it. */
  const apply = async (result: PickupResult, lead: LeadSnapshot, ctx: RuleContext): Promise<PickupState> => {
    let pickup = result.pickup;
    for (const d of result.decisions) {
      deps.metrics.decisions.inc({ rule: 'pickup', kind: d.kind });
      const clock = pickup.clock;
      log.info({ leadId: 'leadId' in d ? d.leadId : lead.leadId, decision: d.kind, reason: d.reason, ...detail(d) }, `pickup: ${d.kind}`);
      switch (d.kind) {
        case 'assign': {
          const input = { pool: d.request.department, leadId: d.request.leadId, clock: d.request.clock, candidates: d.request.eligible, strategy: d.request.strategy };
          const picked = await distribution.pick(input);
          const explanation = explanationOf({ ...input, department: d.request.department, skipped: d.request.skipped }, picked);
          pickup = await apply(decideAfterPick(pickup, lead, d.request, explanation, ctx), lead, ctx);
          break;
        }
        case 'reassign':
          await deps.amo.updateLead({ id: d.leadId, responsible_user_id: d.toUserId }, 'sla');
          lead = { ...lead, responsibleUserId: d.toUserId };
          break;
        case 'add_note':
          if (await once(`note:${d.leadId}:${d.text}`)) await deps.amo.addLeadNote({ entity_id: d.leadId, note_type: 'common', params: { text: d.text } });
          break;
        case 'create_task':
          if (await once(`task:${d.leadId}:${d.userId}:${d.dueAt}:${d.text}`)) {
            await deps.amo.createTask({ entity_id: d.leadId, entity_type: 'leads', text: d.text, complete_till: Math.floor(d.dueAt / 1000), responsible_user_id: d.userId });
          }
          break;
        case 'alert':
          await deps.outbox.push(
            { at: new Date(ctx.now).toISOString(), audience: d.audience, template: d.template, params: d.params, leadId: d.leadId, reason: d.reason },
            d.dedupeKey,
          );
          break;
        case 'record_violation':
          await deps.records.append(
            { kind: 'violation', type: d.type, at: new Date(d.at).toISOString(), leadId: d.leadId, userId: d.userId, rule: 'R1', reason: d.reason },
            `violation:${d.type}:${d.leadId}:${clock}:${d.userId}`,
          );
          break;
        case 'record':
          await deps.records.append(
            {
              kind: d.record,
              at: new Date(d.at).toISOString(),
              leadId: d.leadId,
              rule: d.record === 'assignment' || d.record === 'reassignment' || d.record === 'fallback' ? 'R2' : 'R1',
              reason: d.reason,
              ...(d.userId !== undefined ? { userId: d.userId } : {}),
              ...(d.previousUserId !== undefined ? { previousUserId: d.previousUserId } : {}),
              ...(d.explanation !== undefined ? { explanation: d.explanation } : {}),
            },
            `record:${d.record}:${d.leadId}:${clock}:${d.userId ?? ''}`,
          );
          break;
        case 'schedule_timer': {
          const data: PickupDeadlineJob = { leadId: d.leadId, clock: d.clock, dueAt: new Date(d.dueAt).toISOString() };
          await deps.queues.add('pickup-deadline', data, { delay: Math.max(0, d.dueAt - deps.clock.now().getTime()) });
          break;
        }
        case 'cancel_timer': {
          const id = jobIdFor('pickup-deadline', { leadId: d.leadId, clock: d.clock, dueAt: new Date(0).toISOString() });
          // A timer already running cannot be removed; it will find the clock stopped and do nothing.
          await deps.queues.get(JOBS['pickup-deadline'].queue).remove(id).catch(() => 0);
          await pickups.clearDue(d.leadId, d.clock);
          break;
        }
        case 'release_load':
          await distribution.release(d.leadId);
          break;
      }
    }
    await pickups.put(pickup);
    return pickup;
  };

  return {
    distribution,
    pickups,

    /** Called by the webhook-event handler with the lead's lock held. */
    async onLeadEvent({ before, after, event }: { before: LeadState | undefined; after: LeadState; event: WebhookEvent }): Promise<void> {
      const ctx = await context();
      const pickup = await pickups.get(after.leadId);
      const result = pickupOnEvent(pickup, before, after, event, ctx);
      if (result.decisions.length === 0 && JSON.stringify(result.pickup) === JSON.stringify(pickup)) return;
      const snapshot: LeadSnapshot = {
        leadId: after.leadId,
        tags: after.tags,
        ...(after.pipelineId !== undefined ? { pipelineId: after.pipelineId } : {}),
        ...(after.statusId !== undefined ? { statusId: after.statusId } : {}),
        ...(after.responsibleUserId !== undefined ? { responsibleUserId: after.responsibleUserId } : {}),
      };
      await apply(result, snapshot, ctx);
    },

    /** A deadline timer fired: queue the lead for the batched check of its window. */
    async onDeadline(data: PickupDeadlineJob): Promise<void> {
      const now = deps.clock.now().getTime();
      await pickups.markDue(data.leadId, data.clock, now);
      const windowMs = deps.rules().pickup.batchWindowMs;
      const bucket = Math.floor(now / windowMs);
      await deps.queues.add('pickup-check', { bucket }, { delay: Math.max(0, (bucket + 1) * windowMs - now) });
    },

    /** Re-reads every due lead from amoCRM (one leads and one events request per batch) and acts on the still untaken. */
    async onCheck(data: PickupCheckJob, job?: Job): Promise<{ checked: number; deferred: number }> {
      const now = deps.clock.now().getTime();
      const due = await pickups.due(now, MAX_BATCH);
      if (due.length === 0) return { checked: 0, deferred: 0 };
      const states = new Map<number, PickupState>();
      for (const d of due) states.set(d.leadId, await pickups.get(d.leadId));
      const since = Math.min(...[...states.values()].map((p) => p.assignedAt ?? now));
      const ids = due.map((d) => d.leadId);
      const [leads, events] = await Promise.all([
        deps.amo.getLeadsByIds(ids, 'sla'),
        deps.amo.listEvents({ entityType: 'lead', entityIds: ids, types: PICKUP_EVENT_TYPES, createdFrom: Math.floor(since / 1000) - 1 }, 'sla'),
      ]);
      const byId = new Map(leads.map((l) => [l.id, l]));
      const activity = activityFromApi(events);
      let deferred = 0;
      for (const d of due) {
        try {
          await deps.leads.withLock(d.leadId, async () => {
            const ctx = await context();
            const pickup = await pickups.get(d.leadId);
            const api = byId.get(d.leadId);
            const fresh = { lead: api ? leadSnapshotFromApi(api) : null, activity: activity.get(d.leadId) ?? [] };
            const result = pickupOnDeadline(pickup, d.clock, fresh, ctx);
            await apply(result, fresh.lead ?? { leadId: d.leadId, tags: [] }, ctx);
            await pickups.clearDue(d.leadId, d.clock);
          });
        } catch (err) {
          if (!(err instanceof LeadLockedError)) throw err;
          deferred += 1; // another job holds the lead; the next check picks it up
        }
      }
      // Deadlines that arrived while this batch ran, or were deferred, get the next window's check.
      const left = await pickups.due(deps.clock.now().getTime(), 1);
      if (left.length > 0) {
        const windowMs = deps.rules().pickup.batchWindowMs;
        const next = Math.max(data.bucket + 1, Math.floor(deps.clock.now().getTime() / windowMs) + 1);
        await deps.queues.add('pickup-check', { bucket: next }, { delay: windowMs });
      }
      log.info({ checked: due.length, deferred, jobId: job?.id }, 'pickup deadlines checked against amoCRM');
      return { checked: due.length, deferred };
    },

    /** Safety sweep: a lead in the pickup stage with no live clock (its webhook never came) gets one. */
    async sweep(): Promise<{ found: number; started: number; rescheduled: number }> {
      const rules = deps.rules();
      const leads = await deps.amo.listLeads({ 'filter[statuses][0][pipeline_id]': rules.pickup.pipelineId, 'filter[statuses][0][status_id]': rules.pickup.statusId }, 'bulk');
      let started = 0;
      let rescheduled = 0;
      for (const api of leads) {
        const snapshot = leadSnapshotFromApi(api);
        try {
          await deps.leads.withLock(api.id, async () => {
            const pickup = await pickups.get(api.id);
            if (pickup.phase === 'running' || pickup.phase === 'waiting_shift') {
              const id = jobIdFor('pickup-deadline', { leadId: api.id, clock: pickup.clock, dueAt: new Date(0).toISOString() });
              const timer = await deps.queues.get(JOBS['pickup-deadline'].queue).getJob(id);
              if (!timer && pickup.deadlineAt !== undefined) {
                rescheduled += 1;
                const data: PickupDeadlineJob = { leadId: api.id, clock: pickup.clock, dueAt: new Date(pickup.deadlineAt).toISOString() };
                await deps.queues.add('pickup-deadline', data, { delay: Math.max(0, pickup.deadlineAt - deps.clock.now().getTime()) });
                log.warn({ leadId: api.id, clock: pickup.clock }, 'sweep: the clock had no timer; timer restored');
              }
              return;
            }
            const ctx = await context();
            const result = pickupOnSweep(pickup, snapshot, ctx);
            if (result.decisions.length > 0) {
              started += 1;
              log.warn({ leadId: api.id }, 'sweep: lead in the pickup stage had no clock (missed webhook?); starting one');
              await apply(result, snapshot, ctx);
            }
          });
        } catch (err) {
          if (!(err instanceof LeadLockedError)) throw err;
        }
      }
      return { found: leads.length, started, rescheduled };
    },
  };
}

export type PickupEngine = ReturnType<typeof createPickupEngine>;

function detail(d: Decision): Record<string, unknown> {
  switch (d.kind) {
    case 'assign':
      return { department: d.request.department, cause: d.request.cause, eligible: d.request.eligible.map((c) => c.userId), skipped: d.request.skipped };
    case 'reassign':
      return { fromUserId: d.fromUserId, toUserId: d.toUserId };
    case 'schedule_timer':
      return { clock: d.clock, dueAt: new Date(d.dueAt).toISOString() };
    case 'record_violation':
      return { type: d.type, userId: d.userId };
    case 'alert':
      return { template: d.template, audience: d.audience };
    default:
      return {};
  }
}
