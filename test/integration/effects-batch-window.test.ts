import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../src/amocrm/api/client.js';
import { createEffects, MIN_DUE_BATCH } from '../../src/effects/index.js';
import type { DueTimer } from '../../src/rules/plan.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

describe('due timers gather for the batch window', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  const setup = (windowMs: number) => {
    const prefix = uniquePrefix('window');
    prefixes.push(prefix);
    const keys = createKeys(prefix);
    const clock = createManualClock('2026-11-24T10:00:00Z');
    const batches: DueTimer[][] = [];
    const effects = createEffects({
      redis,
      keys,
      amo: {} as AmoClient,
      records: createRecordStore(redis, keys),
      outbox: createOutbox(redis, keys),
      clock,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
      batchWindowMs: () => windowMs,
    });
    effects.registerDueHandler('T', async (due) => {
      batches.push(due);
      return {};
    });
    const schedule = (n: number, dueAt: number, from = 0) =>
      effects.timers.schedule(
        Array.from({ length: n }, (_, i) => ({ rule: 'T', leadId: 1_000 + from + i, key: 'deadline', dueAt })),
      );
    return { effects, clock, batches, schedule };
  };

  it('when a few timers are due, then they wait until the oldest has waited the window, and go as one batch with those due meanwhile', async () => {
    const { effects, clock, batches, schedule } = setup(5_000);
    const t0 = clock.now().getTime();
    await schedule(3, t0);
    await schedule(4, t0 + 3_000, 3);

    clock.set(new Date(t0 + 4_000));
    expect(await effects.tick()).toEqual({ timers: 0, resumed: 0 });
    expect(batches).toHaveLength(0);

    clock.set(new Date(t0 + 5_000));
    expect(await effects.tick()).toEqual({ timers: 7, resumed: 0 });
    expect(batches.map((b) => b.length)).toEqual([7]);
  });

  it('when a full batch is due, then it goes at once without waiting the window', async () => {
    const { effects, clock, batches, schedule } = setup(5_000);
    const t0 = clock.now().getTime();
    await schedule(MIN_DUE_BATCH, t0);
    clock.set(new Date(t0 + 1));
    expect((await effects.tick()).timers).toBe(MIN_DUE_BATCH);
    expect(batches.map((b) => b.length)).toEqual([MIN_DUE_BATCH]);
  });

  it('when there is no window, then a single due timer goes at the next poll', async () => {
    const { effects, clock, batches, schedule } = setup(0);
    const t0 = clock.now().getTime();
    await schedule(1, t0);
    clock.set(new Date(t0 + 1));
    expect((await effects.tick()).timers).toBe(1);
    expect(batches).toHaveLength(1);
  });
});
