/**
 * R4-R10 in the shell: where the lead's stage state, the pure stage rules and the shared effect executor meet.
 * - a webhook event → `onLeadEvent` returns the rules' plans; the webhook handler commits them with the lead's state;
 * - a rule's timer (`R4|<lead>|stale:<entered>`, …) comes due in a batch: the batch's leads are re-read from amoCRM
 *   in one leads request and one events request (notes and calls, for R5 reasons and R6 touches), then each lead is
 *   decided under its lock (check, then act) and committed;
 * - the sweep pages through open leads at bulk priority (250 per request), lets leads the worker never saw enter
 *   their stage join it (with the real entry time from amoCRM's events for R4 and R9) and runs R10.
 * The leads sitting in "На закрытие" are kept in a sorted set the daily digest reads (R5: the РОП decides).
 */
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../amocrm/api/client.js';
import type { ApiEvent, ApiLead } from '../../amocrm/api/schemas.js';
import type { Effects } from '../../effects/index.js';
import type { Committed } from '../../effects/types.js';
import type { DueTimer, Plan } from '../../rules/plan.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { StepArgs } from '../../lib/steps.js';
import type { LeadEventInput } from './webhook-event.js';
import {
  emptyStageState,
  stageRulesOnDue,
  stageRulesOnLeadEvent,
  stageRulesOnSweep,
  stagesNeedingEntryTime,
  StageStateSchema,
  STAGE_RULE_IDS,
  type StageLead,
  type StageState,
} from '../../rules/stage-rules/index.js';
import type { CompiledRules, RuleContext } from '../../rules/types.js';
import type { Keys } from '../../store/keys.js';
import { decodeLeadField } from '../../store/lead-fields.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import { throwIfWritesInFlight, WritesInFlightError } from '../../effects/executor.js';

export const STAGE_FIELD = 'stage';
const NOTE_EVENT_TYPES = ['common_note_added', 'outgoing_call', 'incoming_call'];
const ENTRY_EVENT_CHUNK = 100;

export interface StageRulesDeps {
  rules: () => CompiledRules;
  amo: AmoClient;
  redis: Redis;
  keys: Keys;
  leads: LeadStore;
  effects: Effects;
  clock: Clock;
  logger: Logger;
  context?: (ctx: RuleContext) => Promise<RuleContext>;
}

export function stageLeadFromApi(lead: ApiLead): StageLead {
  const fields = new Map<number, string>();
  for (const f of lead.custom_fields_values ?? []) {
    const v = f.values[0]?.value;
    if (v !== undefined && v !== null) fields.set(f.field_id, String(v));
  }
  return {
    leadId: lead.id,
    pipelineId: lead.pipeline_id,
    statusId: lead.status_id,
    responsibleUserId: lead.responsible_user_id,
    tags: (lead._embedded?.tags ?? []).map((t) => t.name),
    fields,
    updatedAt: lead.updated_at * 1000,
    createdAt: lead.created_at * 1000,
  };
}

/** What a person does to a lead that counts as a touch (R10): amoCRM's event types. */
export const PERSON_TOUCH_EVENT_TYPES = [
  'lead_status_changed',
  'common_note_added',
  'outgoing_call',
  'incoming_call',
  'task_completed',
];

/** The newest touch by a person (not a robot user, not amoCRM itself: user 0) per lead, from amoCRM's events. */
export function lastPersonTouches(events: ApiEvent[], isRobotUser: (userId: number) => boolean): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of events) {
    if (!PERSON_TOUCH_EVENT_TYPES.includes(e.type) || e.created_by <= 0 || isRobotUser(e.created_by)) continue;
    const at = e.created_at * 1000;
    if (at > (out.get(e.entity_id) ?? 0)) out.set(e.entity_id, at);
  }
  return out;
}

/** The newest entry of each lead into the status it sits in now, from `lead_status_changed` events. */
export function entryTimes(events: ApiEvent[], current: ReadonlyMap<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of events) {
    if (e.type !== 'lead_status_changed') continue;
    const after = (e.value_after ?? [])[0] as { lead_status?: { id?: number } } | undefined;
    if (after?.lead_status?.id !== current.get(e.entity_id)) continue;
    const at = e.created_at * 1000;
    if (at > (out.get(e.entity_id) ?? 0)) out.set(e.entity_id, at);
  }
  return out;
}

export function awaitingCloseKey(keys: Keys): string {
  return keys.of('stage', 'close-awaiting');
}

/** R5: leads in "На закрытие" waiting for the РОП's decision (lead id → entry time), for the daily digest. */
export async function leadsAwaitingClose(redis: Redis, keys: Keys): Promise<Array<{ leadId: number; since: number }>> {
  const rows = await redis.zrange(awaitingCloseKey(keys), 0, -1, 'WITHSCORES');
  const out: Array<{ leadId: number; since: number }> = [];
  for (let i = 0; i < rows.length; i += 2) out.push({ leadId: Number(rows[i]), since: Number(rows[i + 1]) });
  return out;
}
/** What the steps below share: their dependencies, stores and keys, built once per instance. */
function createStageEngineEnv(deps: StageRulesDeps) {
  const log = deps.logger.child({ rule: 'stage-rules' });
  return { deps, log };
}

type StageEngineEnv = ReturnType<typeof createStageEngineEnv>;

export function createStageRulesEngine(deps: StageRulesDeps) {
  const env = createStageEngineEnv(deps);
  return {
    rules: STAGE_RULE_IDS,
    onLeadEvent: (...args: StepArgs<typeof onLeadEvent>) => onLeadEvent(env, ...args),
    onDue: (...args: StepArgs<typeof onDue>) => onDue(env, ...args),
    sweep: (...args: StepArgs<typeof sweep>) => sweep(env, ...args),
  };
}

async function context(env: StageEngineEnv): Promise<RuleContext> {
  const { deps } = env;
  const base: RuleContext = { rules: deps.rules(), now: deps.clock.now().getTime(), loads: new Map() };
  return deps.context ? deps.context(base) : base;
}

async function readState(env: StageEngineEnv, leadId: number): Promise<StageState> {
  const { deps } = env;
  const raw = (await deps.effects.executor.store.readState(leadId, [STAGE_FIELD]))[STAGE_FIELD];
  const parsed = StageStateSchema.safeParse(raw);
  return parsed.success ? parsed.data : emptyStageState();
}

async function trackAwaiting(
  env: StageEngineEnv,
  leadId: number,
  state: StageState,
  rules: CompiledRules,
): Promise<void> {
  const { deps } = env;
  const stage = rules.stageRules?.closeReason?.stage;
  if (stage && state.statusId === stage.statusId)
    await deps.redis.zadd(awaitingCloseKey(deps.keys), String(state.enteredAt ?? 0), String(leadId));
  else await deps.redis.zrem(awaitingCloseKey(deps.keys), String(leadId));
}

function logPlans(env: StageEngineEnv, plans: Plan[]): void {
  const { log } = env;
  for (const p of plans)
    if (p.effects.length > 0)
      log.info(
        { leadId: p.leadId, rule: p.rule, plan: p.id, effects: p.effects.map((e) => e.kind), reason: p.reason },
        `${p.rule}: ${p.reason}`,
      );
}

/** The stage rules' plans for a webhook event; the caller holds the lead's lock and commits them. */
async function onLeadEvent(env: StageEngineEnv, { before, after, event }: LeadEventInput): Promise<Plan[]> {
  const ctx = await context(env);
  if (!ctx.rules.stageRules) return [];
  const state = await readState(env, after.leadId);
  const result = stageRulesOnLeadEvent({ before, after, event, state, ctx });
  if (result.plans.length > 0) await trackAwaiting(env, after.leadId, result.state, ctx.rules);
  logPlans(env, result.plans);
  return result.plans;
}

/** Due timers of R4-R9: one leads and one events request for the batch, then each lead under its lock. */
async function onDue(
  env: StageEngineEnv,
  due: DueTimer[],
): Promise<{ committed: Committed[]; failed: Array<{ timer: DueTimer; error: unknown }> }> {
  const { deps, log } = env;
  const committed: Committed[] = [];
  const failed: Array<{ timer: DueTimer; error: unknown }> = [];
  if (due.length === 0) return { committed, failed };
  const ids = [...new Set(due.map((d) => d.leadId))];
  const visits = due.map((d) => Number(d.key.split(':')[1] ?? NaN)).filter((n) => Number.isFinite(n));
  const since = Math.min(deps.clock.now().getTime() - 31 * 86_400_000, ...visits);
  const [leads, events] = await Promise.all([
    deps.amo.getLeadsByIds(ids, 'normal'),
    deps.amo.listEvents(
      { entityType: 'lead', entityIds: ids, types: NOTE_EVENT_TYPES, createdFrom: Math.floor(since / 1000) - 1 },
      'normal',
    ),
  ]);
  const byId = new Map(leads.map((l) => [l.id, stageLeadFromApi(l)]));
  const notes = new Map<number, Array<{ byUserId: number; at: number }>>();
  for (const e of events)
    notes.set(e.entity_id, [...(notes.get(e.entity_id) ?? []), { byUserId: e.created_by, at: e.created_at * 1000 }]);
  for (const timer of due) {
    try {
      await deps.leads.withLock(timer.leadId, async () => {
        // Leads with writes in flight were held back by the timer runner; this catches one that started since.
        await throwIfWritesInFlight(deps.effects.executor.store, timer.leadId);
        const ctx = await context(env);
        const state = await readState(env, timer.leadId);
        const result = stageRulesOnDue(
          timer,
          state,
          { lead: byId.get(timer.leadId) ?? null, notes: notes.get(timer.leadId) ?? [] },
          ctx,
        );
        logPlans(env, result.plans);
        committed.push(...(await deps.effects.executor.commit(result.plans)));
      });
    } catch (err) {
      if (!(err instanceof LeadLockedError) && !(err instanceof WritesInFlightError))
        log.error(
          { leadId: timer.leadId, rule: timer.rule, err: { message: (err as Error).message } },
          'stage rule timer of one lead failed; the others proceed',
        );
      failed.push({ timer, error: err });
    }
  }
  return { committed, failed };
}

/**
 * Pages through the open leads of the stage rules' pipeline (bulk priority, 250 per request): a lead the worker
 * never saw enter its stage joins it (R4 and R9 with the real entry time from amoCRM's events), and R10 checks
 * every lead's last update. Plans are committed per lead under its lock and carried out together at the end.
 */
async function sweep(env: StageEngineEnv): Promise<{ leads: number; joined: number; stale: number; plans: number }> {
  const { deps, log } = env;
  const ctx0 = await context(env);
  const s = ctx0.rules.stageRules;
  if (!s) return { leads: 0, joined: 0, stale: 0, plans: 0 };
  const open = [...(s.weeklyUpdate?.openStatusIds ?? new Set(stagesNeedingEntryTime(ctx0)))];
  const filter: Record<string, number> = {};
  open.forEach((statusId, i) => {
    filter[`filter[statuses][${i}][pipeline_id]`] = s.pipelineId;
    filter[`filter[statuses][${i}][status_id]`] = statusId;
  });
  const leads = (await deps.amo.listLeads(filter, 'bulk')).map(stageLeadFromApi);
  // One command per lead, sent together (ioredis pipelines them per node): the leads' hashes span cluster slots.
  const raw = await Promise.all(leads.map((l) => deps.redis.hgetBuffer(deps.keys.lead(l.leadId), STAGE_FIELD)));
  const states = new Map<number, StageState>();
  leads.forEach((l, i) => {
    const v = decodeLeadField(raw[i]);
    const parsed = v !== undefined ? StageStateSchema.safeParse(v) : undefined;
    states.set(l.leadId, parsed?.success ? parsed.data : emptyStageState());
  });
  // Real entry times only where a clock runs from the entry, for the leads that must join.
  const timed = new Set(stagesNeedingEntryTime(ctx0));
  const joiners = leads.filter(
    (l) => l.statusId !== undefined && timed.has(l.statusId) && states.get(l.leadId)?.statusId !== l.statusId,
  );
  const entries = new Map<number, number>();
  for (let i = 0; i < joiners.length; i += ENTRY_EVENT_CHUNK) {
    const chunk = joiners.slice(i, i + ENTRY_EVENT_CHUNK);
    const events = await deps.amo.listEvents(
      { entityType: 'lead', entityIds: chunk.map((l) => l.leadId), types: ['lead_status_changed'] },
      'bulk',
    );
    for (const [id, at] of entryTimes(events, new Map(chunk.map((l) => [l.leadId, l.statusId ?? 0]))))
      entries.set(id, at);
  }
  // R10 counts people only: for leads with no person's touch known yet, amoCRM's events say when one last touched them.
  if (s.weeklyUpdate) {
    // Only where it decides something: no touch known, and the creation alone would make the lead stale.
    const now = deps.clock.now().getTime();
    const w = s.weeklyUpdate;
    const untouched = leads.filter(
      (l) =>
        states.get(l.leadId)?.lastTouchAt === undefined &&
        l.statusId !== undefined &&
        w.openStatusIds.has(l.statusId) &&
        l.createdAt !== undefined &&
        now - l.createdAt >= w.maxSilenceMs,
    );
    for (let i = 0; i < untouched.length; i += ENTRY_EVENT_CHUNK) {
      const chunk = untouched.slice(i, i + ENTRY_EVENT_CHUNK);
      const events = await deps.amo.listEvents(
        { entityType: 'lead', entityIds: chunk.map((l) => l.leadId), types: PERSON_TOUCH_EVENT_TYPES },
        'bulk',
      );
      const touches = lastPersonTouches(events, (userId) => ctx0.rules.pickup.robotUserIds.has(userId));
      for (const l of chunk) {
        const at = touches.get(l.leadId);
        if (at !== undefined) l.lastPersonTouchAt = at;
      }
    }
  }
  let joined = 0;
  let stale = 0;
  const toDrain: Committed[] = [];
  for (const lead of leads) {
    const ctx = { ...ctx0, now: deps.clock.now().getTime() };
    const first = stageRulesOnSweep(states.get(lead.leadId) ?? emptyStageState(), lead, entries.get(lead.leadId), ctx);
    if (first.plans.length === 0) continue;
    try {
      await deps.leads.withLock(lead.leadId, async () => {
        const state = await readState(env, lead.leadId);
        const result = stageRulesOnSweep(state, lead, entries.get(lead.leadId), ctx);
        if (result.plans.some((p) => p.id.includes(':join'))) joined += 1;
        if (result.plans.some((p) => p.rule === 'R10')) stale += 1;
        logPlans(env, result.plans);
        await trackAwaiting(env, lead.leadId, result.state, ctx.rules);
        toDrain.push(...(await deps.effects.executor.commit(result.plans)));
      });
    } catch (err) {
      if (!(err instanceof LeadLockedError)) throw err;
    }
  }
  if (toDrain.length > 0) await deps.effects.executor.drain(toDrain);
  log.info({ leads: leads.length, joined, stale, plans: toDrain.length }, 'stage rules sweep done');
  return { leads: leads.length, joined, stale, plans: toDrain.length };
}

export type StageRulesEngine = ReturnType<typeof createStageRulesEngine>;
