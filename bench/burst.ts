/**
 * Deadline burst against the simulator: N untaken leads whose deadlines fall together, evenly over a spread
 * (300 within 20 s, 1,000 within 88 s), with the rules of bench/rules.burst.yaml (the production batch window
 * and sweep interval, a 60-second clock). Each lead sits in the pickup stage with a manager as its responsible; its
 * running clock (pickup state + deadline timer) is written through the effect executor exactly as the intake
 * leaves it, so the run measures the deadline path alone: claim, one leads and one events read per batch, the
 * decision under each lead's lock, the reassignment PATCH and the note, the records. Webhooks flow back from the
 * simulator to the service during the burst, as they would from amoCRM.
 *
 * Baseline, measured in the same run on a second simulator with the same deadlines: an ideal batching client that
 * keeps nothing in Redis and takes no lock. It claims due leads by the same rule (50 due, or the oldest has waited
 * the batch window; at most 250 a batch) and makes exactly one leads read, one events read, one PATCH and one notes
 * POST per batch through the same amoCRM client (same 7 requests/second limiter). An unbatched client would need
 * 4 requests per lead.
 *
 * Measured from the simulators: amoCRM requests per lead (by endpoint) from the first deadline until every lead is
 * reassigned and noted, and the lateness of each reassignment (the simulator's audit time of the PATCH, ms) after
 * the lead's deadline, p50/p99, beside the bound: the batch window plus the run's requests at 7 per second.
 * `tsx bench/burst.ts [leads:spreadSeconds…]` prints JSON (default 300:20 1000:88).
 */
import { Redis } from 'ioredis';
import { createAmoClient, type AmoClient } from '../src/amocrm/api/client.js';
import { createEffects, DUE_BATCH, MIN_DUE_BATCH } from '../src/effects/index.js';
import { systemClock } from '../src/lib/clock.js';
import { createKeys } from '../src/store/keys.js';
import { createOutbox } from '../src/store/outbox.js';
import { createRecordStore } from '../src/store/record-store.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { DEADLINE_KEY, PICKUP_EVENT_TYPES, PICKUP_RULE } from '../src/jobs/handlers/pickup.js';
import { startRuntime } from '../src/runtime.js';
import { createSimulator, type Simulator } from '../sim/server.js';
import type { PrivateRedis } from './lib/private-redis.js';

const TOKEN = 'bench-webhook-token-0123456789abcdef';
const SIM_TOKEN = 'bench-long-lived-token';
const STAGE = 'Передан в работу';
const RPS = 7;
/** Managers of «Отдел продаж 1» in the simulator (bench/rules.burst.yaml lists them). */
const TEAM = [9101, 9102, 9103, 9104];
/** The first deadline falls this long after the run starts: time to write the clocks and start the service. */
const leadTimeMs = (leads: number): number => 10_000 + leads * 25;

export interface BurstRun {
  reassigned: number;
  requests: number;
  requestsPerLead: number;
  /** Requests of the deadline path alone: every request but the safety sweep's pages of the stage. */
  deadlinePathRequestsPerLead: number;
  /** Batches (one events read each) and the safety sweep's leads pages among the leads reads. */
  batches: number;
  sweepPages: number;
  byEndpoint: Record<string, number>;
  /** Items per PATCH /api/v4/leads, smallest and largest. */
  patchItems: [number, number];
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  /** The run's own requests at 7 per second. */
  rateLimitMs: number;
  rateLimitViolations: number;
}

export interface BurstFigures {
  leads: number;
  spreadMs: number;
  batchWindowMs: number;
  service: BurstRun;
  ideal: BurstRun;
  /** Batch window + the service's requests at 7 per second. */
  boundMs: number;
  unbatchedRequestsPerLead: number;
  seconds: number;
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(fn: () => boolean, what: string, timeoutMs: number, progress: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  let said = Date.now();
  while (!fn()) {
    if (Date.now() > end) throw new Error(`burst: timed out waiting for ${what}: ${progress()}`);
    if (Date.now() - said > 10_000) {
      said = Date.now();
      process.stderr.write(`burst: waiting for ${what}: ${progress()}\n`);
    }
    await sleep(100);
  }
}

interface Setup {
  sim: Simulator;
  url: string;
  ids: number[];
  deadline: Map<number, number>;
  first: Map<number, number>;
}

/** N leads in the pickup stage, each with a manager; no webhook is sent for them (no destination yet). */
async function simWithLeads(leads: number): Promise<Setup> {
  const sim = createSimulator({
    longLivedToken: SIM_TOKEN,
    webhookBatchWindowMs: 50,
    webhookRetryLadderMs: [500, 1000],
    rps: RPS,
  });
  const url = await sim.listen();
  const stage = sim.account.statusByName(STAGE);
  const ids: number[] = [];
  const first = new Map<number, number>();
  for (let i = 0; i < leads; i++) {
    const user = TEAM[i % TEAM.length] as number;
    const lead = sim.account.createLead({
      name: `Заявка ${i + 1}`,
      statusId: stage.id,
      responsibleUserId: user,
      by: 0,
    });
    ids.push(lead.id);
    first.set(lead.id, user);
  }
  sim.webhooks.dropNext(1); // their creation is not announced: the clocks are written directly
  return { sim, url, ids, deadline: new Map(), first };
}

/** Waits for every lead's reassignment and note in the simulator's audit log and measures what it took. */
async function measure(
  s: Setup,
  seq0: number,
  before: ReturnType<Simulator['stats']>,
  timeoutMs: number,
): Promise<BurstRun> {
  const changedAt = new Map<number, number>();
  const noted = new Set<number>();
  const patchSizes: number[] = [];
  let seq = seq0;
  const scan = (): boolean => {
    for (const e of s.sim.audit.since(seq)) {
      seq = e.seq;
      if (!s.deadline.has(e.leadId)) continue;
      if (
        e.endpoint === 'PATCH /api/v4/leads' &&
        e.field === 'responsible_user_id' &&
        e.changed &&
        !changedAt.has(e.leadId)
      )
        changedAt.set(e.leadId, e.at);
      if (e.field === 'note') noted.add(e.leadId);
    }
    return changedAt.size >= s.ids.length && noted.size >= s.ids.length;
  };
  await until(
    scan,
    'every lead reassigned and noted',
    timeoutMs,
    () => `${changedAt.size} reassigned, ${noted.size} noted; ${JSON.stringify(s.sim.stats().byEndpoint)}`,
  );
  await sleep(500); // a request still in flight is counted
  const after = s.sim.stats();
  const byEndpoint: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byEndpoint)) {
    const d = v - (before.byEndpoint[k] ?? 0);
    if (d > 0) byEndpoint[k] = d;
  }
  // Items per PATCH: audit entries of one request share their time and come in a row.
  let run = 0;
  let last = -1;
  for (const e of s.sim.audit.since(seq0)) {
    if (e.endpoint !== 'PATCH /api/v4/leads' || e.field !== 'responsible_user_id') continue;
    if (e.at === last && run > 0) run += 1;
    else {
      if (run > 0) patchSizes.push(run);
      run = 1;
      last = e.at;
    }
  }
  if (run > 0) patchSizes.push(run);
  const requests = after.requests - before.requests;
  // Each batch reads leads once and events once; any other leads read is a page of the safety sweep.
  const batches = byEndpoint['GET /api/v4/events'] ?? 0;
  const sweepPages = Math.max(0, (byEndpoint['GET /api/v4/leads'] ?? 0) - batches);
  const lateness = [...changedAt].map(([id, at]) => at - (s.deadline.get(id) ?? at));
  return {
    reassigned: changedAt.size,
    requests,
    requestsPerLead: +(requests / s.ids.length).toFixed(3),
    deadlinePathRequestsPerLead: +((requests - sweepPages) / s.ids.length).toFixed(3),
    batches,
    sweepPages,
    byEndpoint,
    patchItems: [Math.min(...patchSizes), Math.max(...patchSizes)],
    latenessP50Ms: pct(lateness, 0.5),
    latenessP99Ms: pct(lateness, 0.99),
    latenessMaxMs: Math.max(...lateness),
    rateLimitMs: Math.round((requests / RPS) * 1000),
    rateLimitViolations: after.rateLimitViolations - before.rateLimitViolations,
  };
}

async function startService(redis: PrivateRedis, s: Setup, tag: string) {
  return startRuntime({
    service: {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_PREFIX: `burst${tag}`,
      ROLE: 'all',
      WEBHOOK_TOKEN: TOKEN,
      AMO_SUBDOMAIN: 'demo-realty',
      AMO_BASE_URL: s.url,
      WORKER_CONCURRENCY: 8,
    },
    amo: { baseUrl: s.url, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: RPS },
    rulesFile: 'bench/rules.burst.yaml',
    logger: createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
}

/**
 * The running clocks, written before the service starts (its safety sweep, which runs at start, must find them
 * complete, as it would find clocks the intake wrote), through an effect executor on the same Redis and prefix.
 */
async function writeClocks(redis: PrivateRedis, s: Setup, tag: string): Promise<void> {
  const conn = new Redis(redis.url);
  const keys = createKeys(`burst${tag}`);
  const logger = createLogger({ level: 'silent' });
  const effects = createEffects({
    redis: conn,
    keys,
    amo: {} as AmoClient,
    records: createRecordStore(conn, keys),
    outbox: createOutbox(conn, keys),
    clock: systemClock,
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const assignedAt = Date.now();
  const plans = s.ids.map((id) => {
    const deadlineAt = s.deadline.get(id) as number;
    return {
      id: `bench:${id}:assigned`,
      rule: 'bench',
      leadId: id,
      reason: 'assigned before the burst',
      state: {
        pickup: {
          leadId: id,
          clock: 1,
          phase: 'running',
          department: 'Отдел продаж 1',
          assignedUserId: s.first.get(id),
          assignedAt,
          deadlineAt,
          missedUserIds: [],
          misses: 0,
        },
      },
      effects: [
        { kind: 'schedule_timer' as const, rule: PICKUP_RULE, leadId: id, key: DEADLINE_KEY, dueAt: deadlineAt },
      ],
    };
  });
  for (let i = 0; i < plans.length; i += 250) await effects.executor.execute(plans.slice(i, i + 250));
  conn.disconnect();
}

async function serviceRun(
  runtime: Awaited<ReturnType<typeof startService>>,
  s: Setup,
  t0: number,
  spreadMs: number,
): Promise<BurstRun> {
  const url = await runtime.service.listen();
  if (Date.now() > t0)
    throw new Error(`burst: the service started ${Date.now() - t0} ms after the first deadline; raise the lead time`);
  // From now on amoCRM's webhooks (the robot's own reassignments among them) reach the service.
  s.sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${TOKEN}`]);
  const before = s.sim.stats();
  const seq0 = s.sim.audit.since(0).at(-1)?.seq ?? 0;
  return measure(s, seq0, before, spreadMs + 180_000);
}

async function idealRun(
  redis: PrivateRedis,
  s: Setup,
  windowMs: number,
  spreadMs: number,
  tag: string,
): Promise<BurstRun> {
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const amo = createAmoClient({
    baseUrl: s.url,
    auth: { kind: 'long-lived', token: SIM_TOKEN },
    redis: conn,
    keyPrefix: `ideal${tag}`,
    rps: RPS,
  });
  const before = s.sim.stats();
  const seq0 = s.sim.audit.since(0).at(-1)?.seq ?? 0;
  const pending = [...s.ids].sort((a, b) => (s.deadline.get(a) ?? 0) - (s.deadline.get(b) ?? 0));
  const next = (user: number): number => TEAM[(TEAM.indexOf(user) + 1) % TEAM.length] as number;
  const work = (async () => {
    while (pending.length > 0) {
      const now = Date.now();
      let due = 0;
      while (due < pending.length && (s.deadline.get(pending[due] as number) ?? 0) <= now) due += 1;
      const oldest = due > 0 ? (s.deadline.get(pending[0] as number) ?? now) : now;
      if (due === 0 || (due < MIN_DUE_BATCH && oldest > now - windowMs)) {
        await sleep(Math.max(100, Math.round(windowMs / 5)));
        continue;
      }
      const batch = pending.splice(0, Math.min(due, DUE_BATCH));
      await Promise.all([
        amo.getLeadsByIds(batch, 'sla'),
        amo.listEvents(
          {
            entityType: 'lead',
            entityIds: batch,
            types: PICKUP_EVENT_TYPES,
            createdFrom: Math.floor(now / 1000) - 120,
          },
          'sla',
        ),
      ]);
      await Promise.all(
        batch.map((id) => amo.updateLead({ id, responsible_user_id: next(s.first.get(id) as number) }, 'sla')),
      );
      await Promise.all(
        batch.map((id) =>
          amo.addLeadNote({
            entity_id: id,
            note_type: 'common',
            params: { text: 'Заявка передана другому менеджеру: не взята вовремя' },
          }),
        ),
      );
    }
  })();
  try {
    const run = await measure(s, seq0, before, spreadMs + 180_000);
    await work;
    return run;
  } finally {
    conn.disconnect();
  }
}

export async function runBurstBench(redis: PrivateRedis, leads: number, spreadMs: number): Promise<BurstFigures> {
  const started = Date.now();
  const tag = `${leads}-${started}`;
  const [ours, ideal] = [await simWithLeads(leads), await simWithLeads(leads)];
  // The same deadlines on both simulators: evenly over the spread, the first after the lead time.
  const t0 = Date.now() + leadTimeMs(leads);
  for (const s of [ours, ideal])
    s.ids.forEach((id, i) => s.deadline.set(id, t0 + Math.round((i * spreadMs) / Math.max(1, leads - 1))));
  await writeClocks(redis, ours, tag);
  const runtime = await startService(redis, ours, tag);
  try {
    // The ideal client claims by the service's own window.
    const windowMs = runtime.rules().pickup.batchWindowMs;
    const [service, baseline] = await Promise.all([
      serviceRun(runtime, ours, t0, spreadMs),
      idealRun(redis, ideal, windowMs, spreadMs, tag),
    ]);
    return {
      leads,
      spreadMs,
      batchWindowMs: windowMs,
      service,
      ideal: baseline,
      boundMs: windowMs + service.rateLimitMs,
      unbatchedRequestsPerLead: 4,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await ours.sim.webhooks.close();
    await runtime.close();
    await ours.sim.close();
    await ideal.sim.webhooks.close();
    await ideal.sim.close();
  }
}

export const BURSTS: Array<[number, number]> = [
  [300, 20_000],
  [1_000, 88_000],
];

if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  const sizes =
    process.argv.slice(2).length > 0
      ? process.argv
          .slice(2)
          .map((a) => a.split(':').map(Number) as [number, number])
          .map(([n, s]) => [n, s * 1000] as [number, number])
      : BURSTS;
  try {
    for (const [n, spread] of sizes) console.log(JSON.stringify(await runBurstBench(redis, n, spread), null, 2));
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
