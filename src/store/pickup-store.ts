/** Per-lead pickup state (R1) and the set of deadlines waiting for a batched check. */
import type { Redis } from 'ioredis';
import { emptyPickupState, PickupStateSchema, type PickupState } from '../rules/types.js';
import type { Keys } from './keys.js';

export interface PickupStore {
  get(leadId: number): Promise<PickupState>;
  put(state: PickupState): Promise<void>;
  /** A deadline fired: the lead waits for the next batched re-read from amoCRM. */
  markDue(leadId: number, clock: number, at: number): Promise<void>;
  /** Deadlines due by `until`, oldest first. */
  due(until: number, limit: number): Promise<Array<{ leadId: number; clock: number }>>;
  clearDue(leadId: number, clock: number): Promise<void>;
}

export function createPickupStore(redis: Redis, keys: Keys): PickupStore {
  const dueKey = keys.of('pickup', 'due');
  return {
    async get(leadId) {
      const raw = await redis.get(keys.of('lead', leadId, 'pickup'));
      return raw === null ? emptyPickupState(leadId) : PickupStateSchema.parse(JSON.parse(raw));
    },
    async put(state) {
      await redis.set(keys.of('lead', state.leadId, 'pickup'), JSON.stringify(state));
    },
    async markDue(leadId, clock, at) {
      await redis.zadd(dueKey, String(at), `${leadId}:${clock}`);
    },
    async due(until, limit) {
      const members = await redis.zrangebyscore(dueKey, '-inf', String(until), 'LIMIT', 0, limit);
      return members.map((m) => {
        const [lead = '0', clock = '0'] = m.split(':');
        return { leadId: Number(lead), clock: Number(clock) };
      });
    },
    async clearDue(leadId, clock) {
      await redis.zrem(dueKey, `${leadId}:${clock}`);
    },
  };
}
