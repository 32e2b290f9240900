/**
 * Per-lead state in Redis: one hash per lead (`<prefix>:lead:{<id>}`) holding the lead's folded webhook state
 * (field `state`), every rule's state (`pickup`, `cadence`, …), the effect executor's intents and task refs. The
 * states are stored deflated (src/store/lead-fields.ts).
 * Changes to one lead are serialised with a lock that is renewed while its holder works, so a holder waiting on
 * amoCRM's rate limit or back-off never loses it; a crashed holder frees the lead after LEAD_LOCK_MS.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LeadStateSchema, type LeadState } from '../rules/lead-state.js';
import type { Keys } from './keys.js';
import { decodeLeadField, encodeLeadField } from './lead-fields.js';

/** A crashed holder frees the lead after this; a live one renews it every third of it. */
export const LEAD_LOCK_MS = 15_000;
/** A lead's hash lives this long after its last write (the longest rule, R6 "Отложенный спрос", touches monthly). */
export const LEAD_TTL_SECONDS = 180 * 24 * 3600;

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

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
  /** Runs `fn` holding the lead's lock (renewed while it runs); throws LeadLockedError when another job holds it. */
  withLock<T>(leadId: number, fn: () => Promise<T>): Promise<T>;
}

/** A field of the lead's hash as stored (see lead-fields.ts), parsed; undefined when absent. */
export function parseField<T>(raw: Buffer | string | null | undefined, parse: (v: unknown) => T): T | undefined {
  const value = decodeLeadField(raw);
  return value === undefined ? undefined : parse(value);
}

export function createLeadStore(redis: Redis, keys: Keys, options: { lockMs?: number } = {}): LeadStore {
  const lockMs = options.lockMs ?? LEAD_LOCK_MS;
  return {
    async get(leadId) {
      return parseField(await redis.hgetBuffer(keys.lead(leadId), 'state'), (v) => LeadStateSchema.parse(v));
    },
    async put(state) {
      await redis
        .multi()
        .hset(keys.lead(state.leadId), 'state', encodeLeadField(state))
        .expire(keys.lead(state.leadId), LEAD_TTL_SECONDS)
        .exec();
    },
    async withLock(leadId, fn) {
      const token = randomUUID();
      const lockKey = keys.leadLock(leadId);
      const ok = await redis.set(lockKey, token, 'PX', lockMs, 'NX');
      if (ok !== 'OK') throw new LeadLockedError(leadId);
      const renew = setInterval(
        () => {
          redis.eval(RENEW_SCRIPT, 1, lockKey, token, String(lockMs)).catch(() => undefined);
        },
        Math.max(100, Math.floor(lockMs / 3)),
      );
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await redis.eval(RELEASE_SCRIPT, 1, lockKey, token);
      }
    },
  };
}
