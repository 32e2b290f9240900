/**
 * BullMQ workers. Lock and stalled-check settings are tuned so that a job held by a killed worker is picked up
 * by another within seconds: BullMQ's defaults (30 s lock, 30 s stalled interval) take about a minute.
 */
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { JOBS, parseJob, type JobData, type JobName, type QueueName } from './catalog.js';

/** A lost worker's lock expires after LOCK_DURATION_MS; live workers look for such jobs every STALLED_INTERVAL_MS. */
export const LOCK_DURATION_MS = 5_000;
export const STALLED_INTERVAL_MS = 2_500;

export type Handlers = { [N in JobName]?: (data: JobData<N>, job: Job) => Promise<unknown> };

/** Thrown by a handler that must wait for another job (e.g. a lead lock): the job is delayed, not failed. */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export interface Workers {
  workers: Worker[];
  close(): Promise<void>;
}

export function createWorkers(deps: {
  connection: ConnectionOptions;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  handlers: Handlers;
  concurrency: number;
  queues?: QueueName[];
}): Workers {
  const byQueue = new Map<QueueName, JobName[]>();
  for (const name of Object.keys(deps.handlers) as JobName[]) {
    const queue = JOBS[name].queue;
    if (deps.queues && !deps.queues.includes(queue)) continue;
    byQueue.set(queue, [...(byQueue.get(queue) ?? []), name]);
  }

  const processJob = async (job: Job, token?: string): Promise<unknown> => {
    const name = job.name as JobName;
    const handler = deps.handlers[name] as ((data: unknown, job: Job) => Promise<unknown>) | undefined;
    if (handler === undefined) throw new Error(`no handler for job ${job.name}`);
    const end = deps.metrics.jobDuration.startTimer({ job: name });
    try {
      return await handler(parseJob(name, job.data), job);
    } catch (err) {
      if (err instanceof RetryLaterError && token !== undefined) {
        await job.moveToDelayed(Date.now() + err.delayMs, token);
        throw new DelayedError();
      }
      throw err;
    } finally {
      end();
    }
  };

  const workers = [...byQueue.keys()].map((queue) => {
    const worker = new Worker(queue, processJob, {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
      lockDuration: LOCK_DURATION_MS,
      stalledInterval: STALLED_INTERVAL_MS,
      maxStalledCount: 3,
    });
    worker.on('error', (err) => deps.logger.error({ err, queue }, 'worker error'));
    worker.on('failed', (job, err) => {
      if (job === undefined) return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      deps.metrics.jobFailures.inc({ job: job.name, final: String(final) });
      deps.logger[final ? 'error' : 'warn'](
        { err, job: job.name, jobId: job.id, attempt: job.attemptsMade },
        final ? 'job failed for good' : 'job failed, will retry',
      );
    });
    return worker;
  });

  return {
    workers,
    async close() {
      // close() waits for the jobs in hand to finish before it resolves.
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
