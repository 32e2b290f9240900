/**
 * Bytes of Redis per tracked lead. N leads go through the real code paths on a private Redis:
 * - one webhook delivery each through the receiver (raw body, deduplication key, BullMQ job), processed by the
 *   service's own worker (the lead's hash with its folded state; finished jobs trimmed by count);
 * - the pick that gives the lead a manager (distribution owner, answer, load set);
 * - one pickup plan through the effect executor: the pickup state in the lead's hash, a deadline timer, and the
 *   assignment record with its explanation (stream, per-lead id list, dedupe mark).
 * Then `used_memory` minus the empty service's, divided by N, and every key family (ids folded into <id>) with
 * its key count, sampled MEMORY USAGE, bytes per lead and the TTL of a sample key.
 * Outbox messages are left out: they leave Redis when the Telegram sender delivers them.
 */
import { Redis } from 'ioredis';
import { createEffects } from '../src/effects/index.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import type { AmoClient } from '../src/amocrm/api/client.js';
import { startService } from '../src/service.js';
import { createDistributionStore } from '../src/store/distribution-store.js';
import { createOutbox } from '../src/store/outbox.js';
import { createRecordStore } from '../src/store/record-store.js';
import type { Candidate } from '../src/rules/types.js';
import { BENCH_TOKEN, leadsStatusBody } from './intake.js';
import { commandCalls, type PrivateRedis } from './lib/private-redis.js';

export interface KeyFamily {
  family: string;
  keys: number;
  bytesPerLead: number;
  ttl: string;
}

export interface MemoryFigures {
  leads: number;
  bytesPerLead: number;
  keysPerLead: number;
  families: KeyFamily[];
  seconds: number;
}

const TEAM: Candidate[] = [9101, 9102, 9103, 9104, 9105].map((userId, i) => ({ userId, weight: i === 0 ? 2 : 1, cap: 1_000_000 }));

function familyOf(key: string, prefix: string): string {
  return key
    .slice(prefix.length)
    .replace(/\{\d+\}/g, '{<id>}')
    .replace(/\d{4}-\d{2}-\d{2}/g, '<day>')
    .replace(/[0-9a-f]{16,}(-[0-9a-z]+)?/g, '<hash>')
    .replace(/(?<![{<])\d+/g, '<n>')
    .replace(/^/, '<prefix>');
}

function ttlText(seconds: number): string {
  if (seconds === -1) return 'none';
  if (seconds === -2) return '—';
  if (seconds >= 86_400) return `${(seconds / 86_400).toFixed(1)} d`;
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${seconds} s`;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

export async function runMemoryBench(redis: PrivateRedis, leads: number): Promise<MemoryFigures> {
  const started = Date.now();
  const admin = new Redis(redis.url);
  await admin.flushdb(); // the private benchmark Redis only
  const prefix = 'amo';
  const logger = createLogger({ level: 'silent' });
  const metrics = createMetrics({ defaultMetrics: false });
  const service = await startService(
    { PORT: 0, HOST: '127.0.0.1', REDIS_URL: redis.url, REDIS_PREFIX: prefix, ROLE: 'all', WEBHOOK_TOKEN: BENCH_TOKEN, AMO_SUBDOMAIN: 'bench', AMO_BASE_URL: undefined, WORKER_CONCURRENCY: 16 },
    { logger, metrics },
  );
  const app = service.app!;
  // Let BullMQ's own keys (meta, id counters) and scripts settle before the baseline.
  await service.queues.get('events').waitUntilReady();
  const baseline = await usedMemory(admin);

  const ids = Array.from({ length: leads }, (_, i) => 2_000_000 + i);
  // The intake: one stage-change delivery per lead, answered 200 through the real route.
  await inBatches(ids, 32, async (id) => {
    const res = await app.inject({
      method: 'POST',
      url: `/webhooks/amocrm/${BENCH_TOKEN}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'amoCRM-Webhooks/3.0' },
      payload: leadsStatusBody(1, id - 1_000_000).replace(/leads%5Bstatus%5D%5B0%5D%5Bid%5D=\d+/, `leads%5Bstatus%5D%5B0%5D%5Bid%5D=${id}`),
    });
    if (res.statusCode !== 200) throw new Error(`intake answered ${res.statusCode}: ${res.body}`);
  });
  // The worker folds every event into its lead's hash; finished jobs are trimmed by count.
  service.startWorkers();
  const events = service.queues.get('events');
  for (;;) {
    const c = await events.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(c).every((n) => n === 0)) break;
    await new Promise((r) => setTimeout(r, 250));
  }

  // The pick and the pickup plan, as the pickup engine makes them.
  const distribution = createDistributionStore(service.redis, service.keys);
  const records = createRecordStore(service.redis, service.keys);
  const amo = {} as AmoClient; // no amoCRM write in these plans
  const effects = createEffects({ redis: service.redis, keys: service.keys, amo, records, outbox: createOutbox(service.redis, service.keys), clock: service.clock, logger, metrics });
  const now = Date.now();
  await inBatches(ids, 32, (id) => distribution.pick({ pool: 'Отдел продаж 1', leadId: id, clock: 1, candidates: TEAM, strategy: 'smooth_weighted_round_robin' }));
  for (let i = 0; i < ids.length; i += 250) {
    await effects.executor.execute(
      ids.slice(i, i + 250).map((id) => ({
        id: `R1:lead${id}:clock1:assigned`,
        rule: 'R1',
        leadId: id,
        reason: 'assigned',
        state: { pickup: { leadId: id, clock: 1, phase: 'running', department: 'Отдел продаж 1', assignedUserId: 9101, assignedAt: now, deadlineAt: now + 900_000, missedUserIds: [], misses: 0 } },
        effects: [
          { kind: 'schedule_timer' as const, rule: 'R1', leadId: id, key: 'deadline', dueAt: now + 900_000 },
          {
            kind: 'record' as const,
            leadId: id,
            dedupeId: `R1:lead${id}:clock1:assignment`,
            record: {
              kind: 'assignment' as const,
              at: new Date(now).toISOString(),
              leadId: id,
              userId: 9101,
              rule: 'R2',
              seed: 'seed 002 «Распределение заявок»',
              department: 'Отдел продаж 1',
              reason: 'Заявка передана менеджеру Иванову: его очередь по весам, он на смене и не превысил лимит',
              explanation: { department: 'Отдел продаж 1', strategy: 'smooth_weighted_round_robin', candidates: TEAM.slice(0, 4), skipped: [{ userId: 9105, reason: 'off_shift' }], scores: { 9101: -3, 9102: 1, 9103: 1, 9104: 1 }, winner: 9101 },
            },
          },
        ],
      })),
    );
  }

  await service.close();
  const after = await usedMemory(admin);
  const families = new Map<string, string[]>();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'COUNT', 5000);
    cursor = next;
    for (const k of keys) {
      const f = familyOf(k, prefix);
      const list = families.get(f) ?? [];
      list.push(k);
      families.set(f, list);
    }
  } while (cursor !== '0');
  const rows: KeyFamily[] = [];
  let totalKeys = 0;
  for (const [family, keys] of families) {
    totalKeys += keys.length;
    const sample = keys.filter((_, i) => i % Math.max(1, Math.floor(keys.length / 200)) === 0).slice(0, 200);
    let sum = 0;
    for (const k of sample) sum += Number((await admin.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
    const bytes = (sum / sample.length) * keys.length;
    rows.push({ family, keys: keys.length, bytesPerLead: Math.round(bytes / leads), ttl: ttlText(await admin.ttl(keys[0] as string)) });
  }
  rows.sort((a, b) => b.bytesPerLead - a.bytesPerLead);
  void commandCalls;
  await admin.flushdb();
  admin.disconnect();
  return { leads, bytesPerLead: Math.round((after - baseline) / leads), keysPerLead: +(totalKeys / leads).toFixed(2), families: rows, seconds: Math.round((Date.now() - started) / 1000) };
}

/** `tsx bench/memory.ts [leads…]` runs this part alone and prints its JSON. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  try {
    for (const n of (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['10000']).map(Number)) {
      console.log(JSON.stringify(await runMemoryBench(redis, n), null, 2));
    }
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
