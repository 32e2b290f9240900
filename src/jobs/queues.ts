/** BullMQ queues, producers only. Every Queue gets an `error` listener (an unhandled one would crash the process). */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Logger } from '../lib/logger.js';
import { JOBS, QUEUE_NAMES, jobIdFor, parseJob, type JobData, type JobName, type QueueName } from './catalog.js';

export const QUEUE_EVENTS_KEPT = 1_000;

export interface Queues {
  get(name: QueueName): Queue;
  /** Adds one job through the catalog (validated payload, deterministic id, catalog retry policy). */
  add<N extends JobName>(name: N, data: JobData<N>, options?: JobsOptions): Promise<string>;
  /** Adds many jobs of one name in one round trip. */
  addBulk<N extends JobName>(name: N, items: Array<JobData<N>>, options?: JobsOptions): Promise<void>;
  counts(): Promise<Record<QueueName, Record<string, number>>>;
  close(): Promise<void>;
}

/**
 * BullMQ's scripts touch several keys of a queue at once, so on a Redis Cluster the queue's keys must share a slot:
 * the prefix has to carry a hash tag (`Keys.bullPrefix`, `<prefix>:{<prefix>}`). Refused on a single node too, so a
 * prefix that would only fail on a cluster fails in every test.
 */
export function assertQueuePrefix(prefix: string): void {
  if (!/\{[^{}]+\}/.test(prefix)) throw new Error(`BullMQ prefix "${prefix}" has no Redis Cluster hash tag; use Keys.bullPrefix`);
}

export function createQueues(deps: { connection: ConnectionOptions; prefix: string; logger: Logger }): Queues {
  assertQueuePrefix(deps.prefix);
  const queues = new Map<QueueName, Queue>();
  for (const name of Object.values(QUEUE_NAMES)) {
    // BullMQ's event stream (job state changes, read by QueueEvents) keeps 10,000 entries by default; nothing here
    // reads it, so a short tail is enough for an operator looking at a live queue.
    const queue = new Queue(name, { connection: deps.connection, prefix: deps.prefix, streams: { events: { maxLen: QUEUE_EVENTS_KEPT } } });
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
