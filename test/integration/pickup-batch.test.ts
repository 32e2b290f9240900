import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { AmoClient, EventsFilter } from '../../src/amocrm/api/client.js';
import type { ApiLead } from '../../src/amocrm/api/schemas.js';
import { createPickupEngine } from '../../src/jobs/handlers/pickup.js';
import { createQueues } from '../../src/jobs/queues.js';
import { createLogger } from '../../src/lib/logger.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createKeys } from '../../src/store/keys.js';
import { createLeadStore } from '../../src/store/lead-store.js';
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
        return ids.map((id): ApiLead => ({ id, responsible_user_id: 9101, status_id: STAGE, pipeline_id: PIPELINE, created_at: 1, updated_at: 1, _embedded: { tags: [] } }));
      },
      listEvents: async (filter: EventsFilter) => {
        calls.events.push(filter);
        // Half of the managers called in time.
        return leads.filter((_, i) => i % 2 === 0).map((id) => ({ id: `e${id}`, type: 'outgoing_call', entity_id: id, entity_type: 'lead', created_by: 9101, created_at: Math.floor(clock.now().getTime() / 1000) }));
      },
      updateLead: async () => {
        calls.updates += 1;
        return 1;
      },
      addLeadNote: async () => 1,
    } as unknown as AmoClient;
    const logger = createLogger({ level: 'silent' });
    const queues = createQueues({ connection: redis, prefix: createKeys(prefix).bullPrefix, logger });
    const engine = createPickupEngine({ rules: () => rules, amo, redis, keys, leads: createLeadStore(redis, keys), queues, records: createRecordStore(redis, keys), outbox: createOutbox(redis, keys), clock, logger, metrics: createMetrics({ defaultMetrics: false }) });

    const assignedAt = clock.now().getTime() - 15_000;
    for (const id of leads) {
      await engine.pickups.put({ leadId: id, clock: 1, phase: 'running', department: 'Отдел продаж 1', assignedUserId: 9101, assignedAt, deadlineAt: clock.now().getTime(), missedUserIds: [], misses: 0 });
      await engine.onDeadline({ leadId: id, clock: 1, dueAt: clock.now().toISOString() });
    }
    const result = await engine.onCheck({ bucket: 1 });

    expect(result.checked).toBe(30);
    expect(calls.leads).toEqual([leads]);
    expect(calls.events).toHaveLength(1);
    expect(calls.events[0]).toMatchObject({ entityType: 'lead', entityIds: leads });
    const phases = await Promise.all(leads.map(async (id) => (await engine.pickups.get(id)).phase));
    expect(phases.filter((p) => p === 'taken')).toHaveLength(15);
    expect(calls.updates).toBe(15); // the other 15 were reassigned
    await queues.close();
  });
});
