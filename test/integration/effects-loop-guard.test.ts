/**
 * A due handler that keeps putting its timer back at or before now is a loop: the second such plan in a row is
 * refused (not carried out), dead-lettered with its plan, logged once as ACTION NEEDED, and its timer is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../src/amocrm/api/client.js';
import { createEffects } from '../../src/effects/index.js';
import { stalls } from '../../src/effects/loop-guard.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import type { DueTimer, Plan } from '../../src/rules/plan.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

describe('the timer loop guard', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  /** `next(n, now)`: when the handler's n-th call (from 1) puts the timer back. */
  const setup = (next: (n: number, now: number) => number) => {
    const prefix = uniquePrefix('loop');
    prefixes.push(prefix);
    const keys = createKeys(prefix);
    const clock = createManualClock('2026-11-24T10:00:00Z');
    const lines: Array<{ level: number; msg: string; alert?: string }> = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) },
    });
    const records = createRecordStore(redis, keys);
    const effects = createEffects({
      redis,
      keys,
      amo: {} as AmoClient,
      records,
      outbox: createOutbox(redis, keys),
      clock,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
    });
    let calls = 0;
    effects.registerDueHandler('L', async (due) => {
      calls += 1;
      const now = clock.now().getTime();
      const plans: Plan[] = due.map((d) => ({
        id: `L:${d.leadId}:${calls}`,
        rule: 'L',
        leadId: d.leadId,
        reason: 'check again',
        effects: [
          {
            kind: 'record',
            leadId: d.leadId,
            dedupeId: `L:${d.leadId}:${calls}`,
            record: {
              kind: 'action',
              type: 'check',
              at: new Date(now).toISOString(),
              leadId: d.leadId,
              rule: 'L',
              reason: `pass ${calls}`,
            },
          },
          { kind: 'schedule_timer', rule: 'L', leadId: d.leadId, key: 'k', dueAt: next(calls, now) },
        ],
      }));
      return { plans };
    });
    const pass = async (): Promise<void> => {
      await effects.tick();
      clock.advance(1_000);
    };
    return { effects, clock, keys, records, lines, pass, calls: () => calls };
  };

  it('when a handler puts its timer back at now on every pass, then the second such plan is refused, dead-lettered, logged once, and nothing runs after', async () => {
    const { effects, clock, keys, records, lines, pass, calls } = setup((_n, now) => now);
    await effects.timers.schedule([{ rule: 'L', leadId: 7, key: 'k', dueAt: clock.now().getTime() }]);
    for (let i = 0; i < 6; i++) await pass();

    expect(calls()).toBe(2);
    expect((await records.forLead(7)).map((r) => r.reason)).toEqual(['pass 1']);
    expect(await effects.timers.count()).toBe(0);
    const dead = (await redis.lrange(keys.of('effects', 'dead-letter'), 0, -1)).map(
      (x) => JSON.parse(x) as { planId: string; leadId: number; error: { class: string }; notDone: unknown[] },
    );
    expect(dead.map((d) => [d.planId, d.leadId, d.error.class, d.notDone.length])).toEqual([
      ['L:7:2', 7, 'TimerLoop', 2],
    ]);
    expect(lines.filter((l) => l.msg.startsWith('ACTION NEEDED')).map((l) => l.alert)).toEqual(['timer_loop']);
  });

  it('when a handler re-checks at now once and then moves the timer forward, every time, then nothing is refused (control)', async () => {
    const { effects, clock, keys, records, pass, calls } = setup((n, now) => (n % 2 === 1 ? now : now + 1_500));
    await effects.timers.schedule([{ rule: 'L', leadId: 8, key: 'k', dueAt: clock.now().getTime() }]);
    for (let i = 0; i < 8; i++) await pass();

    expect(calls()).toBeGreaterThanOrEqual(5);
    expect((await records.forLead(8)).length).toBe(calls());
    expect(await effects.timers.count()).toBe(1);
    expect(await redis.llen(keys.of('effects', 'dead-letter'))).toBe(0);
  });

  it('finds only the timers a plan puts back at or before now, not others of the lead or later ones', () => {
    const due: DueTimer[] = [{ rule: 'L', leadId: 1, key: 'k', dueAt: 0, attempts: 0 }];
    const plan = (key: string, dueAt: number, rule = 'L'): Plan => ({
      id: key,
      rule,
      leadId: 1,
      reason: '',
      effects: [{ kind: 'schedule_timer', rule, leadId: 1, key, dueAt }],
    });
    expect(
      stalls(due, [plan('k', 100), plan('k', 101), plan('other', 50), plan('k', 50, 'M')], 100).map((s) => s.plan.id),
    ).toEqual(['k']);
  });
});
