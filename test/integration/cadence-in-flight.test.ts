/**
 * R3's due timers and the robot's own writes in flight: a cadence timer that falls while the lead's previous
 * decision (its task, its note) is still being written must not read the lead yet. amoCRM may not show that task,
 * and the cadence would take it for missing. Real Redis and the executor; an in-memory amoCRM; fake time.
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
let redis: Redis;
let rules: CompiledRules;
const prefix = uniquePrefix('cadence-in-flight');

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

describe('R3 due timers with writes in flight', () => {
  it("when the cadence timer falls while the lead's last decision is still being written, then the lead is read only after that write has landed", async () => {
    const lead = 55;
    const keys = createKeys(prefix);
    const clock = createManualClock('2026-11-24T07:00:00.000Z'); // a Tuesday, 10:00 in Moscow
    const fake = createFakeAmo([{ id: lead, responsible: ANNA, statusId: CADENCE_STAGE, pipelineId: PIPELINE_ID }]);
    const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const effects = createEffects({
      redis,
      keys,
      amo: fake.amo,
      records: createRecordStore(redis, keys),
      outbox: createOutbox(redis, keys),
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

    // The lead enters «Не дозвонились»: the cadence starts (its state, the first task, a note, its timer). The plan
    // is committed, its writes not carried out yet.
    const now = clock.now().getTime();
    const event = enterEvent(lead, now, ANNA);
    const after = applyEvent(emptyLeadState(lead), event, clock.now().toISOString());
    const plans = cadenceOnLeadEvent({ before: undefined, after, event, state: undefined, ctx: { rules, now } });
    expect(plans.length).toBeGreaterThan(0);
    const committed = await effects.executor.commit(plans);
    expect((await cadence.readState(lead))?.timerAt).toBeDefined();

    // Its timer is due now, while those writes are still on their way.
    await effects.timers.schedule([{ rule: RULE, leadId: lead, key: TIMER_KEY, dueAt: now }]);
    await effects.tick();
    expect(fake.calls.leadsReads).toBe(0);
    expect(fake.tasks).toHaveLength(0);

    await effects.executor.drain(committed);
    expect(fake.tasks.length).toBeGreaterThan(0);
    // The landed plan set the cadence's own timer (the task's step time); once it falls, the lead is read.
    const timer = await effects.timers.get(RULE, lead, TIMER_KEY);
    expect(timer).toBeDefined();
    clock.advance(Math.max(3_000, timer! - clock.now().getTime()));
    await effects.tick();
    expect(fake.calls.leadsReads).toBe(1);
    expect(fake.calls.leadIdsRead.at(-1)).toEqual([lead]);
  });
});
