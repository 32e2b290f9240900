/**
 * Bytes of Redis per tracked lead. N leads go through the real code paths on a private Redis:
 * - one webhook delivery each through the receiver (raw body, deduplication key, BullMQ job), processed by the
 *   service's own worker with the effect executor, as in production (the lead's hash with its folded state and
 *   applied events; the raw body compacted; finished jobs trimmed by count);
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
import type { PrivateRedis } from './lib/private-redis.js';

export interface KeyFamily {
  family: string;
  keys: number;
  bytesPerLead: number;
  ttl: string;
}

export interface MemoryFigures {
  leads: number;
  /** How the leads were made: the real code paths, or copies of their keys (see `replicate`). */
  method: string;
  bytesPerLead: number;
  keysPerLead: number;
  families: KeyFamily[];
  seconds: number;
}

const TEAM: Candidate[] = [9101, 9102, 9103, 9104, 9105].map((userId, i) => ({
  userId,
  weight: i === 0 ? 2 : 1,
  cap: 1_000_000,
}));

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

export async function build(
  redis: PrivateRedis,
  leads: number,
): Promise<{ prefix: string; baseline: number; started: number }> {
  const started = Date.now();
  const admin = new Redis(redis.url);
  await admin.flushdb(); // the private benchmark Redis only
  const prefix = 'amo';
  const logger = createLogger({ level: 'silent' });
  const metrics = createMetrics({ defaultMetrics: false });
  const service = await startService(
    {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      ROLE: 'all',
      WEBHOOK_TOKEN: BENCH_TOKEN,
      AMO_SUBDOMAIN: 'bench',
      AMO_BASE_URL: undefined,
      WORKER_CONCURRENCY: 16,
    },
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
      payload: leadsStatusBody(1, id - 1_000_000).replace(
        /leads%5Bstatus%5D%5B0%5D%5Bid%5D=\d+/,
        `leads%5Bstatus%5D%5B0%5D%5Bid%5D=${id}`,
      ),
    });
    if (res.statusCode !== 200) throw new Error(`intake answered ${res.statusCode}: ${res.body}`);
  });
  // The worker folds every event into its lead's hash through the effect executor, as in production (the lead's
  // state and its applied events, committed together); finished jobs are trimmed by count.
  const distribution = createDistributionStore(service.redis, service.keys);
  const records = createRecordStore(service.redis, service.keys);
  const amo = {} as AmoClient; // no amoCRM write in these plans
  const effects = createEffects({
    redis: service.redis,
    keys: service.keys,
    amo,
    records,
    outbox: createOutbox(service.redis, service.keys),
    clock: service.clock,
    logger,
    metrics,
  });
  service.startWorkers({ effects });
  const events = service.queues.get('events');
  for (;;) {
    const c = await events.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(c).every((n) => n === 0)) break;
    await new Promise((r) => setTimeout(r, 250));
  }

  // The pick and the pickup plan, as the pickup engine makes them.
  const now = Date.now();
  await inBatches(ids, 32, (id) =>
    distribution.pick({
      pool: 'Отдел продаж 1',
      leadId: id,
      clock: 1,
      candidates: TEAM,
      strategy: 'smooth_weighted_round_robin',
    }),
  );
  for (let i = 0; i < ids.length; i += 250) {
    await effects.executor.execute(
      ids.slice(i, i + 250).map((id) => ({
        id: `R1:lead${id}:clock1:assigned`,
        rule: 'R1',
        leadId: id,
        reason: 'assigned',
        state: {
          pickup: {
            leadId: id,
            clock: 1,
            phase: 'running',
            department: 'Отдел продаж 1',
            assignedUserId: 9101,
            assignedAt: now,
            deadlineAt: now + 900_000,
            missedUserIds: [],
            misses: 0,
          },
        },
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
              explanation: {
                department: 'Отдел продаж 1',
                strategy: 'smooth_weighted_round_robin',
                candidates: TEAM.slice(0, 4),
                skipped: [{ userId: 9105, reason: 'off_shift' }],
                scores: { 9101: -3, 9102: 1, 9103: 1, 9104: 1 },
                winner: 9101,
              },
            },
          },
        ],
      })),
    );
  }

  await service.close();
  admin.disconnect();
  return { prefix, baseline, started };
}

/** `used_memory` above the empty service's per lead, and every key family with its share. */
async function measure(
  url: string,
  leads: number,
  built: { prefix: string; baseline: number; started: number },
  method: string,
): Promise<MemoryFigures> {
  const admin = new Redis(url);
  const { prefix, baseline } = built;
  const after = await usedMemory(admin);
  const families = await familiesOf(admin, prefix);
  const rows: KeyFamily[] = [];
  let totalKeys = 0;
  for (const [family, keys] of families) {
    totalKeys += keys.length;
    const sample = keys.filter((_, i) => i % Math.max(1, Math.floor(keys.length / 200)) === 0).slice(0, 200);
    let sum = 0;
    for (const k of sample) sum += Number((await admin.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
    const bytes = (sum / sample.length) * keys.length;
    rows.push({
      family,
      keys: keys.length,
      bytesPerLead: Math.round(bytes / leads),
      ttl: ttlText(await admin.ttl(keys[0] as string)),
    });
  }
  rows.sort((a, b) => b.bytesPerLead - a.bytesPerLead);
  admin.disconnect();
  return {
    leads,
    method,
    bytesPerLead: Math.round((after - baseline) / leads),
    keysPerLead: +(totalKeys / leads).toFixed(2),
    families: rows,
    seconds: Math.round((Date.now() - built.started) / 1000),
  };
}

async function familiesOf(admin: Redis, prefix: string): Promise<Map<string, string[]>> {
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
  return families;
}

/**
 * Grows the state of `real` leads built through the real code to `total` leads: every per-lead key is copied
 * (DUMP/RESTORE: same encoding, same value, same TTL) under a name of the same length with another lead id or
 * delivery hash; the shared keys get the copies' members (stream entries, timer members, load-set members).
 * Finished jobs and queue events are kept by count, so they are not copied. Redis does not share equal values
 * between keys, so the copies cost what N real leads of the same shape cost; it takes seconds where the real
 * paths take about a millisecond per lead per core.
 */
async function replicate(url: string, prefix: string, real: number, total: number): Promise<void> {
  const admin = new Redis(url);
  const copies = Math.ceil(total / real) - 1;
  const families = await familiesOf(admin, prefix);
  // A lead id 200dddd becomes 2<c>0dddd; a hash's first hex digit becomes c (same length, unique per copy).
  const rename = (key: string, c: number): string => {
    if (/(?<!\d)200\d{4}(?!\d)/.test(key)) return key.replace(/(?<!\d)200(\d{4})(?!\d)/, `2${c}0$1`);
    return key.replace(
      /([:-])([0-9a-f])([0-9a-f]{15,})/,
      (_m, sep: string, h: string, rest: string) => `${sep}${((parseInt(h, 16) + c) % 16).toString(16)}${rest}`,
    );
  };
  for (const [family, keys] of families) {
    // Per-lead families have a key per lead; shared keys and finished jobs (kept by count) are not copied.
    if (keys.length < real * 0.9 || family.includes(':events:evt-')) continue;
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const read = admin.pipeline();
      for (const k of chunk) read.dumpBuffer(k).pttl(k);
      const res = (await read.exec()) ?? [];
      const write = admin.pipeline();
      chunk.forEach((k, j) => {
        const dump = res[j * 2]?.[1] as Buffer | null;
        const ttl = Number(res[j * 2 + 1]?.[1] ?? -1);
        if (!dump) return;
        for (let c = 1; c <= copies; c++) write.restore(rename(k, c), ttl > 0 ? ttl : 0, dump);
      });
      await write.exec();
    }
    void family;
  }
  // The shared keys: the record stream's entries, the timer set's members, the load sets' members.
  const stream = `${prefix}:record`;
  const entries = (await admin.xrangeBuffer(stream, '-', '+')) as Array<[Buffer, Buffer[]]>;
  for (let c = 1; c <= copies; c++) {
    const pipe = admin.pipeline();
    for (const [, fields] of entries) pipe.xadd(stream, '*', ...(fields as unknown as string[]));
    await pipe.exec();
  }
  for (const [, keys] of families) {
    for (const key of keys) {
      const type = await admin.type(key);
      if (key.includes(':{timers}:due') && type === 'zset') {
        const members = await admin.zrange(key, 0, -1, 'WITHSCORES');
        const pipe = admin.pipeline();
        for (let i = 0; i < members.length; i += 2)
          for (let c = 1; c <= copies; c++) pipe.zadd(key, members[i + 1] as string, rename(members[i] as string, c));
        await pipe.exec();
      } else if (key.includes(':untaken:') && type === 'set') {
        const members = await admin.smembers(key);
        const pipe = admin.pipeline();
        for (const m of members) for (let c = 1; c <= copies; c++) pipe.sadd(key, rename(m, c));
        await pipe.exec();
      }
    }
  }
  admin.disconnect();
}

/**
 * Bytes per tracked lead at each size: the smallest size through the real code paths, the larger ones grown from
 * it by `replicate` (same shapes, more leads). Each figure is `used_memory` above the empty service's.
 */
export async function runMemoryBench(redis: PrivateRedis, sizes: number[]): Promise<MemoryFigures[]> {
  const sorted = [...sizes].sort((a, b) => a - b);
  const real = sorted[0] ?? 10_000;
  const built = await build(redis, real);
  const out = [await measure(redis.url, real, built, 'real code paths')];
  for (const n of sorted.slice(1)) {
    await replicate(redis.url, built.prefix, real, n);
    out.push(
      await measure(redis.url, n, built, `${real.toLocaleString('en')} through the real paths + copies of their keys`),
    );
  }
  const admin = new Redis(redis.url);
  await admin.flushdb();
  admin.disconnect();
  return out;
}

/** `tsx bench/memory.ts [leads…]` runs this part alone and prints its JSON. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  try {
    const sizes = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['10000', '100000']).map(Number);
    console.log(JSON.stringify(await runMemoryBench(redis, sizes), null, 2));
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
