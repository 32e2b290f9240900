import { afterAll, describe, expect, it } from '@jest/globals';
import type { AmoClient } from '../../src/amocrm/api/client.js';
import { createEffects } from '../../src/effects/index.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createKeys } from '../../src/store/keys.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createPickupStore } from '../../src/store/pickup-store.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { leadStateOf, runningPickupOf } from '../helpers/lead-fixtures.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

const state = leadStateOf;
const pickup = runningPickupOf;

describe("the lead's hash keeps its states deflated and still reads the plain JSON written before", () => {
  const redis = connectTestRedis();
  const prefix = uniquePrefix('leadhash');
  const keys = createKeys(prefix);
  const leads = createLeadStore(redis, keys);
  const pickups = createPickupStore(redis, keys);
  const records = createRecordStore(redis, keys);
  const { executor } = createEffects({
    redis,
    keys,
    amo: {} as AmoClient,
    records,
    outbox: createOutbox(redis, keys),
    clock: createManualClock('2026-11-24T10:00:00Z'),
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when the lead store writes a state, then Redis holds fewer than 100 bytes that are not JSON, and it reads back equal', async () => {
    await leads.put(state(11));
    const stored = (await redis.hgetBuffer(keys.lead(11), 'state'))!;
    expect(stored.length).toBeLessThan(100); // 444 bytes as JSON
    expect(() => JSON.parse(stored.toString('utf8'))).toThrow();
    expect(await leads.get(11)).toEqual(state(11));
  });

  it('when a plan commits rule states through the executor, then they are stored deflated, read back equal, and null deletes one', async () => {
    await executor.execute([
      {
        id: 'p1',
        rule: 'R1',
        leadId: 12,
        reason: 'test',
        state: { pickup: pickup(12), stage: { visit: 1, statusId: 7100005, enteredAt: 1795635922782 } },
        effects: [],
      },
    ]);
    const stored = (await redis.hgetBuffer(keys.lead(12), 'pickup'))!;
    expect(stored.length).toBeLessThan(50); // 193 bytes as JSON
    expect(() => JSON.parse(stored.toString('utf8'))).toThrow();
    expect(await pickups.get(12)).toEqual(pickup(12));
    expect(await executor.store.readState(12, ['pickup', 'stage', 'cadence'])).toEqual({
      pickup: pickup(12),
      stage: { visit: 1, statusId: 7100005, enteredAt: 1795635922782 },
    });

    await executor.execute([{ id: 'p2', rule: 'R1', leadId: 12, reason: 'test', state: { stage: null }, effects: [] }]);
    expect(await redis.hexists(keys.lead(12), 'stage')).toBe(0);
    expect(await pickups.get(12)).toEqual(pickup(12));
  });

  it('when a hash was written by the version before (plain JSON values), then every reader still reads it', async () => {
    await redis.hset(
      keys.lead(13),
      'state',
      JSON.stringify(state(13)),
      'pickup',
      JSON.stringify(pickup(13)),
      'cadence',
      JSON.stringify({ run: 1 }),
    );
    expect(await leads.get(13)).toEqual(state(13));
    expect(await pickups.get(13)).toEqual(pickup(13));
    expect((await pickups.many([13, 14])).get(13)).toEqual(pickup(13));
    expect(await executor.store.readState(13, ['cadence', 'pickup'])).toEqual({
      cadence: { run: 1 },
      pickup: pickup(13),
    });
  });
});

describe("the lead's hash keeps the done marks of its recent plans only", () => {
  const redis = connectTestRedis();
  const prefix = uniquePrefix('donemarks');
  const keys = createKeys(prefix);
  const clock = createManualClock('2026-11-24T10:00:00Z');
  const { executor } = createEffects({
    redis,
    keys,
    amo: {} as AmoClient,
    records: createRecordStore(redis, keys),
    outbox: createOutbox(redis, keys),
    clock,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });
  const plan = (leadId: number, n: number) => ({
    id: `R3:${leadId}:step${n}`,
    rule: 'R3',
    leadId,
    reason: 'a cadence step',
    effects: [
      { kind: 'schedule_timer' as const, rule: 'R3', leadId, key: 'step', dueAt: clock.now().getTime() + 3_600_000 },
    ],
  });
  const marks = async (leadId: number): Promise<string[]> =>
    (await redis.hkeys(keys.lead(leadId))).filter((f) => f.startsWith('done:')).sort();

  it('when a lead has had more plans than the marks kept, then the newest 32 stay and a re-decided recent plan is still not carried out twice', async () => {
    const lead = 21;
    for (let n = 1; n <= 40; n++) {
      await executor.execute([plan(lead, n)]);
      clock.advance(60_000);
    }
    const kept = await marks(lead);
    expect(kept).toHaveLength(32);
    expect(kept).not.toContain(`done:R3:${lead}:step8`);
    expect(kept).toContain(`done:R3:${lead}:step9`);
    expect(kept).toContain(`done:R3:${lead}:step40`);
    const again = await executor.commit([plan(lead, 40)]);
    expect(again).toHaveLength(0); // done: nothing to carry out
  });

  it('when a lead hash from before the bound holds thousands of marks, then the next finished plan trims them to 32', async () => {
    const lead = 23;
    const at = clock.now().getTime();
    const old: string[] = [];
    for (let n = 0; n < 9_000; n++) old.push(`done:R3:${lead}:legacy${n}`, String(at - n));
    await redis.hset(keys.lead(lead), ...old);
    await executor.execute([plan(lead, 1)]);
    const kept = await marks(lead);
    expect(kept).toHaveLength(32);
    expect(kept).toContain(`done:R3:${lead}:step1`);
    expect(kept).toContain(`done:R3:${lead}:legacy0`);
  });

  it('when a mark is older than 35 days, then the next finished plan of the lead drops it', async () => {
    const lead = 22;
    await executor.execute([plan(lead, 1)]);
    clock.advance(34 * 24 * 3600_000);
    await executor.execute([plan(lead, 2)]);
    expect(await marks(lead)).toEqual([`done:R3:${lead}:step1`, `done:R3:${lead}:step2`]);
    clock.advance(2 * 24 * 3600_000);
    await executor.execute([plan(lead, 3)]);
    expect(await marks(lead)).toEqual([`done:R3:${lead}:step2`, `done:R3:${lead}:step3`]);
  });
});
