/** BullMQ queues, producers only. Every Queue gets an `error` listener (an unhandled one would crash the process). */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Logger } from '../lib/logger.js';
import { JOBS, QUEUE_NAMES, jobIdFor, parseJob, type JobData, type JobName, type QueueName } from './catalog.js';
import type { TelegramQueue } from '../telegram/jobs.js';

export const QUEUE_EVENTS_KEPT = 1_000;

export interface Queues {
  get(name: QueueName): Queue;
  /** Adds one job through the catalog (validated payload, deterministic id, catalog retry policy). */
  add<N extends JobName>(name: N, data: JobData<N>, options?: JobsOptions): Promise<string>;
  /** Adds many jobs of one name in one round trip. */
  addBulk<N extends JobName>(name: N, items: Array<JobData<N>>, options?: JobsOptions): Promise<void>;
  /** Runs a job every `everyMs`, once across all processes (BullMQ's job scheduler, keyed by the job's name). */
  every<N extends JobName>(name: N, everyMs: number, data: JobData<N>): Promise<void>;
  counts(): Promise<Record<QueueName, Record<string, number>>>;
  close(): Promise<void>;
}

/**
 * BullMQ's scripts touch several keys of a queue at once, so on a Redis Cluster the queue's keys must share a slot:
 * the prefix has to carry a hash tag (`Keys.bullPrefix`, `<prefix>:{<prefix>}`). Refused on a single node too, so a
 * prefix that would only fail on a cluster fails in every test.
 */
export function assertQueuePrefix(prefix: string): void {
  if (!/\{[^{}]+\}/.test(prefix))
    throw new Error(`BullMQ prefix "${prefix}" has no Redis Cluster hash tag; use Keys.bullPrefix`);
}

export function createQueues(deps: { connection: ConnectionOptions; prefix: string; logger: Logger }): Queues {
  assertQueuePrefix(deps.prefix);
  const queues = new Map<QueueName, Queue>();
  for (const name of Object.values(QUEUE_NAMES)) {
    // BullMQ's event stream (job state changes, read by QueueEvents) keeps 10,000 entries by default; nothing here
    // reads it, so a short tail is enough for an operator looking at a live queue.
    const queue = new Queue(name, {
      connection: deps.connection,
      prefix: deps.prefix,
      streams: { events: { maxLen: QUEUE_EVENTS_KEPT } },
    });
    queue.on('error', (err) => deps.logger.error({ err, queue: name }, 'queue error'));
    queues.set(name, queue);
  }
  const get = (name: QueueName): Queue => {
    const queue = queues.get(name);
    if (queue === undefined) throw new Error(`unknown queue ${name}`);
    return queue;
  };
  return {
    get,
    async add(name, data, options) {
      const spec = JOBS[name];
      const payload = parseJob(name, data);
      const jobId = jobIdFor(name, payload);
      await get(spec.queue).add(name, payload, { ...spec.options, ...options, jobId });
      return jobId;
    },
    async addBulk(name, items, options) {
      if (items.length === 0) return;
      const spec = JOBS[name];
      await get(spec.queue).addBulk(
        items.map((data) => {
          const payload = parseJob(name, data);
          return { name, data: payload, opts: { ...spec.options, ...options, jobId: jobIdFor(name, payload) } };
        }),
      );
    },
    async every(name, everyMs, data) {
      const spec = JOBS[name];
      await get(spec.queue).upsertJobScheduler(
        name,
        { every: everyMs },
        { name, data: parseJob(name, data), opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
      );
    },
    async counts() {
      const out = {} as Record<QueueName, Record<string, number>>;
      for (const [name, queue] of queues) {
        out[name] = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      }
      return out;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

/**
 * The queues as Telegram's port (src/telegram/jobs.ts): Telegram adds only its own jobs, whose payloads the catalog
 * takes from Telegram's schemas, so each `TelegramJobData[N]` is the catalog's `JobData<N>`.
 */
export function telegramQueue(queues: Pick<Queues, 'add' | 'every'>): TelegramQueue {
  return {
    add: async (name, data) => queues.add(name, data as JobData<typeof name>),
    every: async (name, everyMs, data) => queues.every(name, everyMs, data as JobData<typeof name>),
  };
}
