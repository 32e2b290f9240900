/**
 * The РОП's «Переназначить» through the pickup engine: real Redis, the real executor and timer set, a fake amoCRM
 * and a clock moved by hand. The lead is handed to another manager without a miss or a violation for the first one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Plan } from '../../src/rules/plan.js';
import { DEADLINE_KEY, PICKUP_RULE } from '../../src/jobs/handlers/pickup.js';
import { createManualClock } from '../../src/lib/clock.js';
import type { CompiledRules, PickupState } from '../../src/rules/types.js';
import { createFakeAmo } from '../helpers/fake-amo.js';
import { wirePickup } from '../helpers/pickup-harness.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules, PIPELINE, STAGE } from '../helpers/rules.js';

const START = '2026-11-24T10:00:00Z'; // a Tuesday, 13:00 in Moscow: the department is on shift
const DEPT = 'Отдел продаж 1';
const FIRST = 9101;
const HEAD = 9100;

let redis: Redis;
let rules: CompiledRules;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = connectTestRedis();
  rules = await demoRules();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function harness(leadId: number, statusId = STAGE) {
  const prefix = uniquePrefix('head-reassign');
  prefixes.push(prefix);
  const clock = createManualClock(START);
  const fake = createFakeAmo([{ id: leadId, responsible: FIRST, statusId, pipelineId: PIPELINE }]);
  const { effects, engine, records, pickups } = wirePickup({
    redis,
    prefix,
    rules: () => rules,
    fake,
    clock,
    logger: pino({ level: 'silent' }),
  });
  return { clock, fake, effects, engine, records, pickups };
}

/** A clock running for FIRST, started 5 seconds ago, its deadline 10 seconds ahead. */
async function runningClock(h: ReturnType<typeof harness>, leadId: number): Promise<number> {
  const now = h.clock.now().getTime();
  const pickup: PickupState = {
    leadId,
    clock: 1,
    phase: 'running',
    department: DEPT,
    assignedUserId: FIRST,
    assignedAt: now - 5_000,
    deadlineAt: now + 10_000,
    missedUserIds: [],
    misses: 0,
  };
  const plan: Plan = {
    id: `setup-${leadId}`,
    rule: 'test',
    leadId,
    reason: 'setup',
    state: { pickup },
    effects: [{ kind: 'schedule_timer', rule: PICKUP_RULE, leadId, key: DEADLINE_KEY, dueAt: now + 10_000 }],
  };
  await h.effects.executor.execute([plan]);
  return now;
}

describe('the РОП reassigns a lead from Telegram', () => {
  it('when the clock runs for a manager, then the lead is written to another manager once, with no miss and no violation', async () => {
    const lead = 830_001;
    const h = harness(lead);
    const now = await runningClock(h, lead);

    const outcome = await h.engine.reassignByHead(lead, HEAD);

    expect(h.fake.calls.patches).toHaveLength(1);
    const to = h.fake.calls.patches[0]!.responsible_user_id;
    expect(outcome).toEqual({ changed: true, toUserId: to });
    expect(to).not.toBe(FIRST);
    expect([9102, 9103, 9104]).toContain(to);
    expect(h.fake.state.get(lead)!.responsible).toBe(to);
    const pickup = await h.pickups.get(lead);
    expect(pickup).toMatchObject({
      phase: 'running',
      clock: 2,
      assignedUserId: to,
      misses: 0,
      missedUserIds: [FIRST],
      deadlineAt: now + 15_000,
    });
    expect((await h.records.forLead(lead)).map((r) => r.kind)).toEqual(['reassignment']);
    const notes = h.fake.notes.filter((n) => n.entity_id === lead).map((n) => JSON.stringify(n.params));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('РОП Дмитрий Лебедев переназначил(а) клиента');
    expect(await h.effects.timers.get(PICKUP_RULE, lead, DEADLINE_KEY)).toBe(now + 15_000);

    // Pressed again: the new manager's clock is handed on too, never back to anyone already excluded.
    expect(await h.engine.reassignByHead(lead, HEAD)).toMatchObject({ changed: true });
    expect(h.fake.calls.patches).toHaveLength(2);
    expect([FIRST, to]).not.toContain(h.fake.calls.patches[1]!.responsible_user_id);
    expect(await h.pickups.get(lead)).toMatchObject({ misses: 0, missedUserIds: [FIRST, to] });
  });

  it('when the lead has left the pickup stage in amoCRM, then nothing is written', async () => {
    const lead = 830_002;
    const h = harness(lead, 7100010);
    await runningClock(h, lead);
    expect(await h.engine.reassignByHead(lead, HEAD)).toEqual({ changed: false, why: 'not_in_stage' });
    expect(h.fake.calls.patches).toHaveLength(0);
    expect(h.fake.notes).toHaveLength(0);
    expect(await h.records.forLead(lead)).toHaveLength(0);
  });
});
