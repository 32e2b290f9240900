/**
 * The effect executor: the one place where any rule's plans become amoCRM writes, records, messages and timers.
 * See types.ts for the guarantees. In short: commit (state + intent, atomic per lead) → timers → amoCRM lead
 * writes (batched across leads) → notes and tasks (batched) → records and messages → intent done. Each effect is
 * marked done after it succeeded; a resumed intent reconciles with amoCRM before repeating a write.
 */
import type { Redis } from 'ioredis';
import type { AmoClient, LeadUpdate } from '../amocrm/api/client.js';
import { AmoNotFoundError, AmoValidationError } from '../amocrm/api/errors.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Keys } from '../store/keys.js';
import { decodeLeadField, encodeLeadField } from '../store/lead-fields.js';
import { LEAD_TTL_SECONDS } from '../store/lead-store.js';
import type { Outbox } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import { createViolationLedger } from '../store/violation-ledger.js';
import type { RobotRecord } from '../rules/plan.js';
import type { TimerStore } from './timers.js';
import type { Committed, Effect, EffectExecutor, EffectStore, ExecuteReport, Plan, PlanOutcome } from './types.js';

/** How long a worker owns a lead's pending intents while it carries them out; renewed between phases. */
export const INTENT_LEASE_MS = 20_000;
/** A transient failure is retried (every 10 s at most, so about a day) this many times, then dead-lettered as if permanent. */
export const MAX_ATTEMPTS = 10_000;
/**
 * A transient failure is retried at most this long after the last try: a retry that fails again while amoCRM is
 * down costs one request for a whole batch, and when amoCRM is back the work must not wait minutes for its turn.
 * amoCRM's own `retry_after` and the block cool-down are honoured as given (up to MAX_RETRY_AFTER_MS).
 */
const MAX_BACKOFF_MS = 10_000;
const MAX_RETRY_AFTER_MS = 15 * 60_000;
export const DEAD_LETTER_LIMIT = 10_000;

// KEYS[1] the lead's hash. ARGV: ttl seconds, now, plan count, then per plan: id, intent JSON, state field count,
// then that many (field, stored value) pairs; an empty value deletes the field. Values are stored as given (binary,
// see src/store/lead-fields.ts), so they travel as arguments, not inside JSON.
// Returns per plan: 'new', 'pending' (an intent from an earlier attempt; its JSON follows) or 'done'.
// A plan without effects only sets state; it leaves no marker (committing the same state again changes nothing).
const COMMIT = `
local key = KEYS[1]
local out = {}
local i = 4
for p = 1, tonumber(ARGV[3]) do
  local id, intent, fields = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + 2 * fields
  if redis.call('HEXISTS', key, 'done:' .. id) == 1 then
    out[#out + 1] = 'done'
    out[#out + 1] = ''
  else
    local pending = redis.call('HGET', key, 'intent:' .. id)
    if pending then
      out[#out + 1] = 'pending'
      out[#out + 1] = pending
    else
      for f = first, first + 2 * fields - 1, 2 do
        if ARGV[f + 1] == '' then redis.call('HDEL', key, ARGV[f]) else redis.call('HSET', key, ARGV[f], ARGV[f + 1]) end
      end
      if intent ~= '' then redis.call('HSET', key, 'intent:' .. id, intent) end
      out[#out + 1] = 'new'
      out[#out + 1] = ''
    end
  end
end
redis.call('EXPIRE', key, tonumber(ARGV[1]))
return out
`;

/**
 * A finished plan leaves a `done:<plan id>` mark in the lead's hash, so that a retried job or timer that decides
 * the same plan again does not carry it out twice. Retries come within minutes to hours; rules' own state keeps
 * them from deciding an old plan again; the marks are a second guard. So a lead keeps the marks of its last 32
 * plans, none older than 35 days (the longest monthly rule plus margin): a lead in an 8-week cadence no longer
 * grows a mark per task for as long as it lives.
 */
export const DONE_MARKS_KEPT = 32;
export const DONE_MARK_RETENTION_MS = 35 * 24 * 3600_000;

// KEYS[1] the lead's hash. ARGV: ttl seconds, plan id, mark (now, ms), oldest mark kept (ms), most marks kept.
// Ends the plan's intent, marks it done, and drops the marks past the count or the age.
const FINISH = `
local key = KEYS[1]
redis.call('HDEL', key, 'intent:' .. ARGV[2])
redis.call('HSET', key, 'done:' .. ARGV[2], ARGV[3])
local names = {}
for _, f in ipairs(redis.call('HKEYS', key)) do
  if string.sub(f, 1, 5) == 'done:' then names[#names + 1] = f end
end
local oldest, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
local rows = {}
-- In slices: a lead hash from before the bound may hold more marks than unpack() takes at once.
for from = 1, #names, 500 do
  local slice = {}
  for j = from, math.min(from + 499, #names) do slice[#slice + 1] = names[j] end
  local marks = redis.call('HMGET', key, unpack(slice))
  for j = 1, #slice do rows[#rows + 1] = { slice[j], tonumber(marks[j]) or 0 } end
end
table.sort(rows, function(a, b) return a[2] > b[2] end)
for j = 1, #rows do
  if j > keep or rows[j][2] < oldest then redis.call('HDEL', key, rows[j][1]) end
end
redis.call('EXPIRE', key, tonumber(ARGV[1]))
return #rows
`;

// Removes the pending marker of a lead only if nobody re-leased it meanwhile (ARGV[1] the lease we set).
const RELEASE_PENDING = `if redis.call('ZSCORE', KEYS[1], ARGV[2]) == ARGV[1] then return redis.call('ZREM', KEYS[1], ARGV[2]) else return 0 end`;

// Leases leads (ARGV[4..]) until ARGV[2] and returns those nobody held (lease or retry time ARGV[3] over).
// 'all' (a commit): every lead is leased; one without a marker counts as free. 'free' (a resume): only leads
// with a marker whose time is over are leased and returned; a lead with nothing pending costs one lookup.
const LEASE_LEADS = `
local out = {}
for i = 4, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  local free
  if ARGV[1] == 'all' then free = (not s) or tonumber(s) <= tonumber(ARGV[3]) else free = s and tonumber(s) <= tonumber(ARGV[3]) end
  if free or ARGV[1] == 'all' then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i]) end
  if free then out[#out + 1] = ARGV[i] end
end
return out
`;

// Claims leads whose pending intents are due (lease over or retry time reached): moves their score a lease ahead.
const CLAIM_PENDING = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], m) end
return due
`;

interface Intent {
  plan: Plan;
  done: number[];
  attempts: number;
  createdAt: number;
}

/** amoCRM's view of a lead a resumed plan writes to. */
interface LeadView {
  responsible?: number;
  statusId?: number;
  pipelineId?: number;
}

interface OpenTask {
  id: number;
  text: string;
  due: number;
}

/** One drain's plans in hand, the amoCRM requests it made, and how a plan's failure is kept. */
interface DrainRun {
  works: Work[];
  requests: Record<string, number>;
  count(endpoint: string, n?: number): void;
  /** The first failure of a plan in this pass is kept (with the request), later ones ignored. */
  fail(w: Work, err: unknown, request?: unknown): void;
  renewLease(): Promise<void>;
}

/** The business metrics a record stands for, counted once (a deduplicated append returns no id). */
function countRecord(metrics: Metrics, r: RobotRecord): void {
  const department = r.department ?? 'unknown';
  if (r.kind === 'violation') {
    metrics.violations.inc({ rule: r.rule, type: r.type ?? 'unknown' });
    if (r.type === 'pickup_missed') metrics.pickups.inc({ department, outcome: 'missed' });
  } else if (r.kind === 'pickup_taken') {
    metrics.pickups.inc({ department, outcome: 'taken' });
    if (r.takenAfterMs !== undefined) metrics.timeToPickup.observe({ department }, r.takenAfterMs / 1000);
  }
}

/** A plan's effects of these kinds not done yet, with their indexes. */
const pendingOf = (w: Work, kinds: Set<Effect['kind']>): Array<[number, Effect]> =>
  w.c.plan.effects.map((e, i) => [i, e] as [number, Effect]).filter(([i, e]) => kinds.has(e.kind) && !w.done.has(i));

interface Work {
  c: Committed;
  done: Set<number>;
  /** A resumed plan whose lead amoCRM shows changed since by someone else: it is dropped, not repeated. */
  superseded?: boolean;
  /** First failure of this plan in this pass. */
  error?: unknown;
  permanent?: boolean;
  request?: unknown;
}

export interface ExecutorDeps {
  redis: Redis;
  keys: Keys;
  amo: AmoClient;
  records: RecordStore;
  outbox: Outbox;
  timers: TimerStore;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Rules evaluated and recorded but never written to amoCRM or sent (shadow mode). */
  isShadow?: (rule: string) => boolean;
}

/**
 * A due timer found its lead's previous decision still being written: amoCRM may not show that write yet, and a
 * read that raced it would take the robot's own write in flight for a person's change (or a stale stage for the
 * current one). The timer is checked again shortly. The timer runner holds such leads back before their rule
 * reads amoCRM (src/effects/index.ts); rules call throwIfWritesInFlight under the lead's lock for a write that
 * started after that.
 */
/** The previous decision's writes usually land within a second or two. */
export const WRITES_IN_FLIGHT_RETRY_MS = 2_000;

export class WritesInFlightError extends Error {
  readonly retryable = true;
  readonly retryAfterMs = WRITES_IN_FLIGHT_RETRY_MS;
  constructor(readonly leadId: number) {
    super(`lead ${leadId} has robot writes still in flight; its timer is checked again shortly`);
    this.name = 'WritesInFlightError';
  }
}

/** Under the lead's lock, before deciding on what amoCRM showed: throws WritesInFlightError if a write is pending. */
export async function throwIfWritesInFlight(store: Pick<EffectStore, 'pendingPlans'>, leadId: number): Promise<void> {
  if ((await store.pendingPlans(leadId)).length > 0) throw new WritesInFlightError(leadId);
}

/** A lead-level error: amoCRM refused this write for this lead; retrying cannot help. */
export function isPermanent(err: unknown): boolean {
  return err instanceof AmoValidationError || err instanceof AmoNotFoundError;
}

const retryAfterOf = (err: unknown): number | undefined => {
  const v = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

export function backoffMs(attempts: number, err?: unknown): number {
  const told = retryAfterOf(err);
  if (told !== undefined) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, told));
  return Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(attempts, 16));
}

function errorDetail(err: unknown): Record<string, unknown> {
  if (err instanceof AmoValidationError)
    return {
      name: err.name,
      message: err.message,
      status: err.status,
      endpoint: err.endpoint,
      fieldErrors: err.fieldErrors,
    };
  if (err instanceof Error) {
    const e = err as Error & { status?: unknown; endpoint?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(e.status !== undefined ? { status: e.status } : {}),
      ...(e.endpoint !== undefined ? { endpoint: e.endpoint } : {}),
    };
  }
  return { message: String(err) };
}

const AMO_LEAD_WRITES = new Set<Effect['kind']>(['set_responsible', 'move_lead']);
const AMO_OTHER_WRITES = new Set<Effect['kind']>(['add_note', 'create_task', 'complete_task', 'update_task']);
const LOCAL = new Set<Effect['kind']>(['record', 'message']);
const TIMERS = new Set<Effect['kind']>(['schedule_timer', 'cancel_timer']);

export function createEffectStore(redis: Redis, keys: Keys): EffectStore {
  return {
    async readState(leadId, fields) {
      if (fields.length === 0) return {};
      const values = await redis.hmgetBuffer(keys.lead(leadId), ...fields);
      const out: Record<string, unknown> = {};
      fields.forEach((f, i) => {
        const v = decodeLeadField(values[i]);
        if (v !== undefined) out[f] = v;
      });
      return out;
    },
    async taskId(leadId, ref) {
      const v = await redis.hget(keys.lead(leadId), `task:${ref}`);
      return v === null ? undefined : Number(v);
    },
    async taskRef(leadId, taskId) {
      return (await redis.hget(keys.lead(leadId), `taskid:${taskId}`)) ?? undefined;
    },
    async pendingPlans(leadId) {
      const fields = await redis.hkeys(keys.lead(leadId));
      return fields.filter((f) => f.startsWith('intent:')).map((f) => f.slice('intent:'.length));
    },
    async inFlight(leadIds) {
      if (leadIds.length === 0) return new Set();
      // A lead is in the pending set from before its first intent is stored until its last one is finished.
      const scores = await redis.zmscore(keys.of('effects', 'pending'), ...leadIds.map(String));
      return new Set(leadIds.filter((_, i) => scores[i] !== null));
    },
  };
}

/** What the executor's steps share: the stores, clients and keys, built once per executor. */
function createExecutorEnv(deps: ExecutorDeps) {
  const { redis, keys, amo, clock, metrics } = deps;
  const log = deps.logger.child({ component: 'effects' });
  const pendingKey = keys.of('effects', 'pending');
  const deadLetterKey = keys.of('effects', 'dead-letter');
  const store = createEffectStore(redis, keys);
  const ledger = createViolationLedger(redis, keys);
  const now = (): number => clock.now().getTime();
  const shadow = (rule: string): boolean => deps.isShadow?.(rule) ?? false;
  return { deps, redis, keys, amo, clock, metrics, log, pendingKey, deadLetterKey, store, ledger, now, shadow };
}

type ExecutorEnv = ReturnType<typeof createExecutorEnv>;

export function createExecutor(
  deps: ExecutorDeps,
): EffectExecutor & { store: EffectStore; resumeDue(limit?: number): Promise<ExecuteReport> } {
  const env = createExecutorEnv(deps);
  const { redis, pendingKey, store, now } = env;
  return {
    store,
    commit: (plans) => commit(env, plans),
    drain: (committed) => drain(env, committed),
    async execute(plans) {
      const lease = now() + INTENT_LEASE_MS;
      return drain(env, await commit(env, plans, lease), lease);
    },
    resume: (leadIds) => resume(env, leadIds),
    /** Recovery: intents whose lease ended (a crashed worker) or whose retry time came. */
    async resumeDue(limit = 250) {
      const t = now();
      const due = (await redis.eval(
        CLAIM_PENDING,
        1,
        pendingKey,
        String(t),
        String(limit),
        String(t + INTENT_LEASE_MS),
      )) as string[];
      if (due.length === 0) return { outcomes: [], requests: {} };
      return resume(env, due.map(Number), true);
    },
  };
}

async function saveIntent(env: ExecutorEnv, works: Work[]): Promise<void> {
  const { redis, keys, now } = env;
  if (works.length === 0) return;
  // One command per lead, sent together: a lead's hash may live on another Redis Cluster node than the next one's.
  await Promise.all(
    works.map((w) => {
      const intent: Intent = {
        plan: w.c.plan,
        done: [...w.done].sort((a, b) => a - b),
        attempts: w.c.attempts,
        createdAt: now(),
      };
      return redis.hset(keys.lead(w.c.plan.leadId), `intent:${w.c.plan.id}`, JSON.stringify(intent));
    }),
  );
}

async function finish(env: ExecutorEnv, works: Work[], at: number): Promise<void> {
  const { redis, keys } = env;
  if (works.length === 0) return;
  await Promise.all(
    works.map((w) =>
      redis.eval(
        FINISH,
        1,
        keys.lead(w.c.plan.leadId),
        String(LEAD_TTL_SECONDS),
        w.c.plan.id,
        String(at),
        String(at - DONE_MARK_RETENTION_MS),
        String(DONE_MARKS_KEPT),
      ),
    ),
  );
}

async function releasePending(env: ExecutorEnv, leadIds: number[], lease: number): Promise<void> {
  const { redis, pendingKey, store } = env;
  await Promise.all(
    [...new Set(leadIds)].map(async (leadId) => {
      const left = await store.pendingPlans(leadId);
      if (left.length === 0) await redis.eval(RELEASE_PENDING, 1, pendingKey, String(lease), String(leadId));
    }),
  );
}

async function commit(env: ExecutorEnv, plans: Plan[], lease = env.now() + INTENT_LEASE_MS): Promise<Committed[]> {
  const { redis, keys, log, pendingKey, now } = env;
  const byLead = new Map<number, Plan[]>();
  for (const p of plans) byLead.set(p.leadId, [...(byLead.get(p.leadId) ?? []), p]);
  if (byLead.size === 0) return [];
  // The pending marker first: an intent is never in Redis without a way for recovery to find it. Intents left
  // pending by an earlier attempt are carried out here only if no live worker holds the lead's lease.
  const free = new Set(
    (
      (await redis.eval(
        LEASE_LEADS,
        1,
        pendingKey,
        'all',
        String(lease),
        String(now()),
        ...[...byLead.keys()].map(String),
      )) as string[]
    ).map(Number),
  );
  const out: Committed[] = [];
  for (const [leadId, group] of byLead) {
    const args: Array<string | Buffer> = [String(LEAD_TTL_SECONDS), String(now()), String(group.length)];
    for (const p of group) {
      const pairs = Object.entries(p.state ?? {});
      const intent: Intent = { plan: p, done: [], attempts: 0, createdAt: now() };
      args.push(p.id, p.effects.length === 0 ? '' : JSON.stringify(intent), String(pairs.length));
      for (const [field, value] of pairs) args.push(field, value === null ? '' : encodeLeadField(value));
    }
    const res = (await redis.eval(COMMIT, 1, keys.lead(leadId), ...args)) as string[];
    group.forEach((p, i) => {
      const status = res[i * 2];
      if (status === 'new') {
        if (p.effects.length > 0) out.push({ plan: p, done: [], attempts: 0, resumed: false });
      } else if (status === 'pending' && free.has(leadId)) {
        const intent = JSON.parse(res[i * 2 + 1] ?? '{}') as Intent;
        out.push({ plan: intent.plan, done: intent.done, attempts: intent.attempts, resumed: true });
      } else if (status === 'pending') {
        log.debug({ planId: p.id, leadId }, 'plan is being carried out by another worker');
      } else {
        log.debug({ planId: p.id, leadId }, 'plan already carried out; not repeated');
      }
    });
  }
  if (out.length === 0) await releasePending(env, [...byLead.keys()], lease);
  return out;
}

/**
 * Carries out committed plans; the caller holds their leads' pending lease `lease`. In phases, each batched across
 * the plans in hand: timers, lead writes, notes and tasks, then records and messages, then each plan settled
 * (done, dead-lettered or parked). A plan that failed in one phase takes no part in the next.
 */
async function drain(
  env: ExecutorEnv,
  committed: Committed[],
  lease = env.now() + INTENT_LEASE_MS,
): Promise<ExecuteReport> {
  const run = startRun(env, committed);
  const renewal = setInterval(() => void run.renewLease().catch(() => undefined), Math.floor(INTENT_LEASE_MS / 4));
  renewal.unref();
  try {
    logPlans(env, run);
    await writeTimers(env, run);
    const live = skipShadowWrites(env, run);
    await writeLeads(env, run, live);
    await saveIntent(
      env,
      run.works.filter((w) => w.done.size > w.c.done.length),
    );
    await run.renewLease();
    // Notes and tasks, only for plans whose lead writes landed (a note says what was done).
    await writeNotesAndTasks(
      env,
      run,
      live.filter((w) => w.error === undefined && !w.superseded),
    );
    await saveIntent(
      env,
      run.works.filter((w) => w.done.size > w.c.done.length),
    );
    await writeLocal(env, run);
    return { outcomes: await settle(env, run, lease), requests: run.requests };
  } finally {
    clearInterval(renewal);
  }
}

function startRun(env: ExecutorEnv, committed: Committed[]): DrainRun {
  const { redis, pendingKey, now } = env;
  const requests: Record<string, number> = {};
  const works: Work[] = committed.map((c) => ({ c, done: new Set(c.done) }));
  return {
    works,
    requests,
    count: (endpoint, n = 1) => {
      requests[endpoint] = (requests[endpoint] ?? 0) + n;
    },
    fail: (w, err, request) => {
      if (w.error !== undefined) return;
      w.error = err;
      w.permanent = isPermanent(err);
      w.request = request;
    },
    renewLease: async () => {
      const pipeline = redis.pipeline();
      for (const leadId of new Set(works.map((w) => w.c.plan.leadId)))
        pipeline.zadd(pendingKey, 'XX', String(now() + INTENT_LEASE_MS), String(leadId));
      await pipeline.exec();
    },
  };
}

function logPlans(env: ExecutorEnv, run: DrainRun): void {
  const { metrics, log } = env;
  for (const w of run.works) {
    log.info(
      {
        planId: w.c.plan.id,
        rule: w.c.plan.rule,
        leadId: w.c.plan.leadId,
        reason: w.c.plan.reason,
        effects: w.c.plan.effects.map((e) => e.kind),
        resumed: w.c.resumed,
      },
      `${w.c.plan.rule}: carrying out plan`,
    );
    for (const e of w.c.plan.effects) metrics.decisions.inc({ rule: w.c.plan.rule, kind: e.kind });
  }
}

/** Timers first: a deadline must exist as soon as the state says the clock runs. */
async function writeTimers(env: ExecutorEnv, run: DrainRun): Promise<void> {
  const { deps } = env;
  const toSchedule: Array<{ rule: string; leadId: number; key: string; dueAt: number }> = [];
  const toCancel: Array<{ rule: string; leadId: number; key: string }> = [];
  for (const w of run.works) {
    for (const [i, e] of pendingOf(w, TIMERS)) {
      if (e.kind === 'schedule_timer') toSchedule.push({ rule: e.rule, leadId: e.leadId, key: e.key, dueAt: e.dueAt });
      if (e.kind === 'cancel_timer') toCancel.push({ rule: e.rule, leadId: e.leadId, key: e.key });
      w.done.add(i);
    }
  }
  // A plan's cancel and schedule of the same timer (a new clock) end scheduled: cancel first.
  await deps.timers.cancel(toCancel);
  await deps.timers.schedule(toSchedule);
}

/** Shadow rules write nothing to amoCRM: their writes are logged and marked done. Returns the plans that write. */
function skipShadowWrites(env: ExecutorEnv, run: DrainRun): Work[] {
  const { log, shadow } = env;
  for (const w of run.works.filter((x) => shadow(x.c.plan.rule))) {
    for (const [i, e] of [...pendingOf(w, AMO_LEAD_WRITES), ...pendingOf(w, AMO_OTHER_WRITES)]) {
      log.info({ planId: w.c.plan.id, leadId: w.c.plan.leadId, effect: e }, 'shadow mode: amoCRM write not made');
      w.done.add(i);
    }
  }
  return run.works.filter((w) => !shadow(w.c.plan.rule));
}

/** Responsible and stage: one PATCH item per plan and lead, batched across leads by the client. */
async function writeLeads(env: ExecutorEnv, run: DrainRun, live: Work[]): Promise<void> {
  const { log } = env;
  const current = await readResumedLeads(env, run, live);
  await Promise.all(
    live.filter((w) => w.error === undefined).map((w) => patchLead(env, run, w, current.get(w.c.plan.leadId))),
  );
  for (const w of run.works.filter((x) => x.superseded)) {
    log.warn(
      {
        planId: w.c.plan.id,
        leadId: w.c.plan.leadId,
        current: current.get(w.c.plan.leadId),
        notDone: w.c.plan.effects.filter((_, i) => !w.done.has(i)).map((e) => e.kind),
      },
      'resumed plan superseded: the lead changed since it was made; its remaining effects are dropped',
    );
    w.c.plan.effects.forEach((_, i) => w.done.add(i));
  }
}

/** A resumed plan's lead writes may have landed before the crash: amoCRM's view of those leads, in one read. */
async function readResumedLeads(env: ExecutorEnv, run: DrainRun, live: Work[]): Promise<Map<number, LeadView>> {
  const { amo } = env;
  const current = new Map<number, LeadView>();
  const ids = [
    ...new Set(live.filter((w) => w.c.resumed && pendingOf(w, AMO_LEAD_WRITES).length > 0).map((w) => w.c.plan.leadId)),
  ];
  if (ids.length === 0) return current;
  try {
    const leads = await amo.getLeadsByIds(ids, 'sla');
    run.count('GET /api/v4/leads');
    for (const l of leads)
      current.set(l.id, { responsible: l.responsible_user_id, statusId: l.status_id, pipelineId: l.pipeline_id });
  } catch (err) {
    for (const w of live.filter((x) => ids.includes(x.c.plan.leadId))) run.fail(w, err);
  }
  return current;
}

async function patchLead(env: ExecutorEnv, run: DrainRun, w: Work, seen: LeadView | undefined): Promise<void> {
  const { amo } = env;
  const items = pendingOf(w, AMO_LEAD_WRITES);
  if (items.length === 0) return;
  const update: LeadUpdate = { id: w.c.plan.leadId };
  const indexes: number[] = [];
  for (const [i, e] of items) {
    if (e.kind === 'set_responsible') {
      if (w.c.resumed && seen?.responsible === e.toUserId) {
        w.done.add(i);
        continue;
      }
      if (w.c.resumed && seen !== undefined && e.fromUserId !== undefined && seen.responsible !== e.fromUserId) {
        // Someone (a person, or a later decision) changed the responsible since this plan was made: repeating
        // it now would undo that change. The plan is superseded.
        w.superseded = true;
        continue;
      }
      update.responsible_user_id = e.toUserId;
    } else if (e.kind === 'move_lead') {
      if (w.c.resumed && seen?.statusId === e.statusId && seen.pipelineId === e.pipelineId) {
        w.done.add(i);
        continue;
      }
      update.status_id = e.statusId;
      update.pipeline_id = e.pipelineId;
    }
    indexes.push(i);
  }
  if (indexes.length === 0) return;
  try {
    await amo.updateLead(update, 'sla');
    run.count('PATCH /api/v4/leads');
    for (const i of indexes) w.done.add(i);
  } catch (err) {
    run.fail(w, err, { method: 'PATCH', path: '/api/v4/leads', body: update });
  }
}

/** Notes and tasks, in plan order within a plan (a task is created before a later effect moves it). */
async function writeNotesAndTasks(env: ExecutorEnv, run: DrainRun, ready: Work[]): Promise<void> {
  const { redis, keys } = env;
  const notesOnLead = await readResumedNotes(env, run, ready);
  const openTasks = await readResumedTasks(env, run, ready);
  const taskIds = await knownTaskIds(env, ready);
  const newTaskIds: Array<{ leadId: number; ref: string; id: number }> = [];
  await Promise.all(
    ready
      .filter((w) => w.error === undefined)
      .map(async (w) => {
        for (const [i, e] of pendingOf(w, AMO_OTHER_WRITES)) {
          if (w.error !== undefined) return;
          try {
            await writeOther(env, run, w, e, { notesOnLead, openTasks, taskIds, newTaskIds });
            w.done.add(i);
          } catch (err) {
            run.fail(w, err, { effect: e.kind, leadId: e.leadId });
          }
        }
      }),
  );
  if (newTaskIds.length > 0) {
    await Promise.all(
      newTaskIds.map((t) => redis.hset(keys.lead(t.leadId), `task:${t.ref}`, String(t.id), `taskid:${t.id}`, t.ref)),
    );
  }
}

async function writeOther(
  env: ExecutorEnv,
  run: DrainRun,
  w: Work,
  e: Effect,
  seen: {
    notesOnLead: Map<number, Set<string>>;
    openTasks: Map<number, OpenTask[]>;
    taskIds: Map<string, number>;
    newTaskIds: Array<{ leadId: number; ref: string; id: number }>;
  },
): Promise<void> {
  const { amo, log } = env;
  if (e.kind === 'add_note') {
    // A resumed plan's note may be there already (the robot's same text): not repeated.
    if (w.c.resumed && seen.notesOnLead.get(e.leadId)?.has(e.text)) return;
    await amo.addLeadNote({ entity_id: e.leadId, note_type: 'common', params: { text: e.text } });
    run.count('POST /api/v4/leads/notes');
  } else if (e.kind === 'create_task') {
    const dueSec = Math.floor(e.dueAt / 1000);
    const existing = w.c.resumed
      ? seen.openTasks.get(e.leadId)?.find((t) => t.text === e.text && t.due === dueSec)
      : undefined;
    const id =
      existing?.id ??
      (await amo.createTask({
        entity_id: e.leadId,
        entity_type: 'leads',
        text: e.text,
        complete_till: dueSec,
        responsible_user_id: e.userId,
        ...(e.taskTypeId !== undefined ? { task_type_id: e.taskTypeId } : {}),
      }));
    if (!existing) run.count('POST /api/v4/tasks');
    seen.taskIds.set(`${e.leadId}|${e.ref}`, id);
    seen.newTaskIds.push({ leadId: e.leadId, ref: e.ref, id });
  } else if (e.kind === 'complete_task' || e.kind === 'update_task') {
    const id = seen.taskIds.get(`${e.leadId}|${e.ref}`);
    if (id === undefined) {
      log.warn({ leadId: e.leadId, ref: e.ref }, 'no task was created under this ref; nothing to change');
    } else if (e.kind === 'complete_task') {
      await amo.completeTask(id, e.resultText);
      run.count('PATCH /api/v4/tasks');
    } else {
      await amo.updateTask(id, {
        ...(e.dueAt !== undefined ? { complete_till: Math.floor(e.dueAt / 1000) } : {}),
        ...(e.text !== undefined ? { text: e.text } : {}),
        ...(e.userId !== undefined ? { responsible_user_id: e.userId } : {}),
      });
      run.count('PATCH /api/v4/tasks');
    }
  }
}

/** The common notes of leads whose resumed plans still have a note to add (one read per lead). */
async function readResumedNotes(env: ExecutorEnv, run: DrainRun, ready: Work[]): Promise<Map<number, Set<string>>> {
  const { amo } = env;
  const notesOnLead = new Map<number, Set<string>>();
  const ids = [
    ...new Set(
      ready.filter((w) => w.c.resumed && pendingOf(w, new Set(['add_note'])).length > 0).map((w) => w.c.plan.leadId),
    ),
  ];
  for (const leadId of ids) {
    try {
      const notes = await amo.listLeadNotes(leadId, ['common']);
      run.count('GET /api/v4/leads/notes');
      notesOnLead.set(
        leadId,
        new Set(notes.map((n) => String((n.params as { text?: unknown } | undefined)?.text ?? ''))),
      );
    } catch (err) {
      for (const w of ready.filter((x) => x.c.plan.leadId === leadId)) run.fail(w, err);
    }
  }
  return notesOnLead;
}

/** The open tasks of leads whose resumed plans still have a task to create (one read for all). */
async function readResumedTasks(env: ExecutorEnv, run: DrainRun, ready: Work[]): Promise<Map<number, OpenTask[]>> {
  const { amo } = env;
  const openTasks = new Map<number, OpenTask[]>();
  const ids = [
    ...new Set(
      ready.filter((w) => w.c.resumed && pendingOf(w, new Set(['create_task'])).length > 0).map((w) => w.c.plan.leadId),
    ),
  ];
  if (ids.length === 0) return openTasks;
  try {
    const tasks = await amo.listTasks({
      'filter[entity_type]': 'leads',
      'filter[entity_id]': ids,
      'filter[is_completed]': 0,
    });
    run.count('GET /api/v4/tasks');
    for (const t of tasks) {
      const list = openTasks.get(t.entity_id ?? 0) ?? [];
      list.push({ id: t.id, text: t.text ?? '', due: t.complete_till ?? 0 });
      openTasks.set(t.entity_id ?? 0, list);
    }
  } catch (err) {
    for (const w of ready.filter((x) => ids.includes(x.c.plan.leadId))) run.fail(w, err);
  }
  return openTasks;
}

/** amoCRM ids of the tasks earlier plans created under the refs these plans complete or move. */
async function knownTaskIds(env: ExecutorEnv, ready: Work[]): Promise<Map<string, number>> {
  const { store } = env;
  const taskIds = new Map<string, number>();
  const refs = [
    ...new Set(
      ready.flatMap((w) =>
        pendingOf(w, new Set(['complete_task', 'update_task'])).map(
          ([, e]) => `${e.leadId}|${(e as { ref: string }).ref}`,
        ),
      ),
    ),
  ];
  await Promise.all(
    refs.map(async (r) => {
      const [lead, ...ref] = r.split('|');
      const id = await store.taskId(Number(lead), ref.join('|'));
      if (id !== undefined) taskIds.set(r, id);
    }),
  );
  return taskIds;
}

/**
 * Records and messages describe what was done: only once the plan's amoCRM writes succeeded. In plan order
 * within a plan; plans side by side (a burst's 250 plans must not wait on each other's round trips).
 */
async function writeLocal(env: ExecutorEnv, run: DrainRun): Promise<void> {
  const { deps, metrics, ledger, shadow } = env;
  await Promise.all(
    run.works
      .filter((x) => x.error === undefined && !x.superseded)
      .map(async (w) => {
        for (const [i, e] of pendingOf(w, LOCAL)) {
          try {
            if (e.kind === 'record') {
              const id = await deps.records.append(
                shadow(w.c.plan.rule) ? { ...e.record, reason: `[shadow] ${e.record.reason}` } : e.record,
                e.dedupeId,
              );
              if (id !== undefined && !shadow(w.c.plan.rule)) countRecord(metrics, e.record);
              // Also for a deduplicated append: a plan retried after a crash between the two opens the entry once.
              if (!shadow(w.c.plan.rule)) await ledger.onRecord(e.record);
            } else if (e.kind === 'message' && !shadow(w.c.plan.rule)) await deps.outbox.push(e.message, e.dedupeId);
            w.done.add(i);
          } catch (err) {
            run.fail(w, err);
            break;
          }
        }
      }),
  );
}

/** Each plan ends done, dead-lettered (permanent, or out of attempts) or parked for a retry; then leases go. */
async function settle(env: ExecutorEnv, run: DrainRun, lease: number): Promise<PlanOutcome[]> {
  const { redis, keys, pendingKey, store, now } = env;
  const { works } = run;
  const finished = works.filter((w) => w.done.size >= w.c.plan.effects.length);
  const dead = works.filter(
    (w) => w.error !== undefined && !finished.includes(w) && (w.permanent === true || w.c.attempts + 1 >= MAX_ATTEMPTS),
  );
  const parked = works.filter((w) => !finished.includes(w) && !dead.includes(w));
  await finish(env, finished, now());
  const outcomes: PlanOutcome[] = finished.map((w) => ({
    kind: 'done',
    planId: w.c.plan.id,
    leadId: w.c.plan.leadId,
  }));
  for (const w of dead) outcomes.push(await deadLetter(env, w));
  // No done marker for a dead-lettered plan: after its state is reverted, the same decision may be tried again
  // (the next deadline), and it must not be taken for one already carried out.
  if (dead.length > 0) {
    await Promise.all(dead.map((w) => redis.hdel(keys.lead(w.c.plan.leadId), `intent:${w.c.plan.id}`)));
  }
  const retryAt = await park(env, parked, outcomes);
  const settledLeads = [...new Set([...finished, ...dead].map((w) => w.c.plan.leadId))].filter(
    (id) => !retryAt.has(id),
  );
  await releasePending(env, settledLeads, lease).catch(() => undefined);
  // The lease was renewed during the drain: release whatever score it has now when nothing is left.
  await Promise.all(
    settledLeads.map(async (leadId) => {
      if ((await store.pendingPlans(leadId)).length === 0) await redis.zrem(pendingKey, String(leadId));
    }),
  );
  return outcomes;
}

/** amoCRM refused for good: the plan goes to the dead letter, the operator is told once, its state is put back. */
async function deadLetter(env: ExecutorEnv, w: Work): Promise<PlanOutcome> {
  const { redis, keys, metrics, log, deadLetterKey, now } = env;
  const left = w.c.plan.effects.filter((_, i) => !w.done.has(i));
  const entry = {
    at: new Date(now()).toISOString(),
    planId: w.c.plan.id,
    rule: w.c.plan.rule,
    leadId: w.c.plan.leadId,
    reason: w.c.plan.reason,
    notDone: left,
    request: w.request,
    error: errorDetail(w.error),
    attempts: w.c.attempts + 1,
  };
  await redis
    .multi()
    .lpush(deadLetterKey, JSON.stringify(entry))
    .ltrim(deadLetterKey, 0, DEAD_LETTER_LIMIT - 1)
    .exec();
  metrics.effectsDeadLettered.inc({ rule: w.c.plan.rule });
  const alertKey = keys.of('effects', 'alerted', w.c.plan.leadId, w.c.plan.rule);
  if ((await redis.set(alertKey, '1', 'EX', 24 * 3600, 'NX')) === 'OK') {
    metrics.amoAlerts.inc({ kind: 'effect_dead_lettered' });
    log.error(
      { alert: 'effect_dead_lettered', ...entry },
      `ACTION NEEDED: amoCRM refused the robot's ${w.c.plan.rule} action on lead ${w.c.plan.leadId}; it is in ${deadLetterKey}`,
    );
  } else {
    log.warn({ ...entry }, 'effect dead-lettered (operator already alerted for this lead and rule)');
  }
  if (w.c.plan.revert) {
    const pipeline = redis.pipeline();
    for (const [field, value] of Object.entries(w.c.plan.revert)) {
      if (value === null) pipeline.hdel(keys.lead(w.c.plan.leadId), field);
      else pipeline.hset(keys.lead(w.c.plan.leadId), field, encodeLeadField(value));
    }
    await pipeline.exec();
  }
  return {
    kind: 'dead_lettered',
    planId: w.c.plan.id,
    leadId: w.c.plan.leadId,
    error: errorDetail(w.error).message as string,
  };
}

/** A transient failure: the intent keeps what was done and comes back after a backoff. Returns lead → retry time. */
async function park(env: ExecutorEnv, parked: Work[], outcomes: PlanOutcome[]): Promise<Map<number, number>> {
  const { redis, keys, metrics, log, pendingKey, now } = env;
  const retryAt = new Map<number, number>();
  for (const w of parked) {
    const attempts = w.c.attempts + 1;
    const at = now() + backoffMs(attempts - 1, w.error);
    retryAt.set(w.c.plan.leadId, Math.min(retryAt.get(w.c.plan.leadId) ?? Infinity, at));
    const intent: Intent = { plan: w.c.plan, done: [...w.done], attempts, createdAt: now() };
    await redis.hset(keys.lead(w.c.plan.leadId), `intent:${w.c.plan.id}`, JSON.stringify(intent));
    metrics.effectsParked.inc({ rule: w.c.plan.rule });
    log.warn(
      {
        planId: w.c.plan.id,
        leadId: w.c.plan.leadId,
        attempts,
        retryAt: new Date(at).toISOString(),
        err: errorDetail(w.error),
      },
      'plan parked for a retry',
    );
    outcomes.push({
      kind: 'parked',
      planId: w.c.plan.id,
      leadId: w.c.plan.leadId,
      retryAt: at,
      error: errorDetail(w.error).message as string,
    });
  }
  if (retryAt.size > 0) {
    const pipeline = redis.pipeline();
    for (const [leadId, at] of retryAt) pipeline.zadd(pendingKey, String(at), String(leadId));
    await pipeline.exec();
  }
  return retryAt;
}

/** Intents of leads nobody holds (a crashed worker's, or parked ones whose retry time came). */
async function resume(env: ExecutorEnv, leadIds?: number[], alreadyLeased = false): Promise<ExecuteReport> {
  const { redis, keys, pendingKey, store, now } = env;
  if (!leadIds || leadIds.length === 0) return { outcomes: [], requests: {} };
  const lease = now() + INTENT_LEASE_MS;
  const mine = alreadyLeased
    ? leadIds
    : (
        (await redis.eval(
          LEASE_LEADS,
          1,
          pendingKey,
          'free',
          String(lease),
          String(now()),
          ...leadIds.map(String),
        )) as string[]
      ).map(Number);
  const committed: Committed[] = [];
  for (const leadId of mine) {
    const fields = await redis.hgetall(keys.lead(leadId));
    for (const [f, v] of Object.entries(fields)) {
      if (!f.startsWith('intent:')) continue;
      const intent = JSON.parse(v) as Intent;
      committed.push({ plan: intent.plan, done: intent.done, attempts: intent.attempts, resumed: true });
    }
  }
  if (committed.length === 0) {
    for (const leadId of mine)
      if ((await store.pendingPlans(leadId)).length === 0) await redis.zrem(pendingKey, String(leadId));
    return { outcomes: [], requests: {} };
  }
  return drain(env, committed, lease);
}

export type Executor = ReturnType<typeof createExecutor>;
