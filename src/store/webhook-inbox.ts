/**
 * What the webhook path writes to Redis before it acknowledges, in ONE pipeline (one round trip):
 * the raw body (compressed, kept for RAW_BODY_RETENTION; audit and the dry run), the dead-letter items, and each
 * event as a BullMQ job whose `deduplication` key is set by BullMQ's own add script in the same step as the job.
 *
 * There is no separate dedupe claim any more: a claim set before the enqueue could survive a crash and make
 * amoCRM's retries answer "duplicate" while the event never ran. Now "seen" and "queued" are one Lua call, so an
 * acknowledged delivery has its job, and a delivery whose job is missing was never acknowledged (amoCRM retries).
 *
 * Every key here carries the queue's hash tag, so on Redis Cluster the pipeline stays in one slot.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WebhookEvent } from '../rules/events.js';
import { JOBS, jobIdFor, type WebhookEventJob } from '../jobs/catalog.js';
import type { Keys } from './keys.js';

/** Default of RAW_BODY_RETENTION: a day of deliveries to replay in a dry run or to investigate a complaint. */
export const RAW_BODY_TTL_SECONDS = 24 * 3600;
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

export interface Delivery {
  raw: RawDelivery;
  deadLetters: DeadLetter[];
  /** Unique by dedupeKey within the delivery. */
  events: WebhookEvent[];
}

export interface WebhookInbox {
  /**
   * Stores the delivery and enqueues its events in one round trip. Returns, in order, whether each event was
   * enqueued (true) or is a redelivery of one already queued or processed within its dedupe window (false).
   * Throws when Redis does not answer: nothing was acknowledged, so amoCRM retries.
   */
  accept(delivery: Delivery): Promise<boolean[]>;
  getRaw(deliveryId: string): Promise<RawDelivery | undefined>;
  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
}

export function dedupeTtlSeconds(event: WebhookEvent): number {
  return event.kind === 'lead' && event.short ? SHORT_FORM_DEDUPE_TTL_SECONDS : DEDUPE_TTL_SECONDS;
}

/** Raw bodies are stored deflated (form bodies shrink 3-4×); a stored JSON string (older format) still reads. */
export function encodeRaw(delivery: RawDelivery): Buffer {
  return deflateRawSync(JSON.stringify(delivery), { level: 1 });
}

export function decodeRaw(stored: Buffer): RawDelivery {
  const text = stored[0] === 0x7b ? stored.toString('utf8') : inflateRawSync(stored).toString('utf8');
  return JSON.parse(text) as RawDelivery;
}

/** What tools read (and tests or replays write) of the kept deliveries, without the intake's queue. */
export interface WebhookArchive {
  getRaw(deliveryId: string): Promise<RawDelivery | undefined>;
  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
  saveRaw(delivery: RawDelivery, ttlSeconds?: number): Promise<void>;
  deadLetter(items: DeadLetter[]): Promise<void>;
}

export function createWebhookArchive(redis: Redis, keys: Keys): WebhookArchive {
  return {
    async getRaw(deliveryId) {
      const stored = await redis.getBuffer(keys.raw(deliveryId));
      return stored === null ? undefined : decodeRaw(stored);
    },
    async listDeadLetters(limit = 100) {
      const rows = await redis.lrange(keys.deadLetter(), 0, limit - 1);
      return rows.map((r) => JSON.parse(r) as DeadLetter);
    },
    async saveRaw(delivery, ttlSeconds = RAW_BODY_TTL_SECONDS) {
      await redis.set(keys.raw(delivery.deliveryId), encodeRaw(delivery), 'EX', ttlSeconds);
    },
    async deadLetter(items) {
      if (items.length === 0) return;
      await redis
        .multi()
        .lpush(keys.deadLetter(), ...items.map((i) => JSON.stringify(i)))
        .ltrim(keys.deadLetter(), 0, DEAD_LETTER_LIMIT - 1)
        .exec();
    },
  };
}

export function createWebhookInbox(deps: {
  redis: Redis;
  keys: Keys;
  /** The `events` queue (its connection is `redis`). */
  events: Queue;
  /** 0 keeps no raw bodies. */
  rawRetentionSeconds?: number;
}): WebhookInbox {
  const { redis, keys, events } = deps;
  const rawTtl = deps.rawRetentionSeconds ?? RAW_BODY_TTL_SECONDS;
  const spec = JOBS['webhook-event'];
  const archive = createWebhookArchive(redis, keys);
  // Job ids are unique per enqueue attempt, so BullMQ answers a deduplicated add with the id of the job that
  // holds the key (another id): that is how a redelivery is told apart from a fresh event in the same round trip.
  const nonce = randomBytes(4).toString('hex');
  let seq = 0;

  return {
    async accept({ raw, deadLetters, events: list }) {
      // BullMQ's client wrapper: its pipelines carry the queue's Lua commands (ioredis defineCommand).
      const pipeline = (await events.client).pipeline() as unknown as ReturnType<Redis['pipeline']>;
      if (rawTtl > 0) pipeline.set(keys.raw(raw.deliveryId), encodeRaw(raw), 'EX', rawTtl);
      if (deadLetters.length > 0) {
        pipeline.lpush(keys.deadLetter(), ...deadLetters.map((d) => JSON.stringify(d)));
        pipeline.ltrim(keys.deadLetter(), 0, DEAD_LETTER_LIMIT - 1);
      }
      const first = (pipeline as unknown as { length: number }).length;
      const ids: string[] = [];
      for (const event of list) {
        const data: WebhookEventJob = { event };
        const dedupeId = jobIdFor('webhook-event', data);
        const jobId = `${dedupeId}-${nonce}${(seq++).toString(36)}`;
        ids.push(jobId);
        const job = new Job(events, 'webhook-event', data, {
          ...spec.options,
          jobId,
          deduplication: { id: dedupeId, ttl: dedupeTtlSeconds(event) * 1000 },
        }, jobId);
        // The command is queued synchronously; its outcome is read from exec() below.
        job.addJob(pipeline as never).catch(() => undefined);
      }
      const results = (await pipeline.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      return ids.map((id, i) => results[first + i]?.[1] === id);
    },
    getRaw: archive.getRaw,
    listDeadLetters: archive.listDeadLetters,
  };
}
