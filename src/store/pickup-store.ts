/** Per-lead pickup state (R1): the `pickup` field of the lead's hash. The executor writes it with its intents. */
import type { Redis } from 'ioredis';
import { emptyPickupState, PickupStateSchema, type PickupState } from '../rules/types.js';
import type { Keys } from './keys.js';
import { parseField } from './lead-store.js';

export const PICKUP_FIELD = 'pickup';

export interface PickupStore {
  get(leadId: number): Promise<PickupState>;
  many(leadIds: number[]): Promise<Map<number, PickupState>>;
}

export function createPickupStore(redis: Redis, keys: Keys): PickupStore {
  const parse = (leadId: number, raw: Buffer | null | undefined): PickupState =>
    parseField(raw, (v) => PickupStateSchema.parse(v)) ?? emptyPickupState(leadId);
  return {
    async get(leadId) {
      return parse(leadId, await redis.hgetBuffer(keys.lead(leadId), PICKUP_FIELD));
    },
    async many(leadIds) {
      // One command per lead, sent together (each lead's hash may sit on another Redis Cluster node).
      const res = await Promise.all(leadIds.map((id) => redis.hgetBuffer(keys.lead(id), PICKUP_FIELD)));
      return new Map(leadIds.map((id, i) => [id, parse(id, res[i])]));
    },
  };
}
