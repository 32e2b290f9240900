/**
 * R3 in the shell: where lead state, the pure cadence rule and the shared effect executor meet.
 * - a webhook event → `onLeadEvent` reads the lead's cadence state (and the ref of the task the event is about)
 *   and returns the rule's plans; the webhook handler commits them with the lead's state;
 * - the rule's timer (`R3|<lead>|step`) → due leads come in batches of up to 250; one leads request, one open
 *   tasks request and one call-events request re-read them (check, then act); each lead is decided under its lock;
 * - the sweep lists every bound stage (paged, 250 a request, bulk priority) and lets leads with no cadence join it,
 *   and restores a timer the cadence state says must exist. Plans of the whole sweep are carried out together, so
 *   their tasks go out in POST /api/v4/tasks arrays.
 */
import type { AmoClient } from '../../amocrm/api/client.js';
import type { ApiLead } from '../../amocrm/api/schemas.js';
import type { Effects } from '../../effects/index.js';
import type { Committed } from '../../effects/types.js';
import type { DueTimer, Plan } from '../../rules/plan.js';
import { atOrAfterAtAmoPrecision, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import {
  bindingFor,
  cadenceOnDue,
  cadenceOnLeadEvent,
  cadenceOnSweep,
  isActive,
  RULE,
  TIMER_KEY,
} from '../../rules/cadence/cadence.js';
import { callFromApiNote } from '../../rules/cadence/calls.js';
import { CadenceStateSchema, type CadenceState, type CallNote } from '../../rules/cadence/types.js';
import type { StepArgs } from '../../lib/steps.js';
import type { LeadEventInput } from './webhook-event.js';
import type { CompiledRules, LeadSnapshot } from '../../rules/types.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import { throwIfWritesInFlight, WritesInFlightError } from '../../effects/executor.js';

export const CADENCE_FIELD = 'cadence';
export const CADENCE_RULE = RULE;
/** amoCRM event types of call notes (GET /api/v4/events). */
export const CALL_EVENT_TYPES = ['outgoing_call', 'incoming_call'];
const SWEEP_CONCURRENCY = 16;

export interface CadenceEngineDeps {
  rules: () => CompiledRules;
  amo: AmoClient;
  leads: LeadStore;
  effects: Effects;
  clock: Clock;
  logger: Logger;
}

const snapshotFromApi = (lead: ApiLead): LeadSnapshot => ({
  leadId: lead.id,
  pipelineId: lead.pipeline_id,
  statusId: lead.status_id,
  responsibleUserId: lead.responsible_user_id,
  tags: [],
});
/** What the steps below share: their dependencies, stores and keys, built once per instance. */
function createCadenceEngineEnv(deps: CadenceEngineDeps) {
  const log = deps.logger.child({ rule: 'cadence' });
  const store = deps.effects.executor.store;
  const now = (): number => deps.clock.now().getTime();
  return { deps, log, store, now };
}

type CadenceEngineEnv = ReturnType<typeof createCadenceEngineEnv>;

export function createCadenceEngine(deps: CadenceEngineDeps) {
  const env = createCadenceEngineEnv(deps);
  return {
    readState: (...args: StepArgs<typeof readState>) => readState(env, ...args),
    onLeadEvent: (...args: StepArgs<typeof onLeadEvent>) => onLeadEvent(env, ...args),
    onDue: (...args: StepArgs<typeof onDue>) => onDue(env, ...args),
    sweep: (...args: StepArgs<typeof sweep>) => sweep(env, ...args),
    bindingOf: (...args: StepArgs<typeof bindingOf>) => bindingOf(env, ...args),
  };
}

/** The cadence state of a lead, parsed (a trust boundary: it was JSON in Redis). */
async function readState(env: CadenceEngineEnv, leadId: number): Promise<CadenceState | undefined> {
  const { log, store } = env;
  const raw = (await store.readState(leadId, [CADENCE_FIELD]))[CADENCE_FIELD];
  if (raw === undefined || raw === null) return undefined;
  const parsed = CadenceStateSchema.safeParse(raw);
  if (!parsed.success) {
    log.error(
      { leadId, issues: parsed.error.issues.slice(0, 3) },
      'cadence state of the lead does not parse; treating the lead as new',
    );
    return undefined;
  }
  return parsed.data;
}

/** The rule's plans for a webhook event; the caller holds the lead's lock and commits them with the lead's state. */
async function onLeadEvent(env: CadenceEngineEnv, { before, after, event }: LeadEventInput): Promise<Plan[]> {
  const { deps, log, store, now } = env;
  const rules = deps.rules();
  if (rules.cadences.bindings.length === 0) return [];
  const state = await readState(env, after.leadId);
  // Only events that can matter: a lead change, or a note/task while a cadence runs.
  if (event.kind !== 'lead' && !isActive(state)) return [];
  const taskRef = event.kind === 'task' ? await store.taskRef(after.leadId, event.taskId) : undefined;
  const plans = cadenceOnLeadEvent({
    before,
    after,
    event,
    state,
    ...(taskRef !== undefined ? { taskRef } : {}),
    ctx: { rules, now: now() },
  });
  for (const p of plans) log.info({ leadId: p.leadId, planId: p.id, reason: p.reason }, 'cadence: plan');
  return plans;
}

/**
 * Due timers: one leads request, one open-tasks request and one call-events request for the batch (at bulk
 * priority: cadence work waits behind SLA work), then each lead decided under its own lock.
 */
async function onDue(env: CadenceEngineEnv, due: DueTimer[]) {
  const { deps, log, store, now } = env;
  const rules = deps.rules();
  const ids = [...new Set(due.map((d) => d.leadId))];
  const states = new Map<number, CadenceState | undefined>();
  for (const id of ids) states.set(id, await readState(env, id));
  const live = ids.filter((id) => isActive(states.get(id)));
  const committed: Committed[] = [];
  const failed: Array<{ timer: DueTimer; error: unknown }> = [];
  const plansWithoutRead: Plan[] = [];
  for (const id of ids.filter((x) => !live.includes(x)))
    plansWithoutRead.push(...cadenceOnDue({ leadId: id, state: states.get(id), ctx: { rules, now: now() } }));
  // Leads with writes in flight were held back by the timer runner; a write that started since is caught under
  // the lock, below (the cadence's own new task may not show in amoCRM yet, and would be taken for missing).
  if (live.length === 0) return { plans: plansWithoutRead, committed, failed };

  const since = Math.min(...live.map((id) => states.get(id)?.openTask?.createdAt ?? now()));
  const [leads, openTasks, callEvents] = await Promise.all([
    deps.amo.getLeadsByIds(live, 'bulk'),
    deps.amo.listTasks({ 'filter[entity_type]': 'leads', 'filter[entity_id]': live, 'filter[is_completed]': 0 }),
    deps.amo.listEvents(
      { entityType: 'lead', entityIds: live, types: CALL_EVENT_TYPES, createdFrom: Math.floor(since / 1000) - 1 },
      'bulk',
    ),
  ]);
  const leadById = new Map(leads.map((l) => [l.id, l]));
  const openIds = new Set(openTasks.map((t) => t.id));
  // Calls the webhooks may have missed: only leads with call events get their call notes read.
  const callsByLead = new Map<number, CallNote[]>();
  for (const leadId of new Set(callEvents.map((e) => e.entity_id))) {
    const notes = await deps.amo.listLeadNotes(leadId, ['call_in', 'call_out']);
    const open = states.get(leadId)?.openTask;
    callsByLead.set(
      leadId,
      notes
        .flatMap((n) => callFromApiNote(n) ?? [])
        .filter((c) => open === undefined || atOrAfterAtAmoPrecision(c.at, open.createdAt)),
    );
  }

  for (const timer of due) {
    if (!live.includes(timer.leadId)) continue;
    try {
      await deps.leads.withLock(timer.leadId, async () => {
        await throwIfWritesInFlight(store, timer.leadId);
        const state = await readState(env, timer.leadId);
        const api = leadById.get(timer.leadId);
        const taskId = state?.openTask ? await store.taskId(timer.leadId, state.openTask.ref) : undefined;
        const fresh = {
          lead: api ? snapshotFromApi(api) : null,
          ...(taskId !== undefined ? { taskCompleted: !openIds.has(taskId) } : {}),
          calls: callsByLead.get(timer.leadId) ?? [],
        };
        const plans = cadenceOnDue({ leadId: timer.leadId, state, fresh, ctx: { rules, now: now() } });
        for (const p of plans) log.info({ leadId: p.leadId, planId: p.id, reason: p.reason }, 'cadence: timer plan');
        if (plans.length > 0) committed.push(...(await deps.effects.executor.commit(plans)));
      });
    } catch (err) {
      if (!(err instanceof LeadLockedError) && !(err instanceof WritesInFlightError))
        log.error(
          { leadId: timer.leadId, err: { message: (err as Error).message } },
          'cadence timer of one lead failed; the others proceed',
        );
      failed.push({ timer, error: err });
    }
  }
  return { plans: plansWithoutRead, committed, failed };
}

/**
 * Leads sitting in a bound stage with no cadence (the service just started, the binding was just switched on,
 * a webhook was lost) join it; a running cadence whose timer is missing gets it back.
 */
async function sweep(
  env: CadenceEngineEnv,
): Promise<{ found: number; joined: number; restored: number; failed: number; requests: number }> {
  const { deps, log, now } = env;
  const rules = deps.rules();
  let found = 0;
  let joined = 0;
  let restored = 0;
  let failed = 0;
  let requests = 0;
  const toDrain: Committed[] = [];
  for (const binding of rules.cadences.bindings) {
    const leads = await deps.amo.listLeads(
      {
        'filter[statuses][0][pipeline_id]': binding.pipelineId,
        'filter[statuses][0][status_id]': binding.statusId,
      },
      'bulk',
    );
    requests += Math.max(1, Math.ceil(leads.length / 250));
    found += leads.length;
    // Leads are decided a few at a time (each under its own lock); their writes go out together at the end.
    const one = async (api: ApiLead): Promise<void> => {
      try {
        await deps.leads.withLock(api.id, async () => {
          const state = await readState(env, api.id);
          if (isActive(state) && state?.statusId === api.status_id && state.timerAt !== undefined) {
            if ((await deps.effects.timers.get(RULE, api.id, TIMER_KEY)) === undefined) {
              await deps.effects.timers.schedule([
                { rule: RULE, leadId: api.id, key: TIMER_KEY, dueAt: state.timerAt },
              ]);
              restored += 1;
              log.warn({ leadId: api.id }, 'cadence sweep: the running cadence had no timer; timer restored');
            }
            return;
          }
          const plans = cadenceOnSweep({ lead: snapshotFromApi(api), state, ctx: { rules, now: now() } });
          if (plans.length === 0) return;
          joined += plans.some((p) => p.id.endsWith(':start')) ? 1 : 0;
          toDrain.push(...(await deps.effects.executor.commit(plans)));
        });
      } catch (err) {
        if (err instanceof LeadLockedError) return;
        failed += 1;
        log.error(
          { leadId: api.id, err: { message: (err as Error).message } },
          'cadence sweep: one lead failed; the others proceed',
        );
      }
    };
    for (let i = 0; i < leads.length; i += SWEEP_CONCURRENCY)
      await Promise.all(leads.slice(i, i + SWEEP_CONCURRENCY).map(one));
  }
  if (toDrain.length > 0) await deps.effects.executor.drain(toDrain);
  if (joined > 0 || restored > 0) log.info({ found, joined, restored, failed }, 'cadence sweep done');
  return { found, joined, restored, failed, requests };
}

/** The binding a lead's stage has now, if any (for lead:explain and the admin). */
function bindingOf(env: CadenceEngineEnv, pipelineId: number | undefined, statusId: number | undefined) {
  const { deps } = env;
  return bindingFor(deps.rules(), pipelineId, statusId);
}

export type CadenceEngine = ReturnType<typeof createCadenceEngine>;
