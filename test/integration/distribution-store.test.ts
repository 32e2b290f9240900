import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { smoothWeightedRoundRobin } from '../../src/rules/distribution/distribution.js';
import type { Candidate } from '../../src/rules/types.js';
import { createDistributionStore } from '../../src/store/distribution-store.js';
import { createKeys } from '../../src/store/keys.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

describe('atomic distribution in Redis', () => {
  let a: Redis;
  let b: Redis;
  const prefix = uniquePrefix('dist');
  const keys = createKeys(prefix);

  beforeAll(() => {
    a = connectTestRedis();
    b = connectTestRedis();
  });
  afterAll(async () => {
    await dropPrefix(a, prefix);
    a.disconnect();
    b.disconnect();
  });

  const team: Candidate[] = [
    { userId: 9101, weight: 2, cap: 1_000_000 },
    { userId: 9102, weight: 1, cap: 1_000_000 },
    { userId: 9103, weight: 1, cap: 1_000_000 },
    { userId: 9104, weight: 1, cap: 1_000_000 },
  ];

  it('when 10,000 leads are picked through the script, then shares are within 1% and the sequence equals the pure SWRR', async () => {
    const store = createDistributionStore(a, keys);
    let current: Record<string, number> = {};
    const counts = new Map<number, number>();
    for (let lead = 1; lead <= 10_000; lead++) {
      const picked = await store.pick({
        pool: 'shares',
        leadId: lead,
        clock: 1,
        candidates: team,
        strategy: 'smooth_weighted_round_robin',
      });
      const reference = smoothWeightedRoundRobin(current, team);
      current = reference.next;
      expect(picked.winner).toBe(reference.winner);
      counts.set(picked.winner!, (counts.get(picked.winner!) ?? 0) + 1);
    }
    expect(Math.abs(counts.get(9101)! / 10_000 - 0.4)).toBeLessThan(0.01);
    for (const id of [9102, 9103, 9104]) expect(Math.abs(counts.get(id)! / 10_000 - 0.2)).toBeLessThan(0.01);
  }, 60_000);

  it('when two workers pick 200 leads at once, then no turn is given twice and the shares are those of one sequential queue', async () => {
    const s1 = createDistributionStore(a, keys);
    const s2 = createDistributionStore(b, keys);
    const picks = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? s1 : s2).pick({
          pool: 'race',
          leadId: 100_000 + i,
          clock: 1,
          candidates: team,
          strategy: 'smooth_weighted_round_robin',
        }),
      ),
    );
    const counts = new Map<number, number>();
    for (const p of picks) counts.set(p.winner!, (counts.get(p.winner!) ?? 0) + 1);
    // 200 sequential SWRR turns over weights 2:1:1:1 give exactly 80/40/40/40.
    expect([...counts.entries()].sort()).toEqual([
      [9101, 80],
      [9102, 40],
      [9103, 40],
      [9104, 40],
    ]);
  });

  it('when a pick for the same lead and clock is retried, then it returns the same manager without taking a turn', async () => {
    const store = createDistributionStore(a, keys);
    const first = await store.pick({
      pool: 'retry',
      leadId: 7,
      clock: 3,
      candidates: team,
      strategy: 'smooth_weighted_round_robin',
    });
    const again = await store.pick({
      pool: 'retry',
      leadId: 7,
      clock: 3,
      candidates: team,
      strategy: 'smooth_weighted_round_robin',
    });
    const next = await store.pick({
      pool: 'retry',
      leadId: 8,
      clock: 1,
      candidates: team,
      strategy: 'smooth_weighted_round_robin',
    });
    expect(again.winner).toBe(first.winner);
    expect(next.winner).not.toBe(first.winner);
  });

  it('when managers reach their cap, then they are skipped, and released leads free the cap again', async () => {
    const store = createDistributionStore(a, keys);
    const small: Candidate[] = [
      { userId: 1, weight: 1, cap: 1 },
      { userId: 2, weight: 1, cap: 1 },
    ];
    const w1 = await store.pick({
      pool: 'cap',
      leadId: 20_501,
      clock: 1,
      candidates: small,
      strategy: 'smooth_weighted_round_robin',
    });
    const w2 = await store.pick({
      pool: 'cap',
      leadId: 20_502,
      clock: 1,
      candidates: small,
      strategy: 'smooth_weighted_round_robin',
    });
    const none = await store.pick({
      pool: 'cap',
      leadId: 20_503,
      clock: 1,
      candidates: small,
      strategy: 'smooth_weighted_round_robin',
    });
    expect(new Set([w1.winner, w2.winner])).toEqual(new Set([1, 2]));
    expect(none.winner).toBeUndefined();
    await store.release(20_501);
    await store.release(20_501);
    expect((await store.loads([1, 2])).get(w1.winner!)).toBe(0);
    const after = await store.pick({
      pool: 'cap',
      leadId: 20_503,
      clock: 2,
      candidates: small,
      strategy: 'smooth_weighted_round_robin',
    });
    expect(after.winner).toBe(w1.winner);
  });

  it('when the strategy is least-loaded, then the manager with the fewest untaken leads per weight wins', async () => {
    const store = createDistributionStore(a, keys);
    const people: Candidate[] = [
      { userId: 11, weight: 1, cap: 10 },
      { userId: 12, weight: 1, cap: 10 },
    ];
    await store.hold(20_900, 11);
    const p = await store.pick({ pool: 'll', leadId: 20_901, clock: 1, candidates: people, strategy: 'least_loaded' });
    expect(p.winner).toBe(12);
  });

  it('when a lead held by one manager is picked for another, then it leaves the first load set, its answer (in the owner key, no key of its own) lasts a day and its owner entry 30 days', async () => {
    const store = createDistributionStore(a, keys);
    await store.hold(30_001, 21);
    expect(Object.fromEntries(await store.loads([21, 22]))).toEqual({ 21: 1, 22: 0 });
    // The store first assumes no owner; the script reports manager 21 and the pick is redone with 21's set.
    const before = Math.floor(Date.now() / 1000);
    const picked = await store.pick({
      pool: 'move',
      leadId: 30_001,
      clock: 2,
      candidates: [{ userId: 22, weight: 1, cap: 5 }],
      strategy: 'smooth_weighted_round_robin',
    });
    expect(picked.winner).toBe(22);
    expect(Object.fromEntries(await store.loads([21, 22]))).toEqual({ 21: 0, 22: 1 });
    expect(await a.exists(keys.dist('answer', 30_001, 2))).toBe(0);
    const [owner, clock, expires] = ((await a.get(keys.dist('owner', 30_001))) ?? '').split('|');
    expect([owner, clock]).toEqual(['22', '2']);
    expect(Number(expires)).toBeGreaterThanOrEqual(before + 24 * 3600);
    expect(Number(expires)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 24 * 3600);
    const ttl = await a.ttl(keys.dist('owner', 30_001));
    expect(ttl).toBeGreaterThan(29 * 24 * 3600);
    expect(ttl).toBeLessThanOrEqual(30 * 24 * 3600);
    await store.release(30_001);
    expect(Object.fromEntries(await store.loads([21, 22]))).toEqual({ 21: 0, 22: 0 });
    // Released: no owner; the answer stays until its day is over, so a retried pick of clock 2 still gets 22 and
    // counts nothing.
    expect((await a.get(keys.dist('owner', 30_001)))?.startsWith('|2|')).toBe(true);
    const left = await a.ttl(keys.dist('owner', 30_001));
    expect(left).toBeGreaterThan(23 * 3600);
    expect(left).toBeLessThanOrEqual(24 * 3600);
    const retried = await store.pick({
      pool: 'move',
      leadId: 30_001,
      clock: 2,
      candidates: [{ userId: 21, weight: 1, cap: 5 }],
      strategy: 'smooth_weighted_round_robin',
    });
    expect(retried.winner).toBe(22);
    expect(Object.fromEntries(await store.loads([21, 22]))).toEqual({ 21: 0, 22: 0 });
    // Positive control: a new clock is a new pick.
    const next = await store.pick({
      pool: 'move',
      leadId: 30_001,
      clock: 3,
      candidates: [{ userId: 21, weight: 1, cap: 5 }],
      strategy: 'smooth_weighted_round_robin',
    });
    expect(next.winner).toBe(21);
    expect(Object.fromEntries(await store.loads([21, 22]))).toEqual({ 21: 1, 22: 0 });
  });

  it('when the answer in the owner key is over a day old, then the same clock is picked again', async () => {
    const store = createDistributionStore(a, keys);
    const past = Math.floor(Date.now() / 1000) - 1;
    await a.sadd(keys.dist('untaken', 23), '30002');
    await a.set(keys.dist('owner', 30_002), `23|1|${past}|["23","{}"]`, 'EX', 3600);
    const picked = await store.pick({
      pool: 'expired',
      leadId: 30_002,
      clock: 1,
      candidates: [{ userId: 24, weight: 1, cap: 5 }],
      strategy: 'smooth_weighted_round_robin',
    });
    expect(picked.winner).toBe(24);
    expect(Object.fromEntries(await store.loads([23, 24]))).toEqual({ 23: 0, 24: 1 });
  });

  it('when an owner and an answer were written by the version before (owner alone, answer in its own key), then both are honoured', async () => {
    const store = createDistributionStore(a, keys);
    await a.sadd(keys.dist('untaken', 25), '30003');
    await a.set(keys.dist('owner', 30_003), '25', 'EX', 3600);
    await a.set(keys.dist('answer', 30_003, 4), JSON.stringify(['25', '{"25":0}']), 'EX', 3600);
    expect(
      await store.pick({
        pool: 'old',
        leadId: 30_003,
        clock: 4,
        candidates: [{ userId: 26, weight: 1, cap: 5 }],
        strategy: 'smooth_weighted_round_robin',
      }),
    ).toEqual({ winner: 25, scores: { 25: 0 } });
    // A new clock: the old owner's load set is left for the winner's.
    expect(
      (
        await store.pick({
          pool: 'old',
          leadId: 30_003,
          clock: 5,
          candidates: [{ userId: 26, weight: 1, cap: 5 }],
          strategy: 'smooth_weighted_round_robin',
        })
      ).winner,
    ).toBe(26);
    expect(Object.fromEntries(await store.loads([25, 26]))).toEqual({ 25: 0, 26: 1 });
    await store.release(30_003);
    expect(Object.fromEntries(await store.loads([25, 26]))).toEqual({ 25: 0, 26: 0 });
    // An old owner value (no answer) is released by deleting it.
    await a.sadd(keys.dist('untaken', 25), '30004');
    await a.set(keys.dist('owner', 30_004), '25', 'EX', 3600);
    await store.hold(30_004, 26);
    expect(await a.get(keys.dist('owner', 30_004))).toBe('26');
    await store.release(30_004);
    expect(await a.exists(keys.dist('owner', 30_004))).toBe(0);
    expect(Object.fromEntries(await store.loads([25, 26]))).toEqual({ 25: 0, 26: 0 });
  });
});
