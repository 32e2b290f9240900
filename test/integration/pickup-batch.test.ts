import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { AmoClient, EventsFilter } from '../../src/amocrm/api/client.js';
import type { ApiLead } from '../../src/amocrm/api/schemas.js';
import { createEffects } from '../../src/effects/index.js';
import { createPickupEngine, DEADLINE_KEY, PICKUP_RULE } from '../../src/jobs/handlers/pickup.js';
import { createLogger } from '../../src/lib/logger.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createKeys } from '../../src/store/keys.js';
import { createDistributionStore } from '../../src/store/distribution-store.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createPickupStore } from '../../src/store/pickup-store.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules, PIPELINE, STAGE } from '../helpers/rules.js';

describe('deadline checks are batched', () => {
  let redis: Redis;
  const prefix = uniquePrefix('batch');
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when 30 deadlines fall in one window, then one leads request and one events request re-read them all', async () => {
    const rules = await demoRules();
    const keys = createKeys(prefix);
    const clock = createManualClock('2026-11-24T10:00:00Z');
    const calls = { leads: [] as number[][], events: [] as EventsFilter[], updates: 0 };
    const leads = Array.from({ length: 30 }, (_, i) => 700_000 + i * 2);
    const amo = {
      getLeadsByIds: async (ids: number[]) => {
        calls.leads.push(ids);
        return ids.map((id): ApiLead => ({
          id,
          responsible_user_id: 9101,
          status_id: STAGE,
          pipeline_id: PIPELINE,
          created_at: 1,
          updated_at: 1,
          _embedded: { tags: [] },
        }));
      },
      listEvents: async (filter: EventsFilter) => {
        calls.events.push(filter);
        // Half of the managers called in time.
        return leads
          .filter((_, i) => i % 2 === 0)
          .map((id) => ({
            id: `e${id}`,
            type: 'outgoing_call',
            entity_id: id,
            entity_type: 'lead',
            created_by: 9101,
            created_at: Math.floor(clock.now().getTime() / 1000),
          }));
      },
      updateLead: async () => {
        calls.updates += 1;
        return 1;
      },
      addLeadNote: async () => 1,
    } as unknown as AmoClient;
    const logger = createLogger({ level: 'silent' });
    const metrics = createMetrics({ defaultMetrics: false });
    const effects = createEffects({
      redis,
      keys,
      amo,
      records: createRecordStore(redis, keys),
      outbox: createOutbox(redis, keys),
      clock,
      logger,
      metrics,
    });
    const engine = createPickupEngine({
      rules: () => rules,
      amo,
      leads: createLeadStore(redis, keys),
      pickups: createPickupStore(redis, keys),
      distribution: createDistributionStore(redis, keys),
      effects,
      clock,
      logger,
    });
    effects.registerDueHandler(PICKUP_RULE, (due) => engine.onDue(due));

    const assignedAt = clock.now().getTime() - 15_000;
    await effects.executor.execute(
      leads.map((id) => ({
        id: `setup-${id}`,
        rule: 'test',
        leadId: id,
        reason: 'test setup: a running clock',
        state: {
          pickup: {
            leadId: id,
            clock: 1,
            phase: 'running',
            department: 'Отдел продаж 1',
            assignedUserId: 9101,
            assignedAt,
            deadlineAt: clock.now().getTime(),
            missedUserIds: [],
            misses: 0,
          },
        },
        effects: [
          {
            kind: 'schedule_timer' as const,
            rule: PICKUP_RULE,
            leadId: id,
            key: DEADLINE_KEY,
            dueAt: clock.now().getTime(),
          },
        ],
      })),
    );
    const result = await effects.tick();

    expect(result.timers).toBe(30);
    expect(calls.leads).toEqual([leads]);
    expect(calls.events).toHaveLength(1);
    expect(calls.events[0]).toMatchObject({ entityType: 'lead', entityIds: leads });
    const phases = await Promise.all(leads.map(async (id) => (await engine.pickups.get(id)).phase));
    expect(phases.filter((p) => p === 'taken')).toHaveLength(15);
    expect(calls.updates).toBe(15); // the other 15 were reassigned
    // Every deadline was settled: the taken ones removed, the reassigned ones moved to their new clock.
    expect(await effects.timers.count()).toBe(15);
  });
});
