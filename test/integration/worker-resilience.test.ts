import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { checkRedisDurability } from '../../src/lib/redis.js';
import { createQueues } from '../../src/jobs/queues.js';
import { createWorkers } from '../../src/jobs/worker.js';
import { createKeys } from '../../src/store/keys.js';
import type { WebhookEventJob } from '../../src/jobs/catalog.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger({ level: 'silent' });
const event = (n: number): WebhookEventJob => ({
  event: {
    kind: 'lead',
    action: 'status',
    leadId: n,
    short: true,
    tags: [],
    customFields: [],
    dedupeKey: `lead:${n}:resilience`,
    deliveryId: 'd',
    account: { subdomain: 'x' },
    receivedAt: new Date().toISOString(),
  },
});

describe('workers on real Redis and BullMQ', () => {
  const connections: Redis[] = [];
  const connect = (): Redis => {
    const r = connectTestRedis();
    connections.push(r);
    return r;
  };
  const prefix = uniquePrefix('workers');
  // BullMQ prefixes with the install's hash tag, as the service builds them (one slot per queue on a cluster).
  const bull = createKeys(prefix).bullPrefix;
  const bullClose = createKeys(`${prefix}-close`).bullPrefix;

  afterAll(async () => {
    await dropPrefix(connections[0] ?? connect(), prefix);
    for (const c of connections) c.disconnect();
  });

  it('when the worker process holding a job is killed, then another worker picks the job up within seconds', async () => {
    const queues = createQueues({ connection: connect(), prefix: bull, logger });
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/hanging-worker.ts', TEST_REDIS_URL, bull], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor(() => out.includes('ready'), 'the worker process', 20_000);
      await queues.add('webhook-event', event(1));
      await waitFor(() => out.includes('started'), 'the worker process to take the job', 10_000);
    } finally {
      child.kill('SIGKILL');
    }

    const done: number[] = [];
    const survivor = createWorkers({
      connection: connect(),
      prefix: bull,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      concurrency: 1,
      handlers: { 'webhook-event': async (data) => void done.push(data.event.kind === 'lead' ? data.event.leadId : 0) },
    });
    // BullMQ's defaults (30 s lock, 30 s stalled check) would take about a minute; ours take a few seconds.
    await waitFor(() => done.includes(1), 'the job to be taken over', 15_000);
    expect(done).toEqual([1]);
    await survivor.close();
    await queues.close();
  }, 60_000);

  it('when the service shuts down, then the job in hand finishes first', async () => {
    const queues = createQueues({ connection: connect(), prefix: bullClose, logger });
    let finished = false;
    let started = false;
    const workers = createWorkers({
      connection: connect(),
      prefix: bullClose,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      concurrency: 1,
      handlers: {
        'webhook-event': async () => {
          started = true;
          await new Promise((r) => setTimeout(r, 400));
          finished = true;
        },
      },
    });
    await queues.add('webhook-event', event(2));
    await waitFor(() => started, 'job start');
    await workers.close();
    expect(finished).toBe(true);
    await queues.close();
  });

  it('when Redis may evict keys or has no persistence, then the start warns loudly', async () => {
    const fake = {
      config: async (_: string, key: string) => [
        key,
        key === 'maxmemory-policy' ? 'allkeys-lru' : key === 'appendonly' ? 'no' : '',
      ],
    } as unknown as Redis;
    const warnings = await checkRedisDurability(fake, logger);
    expect(warnings.join('\n')).toMatch(/noeviction/);
    expect(warnings.join('\n')).toMatch(/no persistence/);
    const ok = {
      config: async (_: string, key: string) => [
        key,
        key === 'maxmemory-policy' ? 'noeviction' : key === 'appendonly' ? 'yes' : '',
      ],
    } as unknown as Redis;
    expect(await checkRedisDurability(ok, logger)).toEqual([]);
  });
});
