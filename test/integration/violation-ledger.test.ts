/**
 * The violation ledger on real Redis: an entry is opened once however often its record is written, a change applies
 * only from the expected state (two decisions at once: one wins), a fixed condition cures an open violation, and a
 * period lists its entries.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { violationRef } from '../../src/rules/disputes/policy.js';
import type { RobotRecord } from '../../src/rules/plan.js';
import { createKeys } from '../../src/store/keys.js';
import { createViolationLedger, type ViolationLedger } from '../../src/store/violation-ledger.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

const violation = (leadId: number, at: string): RobotRecord => ({
  kind: 'violation',
  type: 'close_without_reason',
  rule: 'R5',
  at,
  leadId,
  userId: 9101,
  department: 'Отдел продаж 1',
  violationId: `close_without_reason:${leadId}:1`,
  reason: 'no reason within 10 min',
  evidence: { since: at, decidedAt: at, config: { withinMs: 600_000 }, events: [] },
});

describe('violation ledger', () => {
  let redis: Redis;
  let ledger: ViolationLedger;
  const prefix = uniquePrefix('ledger');
  beforeAll(() => {
    redis = connectTestRedis();
    ledger = createViolationLedger(redis, createKeys(prefix));
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when the same violation record is written three times, then one open entry with its evidence exists', async () => {
    const r = violation(1, '2026-12-01T10:00:00.000Z');
    const created = [await ledger.open(r), await ledger.open(r), await ledger.open(r)];
    expect(created).toEqual([true, false, false]);
    const e = await ledger.byId(r.violationId!);
    expect(e).toMatchObject({ ref: violationRef(r.violationId!), state: 'open', userId: 9101, leadId: 1 });
    expect(e?.evidence).toEqual({ since: r.at, decidedAt: r.at, config: { withinMs: 600_000 }, events: [] });
    expect(e?.history).toHaveLength(1);
  });

  it('when two decisions of one dispute arrive at once, then exactly one applies and the other sees the state', async () => {
    const r = violation(2, '2026-12-01T11:00:00.000Z');
    await ledger.open(r);
    const ref = violationRef(r.violationId!);
    const disputed = await ledger.change(ref, ['open'], {
      state: 'disputed',
      at: r.at,
      by: 'Анна',
      via: 'telegram',
      note: 'клиент просил',
    });
    expect(disputed.ok).toBe(true);
    const results = await Promise.all([
      ledger.change(ref, ['disputed'], { state: 'withdrawn', at: r.at, by: 'РОП 1', via: 'telegram' }),
      ledger.change(ref, ['disputed'], { state: 'upheld', at: r.at, by: 'РОП 2', via: 'widget' }),
    ]);
    expect(results.filter((x) => x.ok)).toHaveLength(1);
    const lost = results.find((x) => !x.ok);
    expect(lost).toMatchObject({ ok: false, why: 'state' });
    const final = await ledger.get(ref);
    expect(final?.history.map((c) => c.state)).toEqual(['open', 'disputed', final?.state]);
    expect(
      await ledger.change('0000000000000000', ['open'], { state: 'cured', at: r.at, by: 'robot', via: 'robot' }),
    ).toEqual({
      ok: false,
      why: 'missing',
    });
  });

  it('when the rule records the condition fixed, then an open violation is cured and a disputed one stays disputed', async () => {
    const open = violation(3, '2026-12-01T12:00:00.000Z');
    const contested = violation(4, '2026-12-01T12:30:00.000Z');
    await ledger.open(open);
    await ledger.open(contested);
    await ledger.change(violationRef(contested.violationId!), ['open'], {
      state: 'disputed',
      at: contested.at,
      by: 'a',
      via: 'widget',
      note: 'xxxxx',
    });
    for (const r of [open, contested])
      await ledger.onRecord({
        kind: 'action',
        type: 'violation_resolved',
        rule: 'R5',
        at: r.at,
        leadId: r.leadId,
        violationId: r.violationId!,
        reason: 'reason field filled',
      });
    const states = await ledger.states([open.violationId!, contested.violationId!, 'unknown:1:1']);
    expect([...states]).toEqual([
      [open.violationId, 'cured'],
      [contested.violationId, 'disputed'],
    ]);
    const listed = await ledger.range(Date.parse('2026-12-01T11:30:00Z'), Date.parse('2026-12-01T12:59:00Z'));
    expect(listed.map((e) => e.leadId)).toEqual([3, 4]);
  });
});
