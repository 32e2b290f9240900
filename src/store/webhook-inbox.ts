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
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WebhookEvent } from '../rules/events.js';
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
  /** Closes the intake's own connection (the caller closes `redis` and the queue). */
  close(): void;
}

export function dedupeTtlSeconds(event: WebhookEvent): number {
  return event.kind === 'lead' && event.short ? SHORT_FORM_DEDUPE_TTL_SECONDS : DEDUPE_TTL_SECONDS;
}

/**
 * Raw bodies are written by the intake as plain JSON without the delivery id (it is the key), which costs the
 * request path nothing but a string; the worker that runs the delivery's first event rewrites it compact
 * (`compactRaw`): a marker byte, then the JSON deflated against a fixed dictionary of amoCRM's form keys
 * (≈1,150 → ≈200 bytes for a 1-lead status body). Deflating on the request path was ≈17% of the route's CPU.
 */
export function encodeRawPlain(delivery: RawDelivery): string {
  const { deliveryId: _key, ...rest } = delivery;
  return JSON.stringify(rest);
}

/**
 * First byte of a compact raw body. Never the first byte of JSON (`{`) nor of a raw deflate stream (its low bits
 * would name block type 11, which deflate reserves), so every stored format is told apart by its first byte.
 */
const RAW_COMPACT_V1 = 0x06;

/**
 * Version 1 of the dictionary compact raw bodies are deflated with. Never edit it: bodies written with it are read
 * with it; new wording goes into a new version with its own marker byte. amoCRM's form keys are percent-encoded
 * (`leads%5Bstatus%5D%5B0%5D%5Bid%5D=`); the most common come last (the nearest matches are the cheapest).
 */
const RAW_DICTIONARY_V1 = Buffer.from(
  (() => {
    const enc = (k: string): string => k.replace(/\[/g, '%5B').replace(/\]/g, '%5D');
    const fields = [
      'price',
      'date_create',
      'created_user_id',
      'account_id',
      'group_id',
      'is_deleted',
      'loss_reason_id',
      'created_at',
      'closest_task_at',
      'text',
      'element_type',
      'element_id',
      'task_type',
      'complete_till',
      'linked_company_id',
      'type',
      'code',
      'enums',
      'values][0][enum',
      'tags][0][id',
      'tags][0][name',
      'custom_fields][0][id',
      'custom_fields][0][name',
      'custom_fields][0][values][0][value',
      'custom_fields][1][id',
      'custom_fields][1][values][0][value',
      'old_status_id',
      'old_responsible_user_id',
      'old_pipeline_id',
      'pipeline_id',
      'status_id',
      'responsible_user_id',
      'modified_user_id',
      'last_modified',
      'updated_at',
      'name',
      'id',
    ];
    let d =
      '{"receivedAt":"2026-11-25T12:00:00.000Z","contentType":"json","requestId":"","userAgent":"amoCRM-Webhooks/3.0","body":"{';
    d += enc('account[_links][self]=https%3A%2F%2F.amocrm.ru&account[id]=&account[subdomain]=');
    // Frequent Cyrillic words of lead names and fields, percent-encoded as amoCRM sends them.
    d +=
      '%D0%9A%D0%BB%D0%B8%D0%B5%D0%BD%D1%82+%D0%97%D0%B0%D1%8F%D0%B2%D0%BA%D0%B0+%D1%81+%D1%81%D0%B0%D0%B9%D1%82%D0%B0+';
    d +=
      '%D0%98%D1%81%D1%82%D0%BE%D1%87%D0%BD%D0%B8%D0%BA+%D0%90%D0%B2%D0%B8%D1%82%D0%BE+%D0%A2%D0%B5%D0%BB%D0%B5%D1%84%D0%BE%D0%BD';
    for (const entity of ['contacts', 'task', 'unsorted', 'leads'])
      for (const event of ['delete', 'restore', 'responsible', 'note', 'add', 'update', 'status'])
        d += `&${enc(`${entity}[${event}][0][`)}0%5D%5B`;
    for (const f of fields) d += `&${enc(`leads[status][0][${f}]`)}=`;
    return `${d}{"receivedAt":"2026-11-25T12:00:00.000Z","contentType":"form","requestId":"","userAgent":"amoCRM-Webhooks/3.0","body":"`;
  })(),
  'utf8',
);

export function encodeRawCompact(delivery: RawDelivery): Buffer {
  const z = deflateRawSync(encodeRawPlain(delivery), { dictionary: RAW_DICTIONARY_V1 });
  return Buffer.concat([Buffer.of(RAW_COMPACT_V1), z]);
}

/** Reads every format ever stored: compact, plain JSON (with or without the id), and the older plain deflate. */
export function decodeRaw(stored: Buffer, deliveryId: string): RawDelivery {
  let text: string;
  if (stored[0] === RAW_COMPACT_V1)
    text = inflateRawSync(stored.subarray(1), { dictionary: RAW_DICTIONARY_V1 }).toString('utf8');
  else if (stored[0] === 0x7b) text = stored.toString('utf8');
  else text = inflateRawSync(stored).toString('utf8');
  return { deliveryId, ...(JSON.parse(text) as Omit<RawDelivery, 'deliveryId'>) };
}

export const isCompactRaw = (stored: Buffer): boolean => stored[0] !== 0x7b;

/** What tools read (and tests or replays write) of the kept deliveries, without the intake's queue. */
export interface WebhookArchive {
  getRaw(deliveryId: string): Promise<RawDelivery | undefined>;
  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
  saveRaw(delivery: RawDelivery, ttlSeconds?: number): Promise<void>;
  deadLetter(items: DeadLetter[]): Promise<void>;
  /**
   * Rewrites a raw body the intake stored plain into the compact form, keeping its expiry. Returns false when
   * there was nothing to do (already compact, expired, or never kept).
   */
  compactRaw(deliveryId: string): Promise<boolean>;
}

export function createWebhookArchive(redis: Redis, keys: Keys): WebhookArchive {
  return {
    async getRaw(deliveryId) {
      const stored = await redis.getBuffer(keys.raw(deliveryId));
      return stored === null ? undefined : decodeRaw(stored, deliveryId);
    },
    async listDeadLetters(limit = 100) {
      const rows = await redis.lrange(keys.deadLetter(), 0, limit - 1);
      return rows.map((r) => JSON.parse(r) as DeadLetter);
    },
    async saveRaw(delivery, ttlSeconds = RAW_BODY_TTL_SECONDS) {
      await redis.set(keys.raw(delivery.deliveryId), encodeRawCompact(delivery), 'EX', ttlSeconds);
    },
    async deadLetter(items) {
      if (items.length === 0) return;
      await redis
        .multi()
        .lpush(keys.deadLetter(), ...items.map((i) => JSON.stringify(i)))
        .ltrim(keys.deadLetter(), 0, DEAD_LETTER_LIMIT - 1)
        .exec();
    },
    async compactRaw(deliveryId) {
      const key = keys.raw(deliveryId);
      const stored = await redis.getBuffer(key);
      if (stored === null || isCompactRaw(stored)) return false;
      // XX: a body that expired meanwhile is not brought back; KEEPTTL: it still ends when the intake said.
      const done = await redis.set(key, encodeRawCompact(decodeRaw(stored, deliveryId)), 'KEEPTTL', 'XX');
      return done === 'OK';
    },
  };
}

/** The data of one `webhook-event` job. */
export interface WebhookEventJobData {
  event: WebhookEvent;
  /** The delivery's raw body was kept plain by the intake; the worker rewrites it compact (off the request path). */
  compactRaw?: boolean;
}

/** How a `webhook-event` job is made, given by the composition root from the job catalog (src/jobs/catalog.ts). */
export interface WebhookEventJobSpec {
  options: JobsOptions;
  /** The job's deduplication id: one per event, whatever delivery carried it. */
  idFor(data: WebhookEventJobData): string;
}

export function createWebhookInbox(deps: {
  redis: Redis;
  keys: Keys;
  /** The `events` queue (its connection is `redis`). */
  events: Queue;
  job: WebhookEventJobSpec;
  /** 0 keeps no raw bodies. */
  rawRetentionSeconds?: number;
}): WebhookInbox {
  const { redis, keys, events } = deps;
  const rawTtl = deps.rawRetentionSeconds ?? RAW_BODY_TTL_SECONDS;
  const lean = leanPipelines(redis, events);
  const spec = deps.job;
  const archive = createWebhookArchive(redis, keys);
  // Job ids are unique per enqueue attempt, so BullMQ answers a deduplicated add with the id of the job that
  // holds the key (another id): that is how a redelivery is told apart from a fresh event in the same round trip.
  const nonce = randomBytes(4).toString('hex');
  let seq = 0;

  return {
    async accept({ raw, deadLetters, events: list }) {
      // Everything that could throw is built before anything is queued on the shared pipeline, so a delivery that
      // fails here leaves no half of itself in the other deliveries' write.
      const ids: string[] = [];
      const jobs = list.map((event) => {
        // Every event of the delivery carries the flag: whichever runs first compacts, the others find it done.
        const data: WebhookEventJobData = rawTtl > 0 ? { event, compactRaw: true } : { event };
        const dedupeId = spec.idFor(data);
        const jobId = `${dedupeId}-${nonce}${(seq++).toString(36)}`;
        ids.push(jobId);
        return new Job(
          events,
          'webhook-event',
          data,
          { ...spec.options, jobId, deduplication: { id: dedupeId, ttl: dedupeTtlSeconds(event) * 1000 } },
          jobId,
        );
      });
      const rawValue = rawTtl > 0 ? encodeRawPlain(raw) : undefined;
      const deadValues = deadLetters.map((d) => JSON.stringify(d));
      const results = await lean.send((pipeline) => {
        // NX: a redelivery of the same body keeps the first copy (possibly already compacted by the worker).
        if (rawValue !== undefined) pipeline.set(keys.raw(raw.deliveryId), rawValue, 'EX', rawTtl, 'NX');
        if (deadValues.length > 0) {
          pipeline.lpush(keys.deadLetter(), ...deadValues);
          pipeline.ltrim(keys.deadLetter(), 0, DEAD_LETTER_LIMIT - 1);
        }
        // Each add is queued synchronously; its outcome is read from the results below.
        for (const job of jobs) job.addJob(lean.asBullClient(pipeline) as never).catch(() => undefined);
      });
      for (const [err] of results) if (err) throw err;
      const first = results.length - ids.length;
      return ids.map((id, i) => results[first + i]?.[1] === id);
    },
    getRaw: archive.getRaw,
    listDeadLetters: archive.listDeadLetters,
    close: () => lean.close(),
  };
}

type Pipeline = ReturnType<Redis['pipeline']>;
type Results = Array<[Error | null, unknown]>;

/**
 * The intake's writes, on a connection of its own that knows one Lua script: BullMQ's add.
 *
 * - ioredis copies every script defined on a connection into each pipeline it makes, and BullMQ defines about
 *   fifty on the queue's connection: building a pipeline there was ≈9% of the route's CPU. The connection is
 *   `redis.duplicate()` (same options, or the same cluster), made on first use; the script is BullMQ's own text,
 *   read from the queue's connection, so it is the add script of the installed BullMQ version.
 * - Deliveries handled in the same turn of the event loop share one pipeline, sent when the turn ends
 *   (setImmediate): one socket write for all of them instead of one each (the write was the largest single cost
 *   of the route). Each delivery's commands stay contiguous and it reads only its own results; the pipeline is not
 *   a transaction, as before. A failed send fails every delivery in it, and each is answered 503.
 */
function leanPipelines(
  redis: Redis,
  events: Queue,
): {
  /** Queues commands (synchronously, in `fill`) on this turn's pipeline; resolves with their results. */
  send(fill: (pipeline: Pipeline) => void): Promise<Results>;
  asBullClient(pipeline: Pipeline): { runCommand(name: string, args: unknown[]): unknown };
  close(): void;
} {
  let conn: Promise<Redis> | undefined;
  const connect = async (): Promise<Redis> => {
    const bull = (await events.client) as unknown as {
      scriptsSet: Record<string, { lua: string; numberOfKeys: number | null }>;
    };
    const command = Object.keys(bull.scriptsSet).find((name) => name.startsWith('addStandardJob:'));
    if (command === undefined)
      throw new Error("BullMQ's addStandardJob script is not defined on the queue's connection");
    const script = bull.scriptsSet[command]!;
    const client = redis.duplicate();
    client.on('error', () => undefined); // reported by the main web connection; a failed send answers 503
    client.defineCommand(command, {
      lua: script.lua,
      ...(script.numberOfKeys !== null ? { numberOfKeys: script.numberOfKeys } : {}),
    });
    return client;
  };
  let open: { pipeline: Pipeline; done: Promise<Results> } | undefined;
  const length = (p: Pipeline): number => (p as unknown as { length: number }).length;
  return {
    async send(fill) {
      conn ??= connect().catch((err: unknown) => {
        conn = undefined;
        throw err;
      });
      const client = await conn;
      if (open === undefined) {
        const pipeline = client.pipeline();
        const done = new Promise<Results>((resolve, reject) => {
          setImmediate(() => {
            open = undefined;
            pipeline.exec().then((r) => resolve((r ?? []) as Results), reject);
          });
        });
        open = { pipeline, done };
      }
      const { pipeline, done } = open;
      const from = length(pipeline);
      fill(pipeline);
      const to = length(pipeline);
      return (await done).slice(from, to);
    },
    // What Job.addJob needs of a client: BullMQ dispatches its scripts by versioned name through runCommand.
    asBullClient: (pipeline) => ({
      runCommand(name, args) {
        (pipeline as unknown as Record<string, (a: unknown[]) => unknown>)[name]!(args);
        return pipeline;
      },
    }),
    close() {
      void conn?.then((c) => c.disconnect()).catch(() => undefined);
    },
  };
}
