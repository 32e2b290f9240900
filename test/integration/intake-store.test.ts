import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eligibleCandidates } from '../../src/rules/distribution/distribution.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createIntakeStore } from '../../src/store/intake-store.js';
import { createKeys } from '../../src/store/keys.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules } from '../helpers/rules.js';

const prefix = uniquePrefix('intake');
const redis = connectTestRedis();
const keys = createKeys(prefix);
let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('R2 pause and resume of intake (seed 002 §2.13, §3.10)', () => {
  it('when a РОП pauses a manager, then the manager is skipped as paused and both actions are records with who and why', async () => {
    const intake = createIntakeStore(redis, keys);
    const dept = rules.departments[0]!;
    const now = Date.parse('2026-11-24T10:00:00Z');
    const before = eligibleCandidates(dept, { rules, now, loads: new Map(), paused: await intake.list() }, new Set());
    expect(before.eligible.map((c) => c.userId)).toContain(9101); // positive control

    expect(
      await intake.pause(
        { kind: 'manager', userId: 9101 },
        { userId: 9100, name: 'Дмитрий Лебедев', reason: 'нарушение регламента', at: now },
      ),
    ).toBe(true);
    const paused = eligibleCandidates(dept, { rules, now, loads: new Map(), paused: await intake.list() }, new Set());
    expect(paused.eligible.map((c) => c.userId)).not.toContain(9101);
    expect(paused.skipped).toContainEqual({ userId: 9101, reason: 'paused', detail: 'нарушение регламента' });

    expect(
      await intake.resume(
        { kind: 'manager', userId: 9101 },
        { userId: 9100, name: 'Дмитрий Лебедев', reason: 'исправился', at: now + 1000 },
      ),
    ).toBe(true);
    expect(
      eligibleCandidates(dept, { rules, now, loads: new Map(), paused: await intake.list() }, new Set()).eligible.map(
        (c) => c.userId,
      ),
    ).toContain(9101);

    const records = await createRecordStore(redis, keys).range('2026-11-24T00:00:00Z', '2026-11-25T00:00:00Z');
    expect(records.map((r) => [r.kind, r.userId, r.rule])).toEqual([
      ['intake_paused', 9101, 'R2'],
      ['intake_resumed', 9101, 'R2'],
    ]);
    expect(records[0]!.reason).toContain('нарушение регламента');
  });

  it('when a whole department is paused, then every manager of it is skipped', async () => {
    const intake = createIntakeStore(redis, keys);
    const dept = rules.departments[0]!;
    await intake.pause(
      { kind: 'department', name: dept.name },
      { name: 'admin', reason: 'приостановка трафика', at: Date.parse('2026-11-24T11:00:00Z') },
    );
    const r = eligibleCandidates(
      dept,
      { rules, now: Date.parse('2026-11-24T11:00:00Z'), loads: new Map(), paused: await intake.list() },
      new Set(),
    );
    expect(r.eligible).toEqual([]);
    expect(r.skipped.filter((s) => s.reason === 'paused').length).toBe(
      dept.managers.filter((m) => rules.activeUserIds.has(m.userId)).length,
    );
  });
});
