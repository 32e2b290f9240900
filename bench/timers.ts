/**
 * Timers at scale, on a private Redis and the simulator (7 requests/second):
 *
 * 1. 100,000 live clocks in the one timer set, deadlines evenly over the 15-minute timeout (≈111 a second, as
 *    100,000 leads entering the stage within the timeout would give). For `BENCH_TIMERS_SECONDS` (60) the effects
 *    loop of one worker claims them by the production rule (the pickup batch window, PT5S; 50 due or the oldest
 *    waited the window; up to 250 a batch) and hands each batch to a handler that makes the amoCRM calls of a
 *    deadline check through the real client: one leads read and one events read per batch, then the PATCH and the
 *    note (the per-lead decision is measured by the burst benchmark). Lateness of the check = when its reads
 *    returned − the deadline, p50/p99, beside the bound: the batch window plus one batch's 4 requests at 7/s.
 * 2. The safety sweep of the pickup rule over 100,000 leads in the stage, each with a live clock (pickup state and
 *    deadline timer), through the real pickup engine: amoCRM requests (pages of 250 at bulk priority) and time,
 *    beside the bound the rate limit gives (pages at the 5 requests/second bulk work may use).
 * `tsx bench/timers.ts [clocks]` prints JSON.
 */
import { Redis } from 'ioredis';
import { createAmoClient } from '../src/amocrm/api/client.js';
import { compileRules } from '../src/config/compile.js';
import { loadRulesFile } from '../src/config/load.js';
import { createEffects } from '../src/effects/index.js';
import { createPickupEngine, DEADLINE_KEY, PICKUP_EVENT_TYPES, PICKUP_RULE } from '../src/jobs/handlers/pickup.js';
import { systemClock } from '../src/lib/clock.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { createDistributionStore } from '../src/store/distribution-store.js';
import { createKeys } from '../src/store/keys.js';
import { createLeadStore } from '../src/store/lead-store.js';
import { createOutbox } from '../src/store/outbox.js';
import { createPickupStore } from '../src/store/pickup-store.js';
import { createRecordStore } from '../src/store/record-store.js';
import { createSimulator } from '../sim/server.js';
import { seedDirectory } from '../sim/directory.js';
import type { PrivateRedis } from './lib/private-redis.js';

const SIM_TOKEN = 'bench-long-lived-token';
const RPS = 7;
const BULK_RPS = RPS - 2;
const TIMEOUT_MS = 15 * 60_000;
const TEAM = [9101, 9102, 9103, 9104];

export interface TimerFigures {
  clocks: number;
  seconds: number;
  checked: number;
  batches: number;
  requests: number;
  requestsPerLead: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  batchWindowMs: number;
  boundMs: number;
  /** Redis time of one claim from the full set (ms, median of the run's claims). */
  claimP50Ms: number;
  timerSetBytesPerClock: number;
  rateLimitViolations: number;
}

export interface SweepFigures {
  leads: number;
  requests: number;
  byEndpoint: Record<string, number>;
  seconds: number;
  boundSeconds: number;
  found: number;
  started: number;
  rescheduled: number;
  rateLimitViolations: number;
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function benchRules() {
  const loaded = await loadRulesFile('config/rules.demo.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = structuredClone(loaded.config);
  config.rules.pickup.batchWindow = 'PT5S';
  const compiled = compileRules(config, loaded.calendar, seedDirectory());
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.rules;
}

export async function runTimerBench(
  redis: PrivateRedis,
  clocks: number,
  seconds: number,
): Promise<{ timers: TimerFigures; sweep: SweepFigures }> {
  const sim = createSimulator({ longLivedToken: SIM_TOKEN, rps: RPS });
  const url = await sim.listen();
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const keys = createKeys(`timers${Date.now()}`);
  const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });
  const metrics = createMetrics({ defaultMetrics: false });
  const amo = createAmoClient({
    baseUrl: url,
    auth: { kind: 'long-lived', token: SIM_TOKEN },
    redis: conn,
    keyPrefix: keys.prefix,
    rps: RPS,
  });
  const rules = await benchRules();
  const windowMs = rules.pickup.batchWindowMs;
  try {
    const stage = sim.account.statusByName(rules.pickup.stageName);
    const ids: number[] = [];
    for (let i = 0; i < clocks; i++)
      ids.push(
        sim.account.createLead({
          name: `Заявка ${i + 1}`,
          statusId: stage.id,
          responsibleUserId: TEAM[i % TEAM.length] as number,
          by: 0,
        }).id,
      );
    // Their creation is not announced: encoding one webhook of 100,000 changes would hold the event loop for minutes.
    sim.webhooks.dropNext(1);

    // 1. The live clocks: pickup state in each lead's hash and its deadline in the timer set, written in bulk.
    const t0 = Date.now() + 5_000;
    const dueAt = (i: number): number => t0 + Math.floor((i * TIMEOUT_MS) / clocks);
    const effects = createEffects({
      redis: conn,
      keys,
      amo,
      records: createRecordStore(conn, keys),
      outbox: createOutbox(conn, keys),
      clock: systemClock,
      logger,
      metrics,
      batchWindowMs: () => windowMs,
    });
    for (let i = 0; i < ids.length; i += 2_000) {
      const pipe = conn.pipeline();
      for (let j = i; j < Math.min(ids.length, i + 2_000); j++) {
        const id = ids[j] as number;
        const user = TEAM[j % TEAM.length] as number;
        pipe.hset(
          keys.lead(id),
          'pickup',
          JSON.stringify({
            leadId: id,
            clock: 1,
            phase: 'running',
            department: 'Отдел продаж 1',
            assignedUserId: user,
            assignedAt: t0 - TIMEOUT_MS,
            deadlineAt: dueAt(j),
            missedUserIds: [],
            misses: 0,
          }),
        );
        pipe.zadd(keys.of('{timers}', 'due'), String(dueAt(j)), `${PICKUP_RULE}|${id}|${DEADLINE_KEY}`);
      }
      await pipe.exec();
    }
    const setBytes = Number(await conn.call('MEMORY', 'USAGE', keys.of('{timers}', 'due'), 'SAMPLES', '0'));

    const lateness: number[] = [];
    const claimMs: number[] = [];
    let batches = 0;
    const next = (user: number): number => TEAM[(TEAM.indexOf(user) + 1) % TEAM.length] as number;
    effects.registerDueHandler(PICKUP_RULE, async (due) => {
      batches += 1;
      const batch = due.map((d) => d.leadId);
      await Promise.all([
        amo.getLeadsByIds(batch, 'sla'),
        amo.listEvents(
          { entityType: 'lead', entityIds: batch, types: PICKUP_EVENT_TYPES, createdFrom: Math.floor(t0 / 1000) },
          'sla',
        ),
      ]);
      const checked = Date.now();
      for (const d of due) lateness.push(checked - d.dueAt);
      await Promise.all(
        batch.map((id, i) => amo.updateLead({ id, responsible_user_id: next(TEAM[i % TEAM.length] as number) }, 'sla')),
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
      return {};
    });
    // Claim cost against the full set, measured by Redis itself (SLOWLOG would need a threshold; TIME around it).
    const before = sim.stats();
    const end = t0 + seconds * 1000;
    while (Date.now() < t0) await sleep(50);
    const pollMs = Math.min(1_000, Math.max(100, Math.round(windowMs / 5)));
    while (Date.now() < end) {
      const c0 = performance.now();
      await effects.timers.backlog(Date.now());
      claimMs.push(performance.now() - c0);
      await effects.tick();
      await sleep(pollMs);
    }
    const after = sim.stats();
    const requests = after.requests - before.requests;
    const timers: TimerFigures = {
      clocks,
      seconds,
      checked: lateness.length,
      batches,
      requests,
      requestsPerLead: +(requests / Math.max(1, lateness.length)).toFixed(3),
      latenessP50Ms: Math.round(pct(lateness, 0.5)),
      latenessP99Ms: Math.round(pct(lateness, 0.99)),
      latenessMaxMs: Math.round(Math.max(...lateness)),
      batchWindowMs: windowMs,
      boundMs: windowMs + Math.round((4 / RPS) * 1000),
      claimP50Ms: +pct(claimMs, 0.5).toFixed(2),
      timerSetBytesPerClock: Math.round(setBytes / clocks),
      rateLimitViolations: after.rateLimitViolations - before.rateLimitViolations,
    };

    // 2. The safety sweep over every lead in the stage; every clock is live, so it only verifies.
    const engine = createPickupEngine({
      rules: () => rules,
      amo,
      leads: createLeadStore(conn, keys),
      pickups: createPickupStore(conn, keys),
      distribution: createDistributionStore(conn, keys),
      effects,
      clock: systemClock,
      logger,
    });
    // Timers handled above left the set; the sweep would restore them. Put them back so every clock is whole.
    const pipe = conn.pipeline();
    ids.forEach((id, j) =>
      pipe.zadd(keys.of('{timers}', 'due'), String(dueAt(j) + 3_600_000), `${PICKUP_RULE}|${id}|${DEADLINE_KEY}`),
    );
    await pipe.exec();
    const sweepBefore = sim.stats();
    const s0 = Date.now();
    const result = await engine.sweep();
    const sweepAfter = sim.stats();
    const byEndpoint: Record<string, number> = {};
    for (const [k, v] of Object.entries(sweepAfter.byEndpoint)) {
      const d = v - (sweepBefore.byEndpoint[k] ?? 0);
      if (d > 0) byEndpoint[k] = d;
    }
    const sweepRequests = sweepAfter.requests - sweepBefore.requests;
    const sweep: SweepFigures = {
      leads: clocks,
      requests: sweepRequests,
      byEndpoint,
      seconds: Math.round((Date.now() - s0) / 100) / 10,
      boundSeconds: Math.round((Math.ceil(clocks / 250) / BULK_RPS) * 10) / 10,
      found: result.found,
      started: result.started,
      rescheduled: result.rescheduled,
      rateLimitViolations: sweepAfter.rateLimitViolations - sweepBefore.rateLimitViolations,
    };
    return { timers, sweep };
  } finally {
    await amo.flush().catch(() => undefined);
    await conn.flushdb();
    conn.disconnect();
    await sim.webhooks.close();
    await sim.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  try {
    console.log(
      JSON.stringify(
        await runTimerBench(redis, Number(process.argv[2] ?? 100_000), Number(process.env.BENCH_TIMERS_SECONDS ?? 60)),
        null,
        2,
      ),
    );
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
