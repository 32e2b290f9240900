/**
 * Deadline burst against the simulator: N leads enter the pickup stage at once, are assigned (60-second clock,
 * bench/rules.burst.yaml), nobody takes them, and all their deadlines fall within the time the assignments took.
 * Measured from the simulator: amoCRM requests per reassigned lead during the burst (by endpoint), and the
 * lateness of each reassignment (the simulator's `entity_responsible_changed` time, 1 s resolution) after the
 * lead's deadline (its pickup state), p50/p99, beside the bound the rate limit explains: the burst's requests at
 * 7 per second. `tsx bench/burst.ts [leads…]` prints JSON.
 */
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { startRuntime } from '../src/runtime.js';
import { createSimulator } from '../sim/server.js';
import type { PickupState } from '../src/rules/types.js';
import type { PrivateRedis } from './lib/private-redis.js';

const TOKEN = 'bench-webhook-token-0123456789abcdef';
const SIM_TOKEN = 'bench-long-lived-token';
const STAGE = 'Передан в работу';

export interface BurstFigures {
  leads: number;
  reassigned: number;
  requests: number;
  requestsPerLead: number;
  byEndpoint: Record<string, number>;
  latenessP50Ms: number;
  latenessP99Ms: number;
  rateLimitBoundMs: number;
  deadlineSpreadMs: number;
  rateLimitViolations: number;
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs: number): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`burst: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function runBurstBench(redis: PrivateRedis, leads: number): Promise<BurstFigures> {
  const sim = createSimulator({ longLivedToken: SIM_TOKEN, webhookBatchWindowMs: 50, webhookRetryLadderMs: [500, 1000] });
  const simUrl = await sim.listen();
  const runtime = await startRuntime({
    service: { PORT: 0, HOST: '127.0.0.1', REDIS_URL: redis.url, REDIS_PREFIX: `burst${leads}`, ROLE: 'all', WEBHOOK_TOKEN: TOKEN, AMO_SUBDOMAIN: 'demo-realty', AMO_BASE_URL: simUrl, WORKER_CONCURRENCY: 8 },
    amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: 7 },
    rulesFile: 'bench/rules.burst.yaml',
    logger: createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  try {
    const url = await runtime.service.listen();
    sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${TOKEN}`]);
    const stage = sim.account.statusByName(STAGE).id;
    const created = Array.from({ length: leads }, (_, i) => sim.account.createLead({ name: `Заявка ${i + 1}`, statusId: stage, by: 0 }));
    const ids = created.map((l) => l.id);
    const pickups = runtime.pickup!.pickups;
    // All assigned and their clocks running.
    let states = new Map<number, PickupState>();
    await until(
      async () => {
        states = await pickups.many(ids);
        return [...states.values()].every((p) => p.phase === 'running' && p.deadlineAt !== undefined);
      },
      'every lead assigned',
      600_000,
    );
    const deadline = new Map([...states].map(([id, p]) => [id, p.deadlineAt ?? 0]));
    const first = new Map([...states].map(([id, p]) => [id, p.assignedUserId]));
    const deadlines = [...deadline.values()];
    const before = sim.stats();
    const changedAt = new Map<number, number>();
    await until(
      () => {
        for (const e of sim.account.events) {
          if (e.type !== 'entity_responsible_changed' || changedAt.has(e.entityId) || !deadline.has(e.entityId)) continue;
          const to = (e.valueAfter as Array<{ responsible_user?: { id?: number } }> | undefined)?.[0]?.responsible_user?.id;
          if (e.createdAt * 1000 >= (deadline.get(e.entityId) ?? 0) - 1000 && to !== first.get(e.entityId)) changedAt.set(e.entityId, e.createdAt * 1000);
        }
        return changedAt.size >= leads;
      },
      'every lead reassigned',
      Math.max(...deadlines) - Date.now() + 600_000,
    );
    const after = sim.stats();
    const byEndpoint: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.byEndpoint)) {
      const d = v - (before.byEndpoint[k] ?? 0);
      if (d > 0) byEndpoint[k] = d;
    }
    const requests = after.requests - before.requests;
    const lateness = [...changedAt].map(([id, at]) => Math.max(0, at - (deadline.get(id) ?? at)));
    return {
      leads,
      reassigned: changedAt.size,
      requests,
      requestsPerLead: +(requests / leads).toFixed(3),
      byEndpoint,
      latenessP50Ms: pct(lateness, 0.5),
      latenessP99Ms: pct(lateness, 0.99),
      rateLimitBoundMs: Math.round((requests / 7) * 1000),
      deadlineSpreadMs: Math.max(...deadlines) - Math.min(...deadlines),
      rateLimitViolations: after.rateLimitViolations,
    };
  } finally {
    await sim.webhooks.close();
    await runtime.close();
    await sim.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  try {
    for (const n of (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['300']).map(Number)) console.log(JSON.stringify(await runBurstBench(redis, n), null, 2));
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
