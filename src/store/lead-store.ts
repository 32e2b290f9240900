/**
 * Per-lead state in Redis. Changes to one lead are serialised with a short lock, so two workers
 * handling two events of the same lead never lose an update.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LeadStateSchema, type LeadState } from '../rules/lead-state.js';
import type { Keys } from './keys.js';

/** Long enough for a rule's amoCRM writes under the rate limit; a crashed holder frees the lead after this. */
export const LEAD_LOCK_MS = 30_000;

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class LeadLockedError extends Error {
  readonly retryable = true;
  readonly ourBug = false;
  constructor(readonly leadId: number) {
    super(`lead ${leadId} is being updated by another job`);
    this.name = 'LeadLockedError';
  }
}

export interface LeadStore {
  get(leadId: number): Promise<LeadState | undefined>;
  put(state: LeadState): Promise<void>;
  /** Runs `fn` holding the lead's lock; throws LeadLockedError when another job holds it. */
  withLock<T>(leadId: number, fn: () => Promise<T>): Promise<T>;
}

export function createLeadStore(redis: Redis, keys: Keys): LeadStore {
  return {
    async get(leadId) {
      const raw = await redis.get(keys.lead(leadId));
      if (raw === null) return undefined;
      return LeadStateSchema.parse(JSON.parse(raw));
    },
    async put(state) {
      await redis.set(keys.lead(state.leadId), JSON.stringify(state));
    },
    async withLock(leadId, fn) {
      const token = randomUUID();
      const ok = await redis.set(keys.leadLock(leadId), token, 'PX', LEAD_LOCK_MS, 'NX');
      if (ok !== 'OK') throw new LeadLockedError(leadId);
      try {
        return await fn();
      } finally {
        await redis.eval(RELEASE_SCRIPT, 1, keys.leadLock(leadId), token);
      }
    },
  };
}
