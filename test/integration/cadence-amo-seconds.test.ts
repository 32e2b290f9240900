/**
 * R3 at the timer against amoCRM's precision: amoCRM stamps call notes and events in whole seconds, the robot set
 * the task at a millisecond instant. A call logged in the task's own second answers that task; a call whose
 * telephony sent an empty status still counts by its duration. Real Redis and the executor; an in-memory amoCRM.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { loadRulesFile } from '../../src/config/load.js';
import { createEffects } from '../../src/effects/index.js';
import { createCadenceEngine } from '../../src/jobs/handlers/cadence.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { cadenceOnLeadEvent, RULE, TIMER_KEY } from '../../src/rules/cadence/cadence.js';
import { applyEvent, emptyLeadState } from '../../src/rules/lead-state.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createKeys } from '../../src/store/keys.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { CADENCE_STAGE, enterEvent, PIPELINE_ID } from '../helpers/cadence-driver.js';
import { createFakeAmo } from '../helpers/fake-amo.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules } from '../helpers/rules.js';

const ANNA = 9101;
const DAY = 24 * 3600_000;
let redis: Redis;
let rules: CompiledRules;
const prefix = uniquePrefix('cadence-seconds');

beforeAll(async () => {
  redis = connectTestRedis();
  const shipped = await loadRulesFile('config/rules.yaml');
  if (!shipped.ok) throw new Error(JSON.stringify(shipped.errors));
  rules = await demoRules((c) => {
    c.cadences = shipped.config.cadences;
  });
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

/** A lead in «Не дозвонились» whose first call task was set at 10:00:00.600 Moscow time on a Tuesday. */
async function leadWithTask(lead: number) {
  const keys = createKeys(`${prefix}:${lead}`);
  const clock = createManualClock('2026-11-24T07:00:00.600Z');
  const fake = createFakeAmo([{ id: lead, responsible: ANNA, statusId: CADENCE_STAGE, pipelineId: PIPELINE_ID }]);
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const records = createRecordStore(redis, keys);
  const outbox = createOutbox(redis, keys);
  const effects = createEffects({
    redis,
    keys,
    amo: fake.amo,
    records,
    outbox,
    clock,
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const cadence = createCadenceEngine({
    rules: () => rules,
    amo: fake.amo,
    leads: createLeadStore(redis, keys),
    effects,
    clock,
    logger,
  });
  effects.registerDueHandler(RULE, (due) => cadence.onDue(due));
  const now = clock.now().getTime();
  const event = enterEvent(lead, now, ANNA);
  const after = applyEvent(emptyLeadState(lead), event, clock.now().toISOString());
  await effects.executor.drain(
    await effects.executor.commit(
      cadenceOnLeadEvent({ before: undefined, after, event, state: undefined, ctx: { rules, now } }),
    ),
  );
  const createdAt = (await cadence.readState(lead))?.openTask?.createdAt;
  expect(createdAt).toBe(now);
  expect(fake.tasks).toHaveLength(1);
  /** amoCRM logs a call: its event and its note, stamped in whole seconds. */
  const call = (atSec: number, params: Record<string, unknown>): void => {
    fake.events.push({
      id: `call-${atSec}`,
      type: 'outgoing_call',
      entity_id: lead,
      entity_type: 'lead',
      created_by: ANNA,
      created_at: atSec,
    });
    fake.notes.push({
      id: fake.notes.length + 1,
      entity_id: lead,
      note_type: 'call_out',
      params,
      created_at: atSec,
      created_by: ANNA,
    });
  };
  /** A day past the task's due time: the timer that decides call_overdue. */
  const overdueTimer = async (): Promise<void> => {
    clock.set(new Date(fake.tasks[0]!.complete_till * 1000 + DAY + 60_000));
    await effects.timers.schedule([{ rule: RULE, leadId: lead, key: TIMER_KEY, dueAt: clock.now().getTime() }]);
    await effects.tick();
    await effects.executor.drain([]);
  };
  return { fake, records, outbox, cadence, createdAt: now, call, overdueTimer };
}

describe('R3 at the timer, at amoCRM precision', () => {
  it('when the answered call note is stamped in the same second the task was set, then the cadence stops on it: no call_overdue, no alert', async () => {
    const lead = 71;
    const t = await leadWithTask(lead);
    t.call(Math.floor(t.createdAt / 1000), { duration: 45, call_status: 4, phone: '+79990000000' });
    await t.overdueTimer();
    const kinds = (await t.records.forLead(lead)).map((r) => r.type ?? r.kind);
    expect(kinds).not.toContain('call_overdue');
    expect((await t.outbox.pending(100)).filter((m) => m.template === 'violation')).toHaveLength(0);
    expect((await t.cadence.readState(lead))?.status).toBe('stopped');
    expect((await t.cadence.readState(lead))?.stoppedBy).toBe('answered_call');
  });

  it('when the answered call came a second before the task was set, then it does not answer it: call_overdue (positive control)', async () => {
    const lead = 72;
    const t = await leadWithTask(lead);
    t.call(Math.floor(t.createdAt / 1000) - 1, { duration: 45, call_status: 4 });
    await t.overdueTimer();
    expect((await t.records.forLead(lead)).map((r) => r.type)).toContain('call_overdue');
  });

  it('when a 45 s outgoing call carries an empty call_status, then its duration counts and the cadence stops as answered', async () => {
    const lead = 73;
    const t = await leadWithTask(lead);
    t.call(Math.floor(t.createdAt / 1000) + 120, { duration: 45, call_status: '' });
    await t.overdueTimer();
    expect((await t.records.forLead(lead)).map((r) => r.type)).not.toContain('call_overdue');
    expect((await t.cadence.readState(lead))?.stoppedBy).toBe('answered_call');
  });
});
