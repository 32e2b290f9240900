/**
 * What the webhook path writes to Redis before it acknowledges: the raw body (audit and replay),
 * the dedupe claims of its events, and the dead-letter list of invalid items.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** Raw bodies are kept long enough to replay a week of deliveries and investigate complaints. */
export const RAW_BODY_TTL_SECONDS = 14 * 24 * 3600;
/**
 * Full-form events carry amoCRM's own timestamp, so a long window is safe: it outlives amoCRM's retry ladder
 * (minutes to an hour). Digital Pipeline short forms carry no timestamp: the same transition made again later
 * is a new event, so their window is short and only absorbs immediate redeliveries.
 */
export const DEDUPE_TTL_SECONDS = 48 * 3600;
export const SHORT_FORM_DEDUPE_TTL_SECONDS = 10 * 60;
export const DEAD_LETTER_LIMIT = 10_000;

export interface RawDelivery {
  deliveryId: string;
  receivedAt: string;
  contentType: string;
  requestId?: string;
  userAgent?: string;
  body: string;
}

export interface DeadLetter {
  at: string;
  deliveryId: string;
  path: string;
  reason: string;
  item: unknown;
}

export interface WebhookInbox {
  saveRaw(delivery: RawDelivery): Promise<void>;
  getRaw(deliveryId: string): Promise<RawDelivery | undefined>;
  /** Claims each key; returns, in order, whether the claim is new (true) or a redelivery (false). */
  claim(claims: Array<{ key: string; ttlSeconds: number }>): Promise<boolean[]>;
  /** Gives claims back, so that a delivery that could not be enqueued is processed when amoCRM retries it. */
  release(keys: string[]): Promise<void>;
  deadLetter(items: DeadLetter[]): Promise<void>;
  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
}

export function createWebhookInbox(redis: Redis, keys: Keys): WebhookInbox {
  return {
    async saveRaw(delivery) {
      await redis.set(keys.raw(delivery.deliveryId), JSON.stringify(delivery), 'EX', RAW_BODY_TTL_SECONDS);
    },
    async getRaw(deliveryId) {
      const raw = await redis.get(keys.raw(deliveryId));
      return raw === null ? undefined : (JSON.parse(raw) as RawDelivery);
    },
    async claim(claims) {
      if (claims.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const c of claims) pipeline.set(keys.dedupe(c.key), '1', 'EX', c.ttlSeconds, 'NX');
      const results = (await pipeline.exec()) ?? [];
      return results.map(([err, reply]) => {
        if (err) throw err;
        return reply === 'OK';
      });
    },
    async release(dedupeKeys) {
      if (dedupeKeys.length > 0) await redis.del(...dedupeKeys.map((k) => keys.dedupe(k)));
    },
    async deadLetter(items) {
      if (items.length === 0) return;
      await redis
        .multi()
        .lpush(keys.deadLetter(), ...items.map((i) => JSON.stringify(i)))
        .ltrim(keys.deadLetter(), 0, DEAD_LETTER_LIMIT - 1)
        .exec();
    },
    async listDeadLetters(limit = 100) {
      const rows = await redis.lrange(keys.deadLetter(), 0, limit - 1);
      return rows.map((r) => JSON.parse(r) as DeadLetter);
    },
  };
}
