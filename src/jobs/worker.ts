/**
 * BullMQ workers. Lock and stalled-check settings are tuned so that a job held by a killed worker is picked up
 * by another within seconds: BullMQ's defaults (30 s lock, 30 s stalled interval) take about a minute.
 *
 * Errors are classified here, once for every job: an error that says `retryable: false` (amoCRM rejected what we
 * sent: 400/422 validation, 402, 404, a revoked authorisation) ends the job at once instead of spending its
 * attempts on the same answer; a retryable error with `retryAfterMs` (amoCRM's shared back-off, a block) parks
 * the job until then without using an attempt; anything else follows the job's retry policy.
 */
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { RetryLaterError } from '../lib/retry-later.js';
import { JOBS, parseJob, type JobData, type JobName, type QueueName } from './catalog.js';
import { assertQueuePrefix } from './queues.js';

/** A lost worker's lock expires after LOCK_DURATION_MS; live workers look for such jobs every STALLED_INTERVAL_MS. */
export const LOCK_DURATION_MS = 5_000;
export const STALLED_INTERVAL_MS = 2_500;

export type Handlers = { [N in JobName]?: (data: JobData<N>, job: Job) => Promise<unknown> };

/** Thrown by a handler that must wait for another job (e.g. a lead lock): the job is delayed, not failed. */
export { RetryLaterError } from '../lib/retry-later.js';

/**
 * A job that must not be tried again. BullMQ recognises it as its UnrecoverableError; it carries the safe
 * structured detail of the error that caused it (class, endpoint, status, amoCRM's field errors) as its own
 * properties, so the one `failed` log line shows them.
 */
export class PermanentJobError extends UnrecoverableError {
  readonly kind: string;
  readonly ourBug: boolean | undefined;
  readonly endpoint: string | undefined;
  readonly status: number | undefined;
  readonly fieldErrors: unknown;
  constructor(cause: Error) {
    super(cause.message);
    this.name = 'UnrecoverableError';
    this.kind = cause.name;
    const c = cause as Partial<Record<'ourBug' | 'endpoint' | 'status' | 'fieldErrors', unknown>>;
    this.ourBug = typeof c.ourBug === 'boolean' ? c.ourBug : undefined;
    this.endpoint = typeof c.endpoint === 'string' ? c.endpoint : undefined;
    this.status = typeof c.status === 'number' ? c.status : undefined;
    this.fieldErrors = Array.isArray(c.fieldErrors) ? c.fieldErrors : undefined;
    if (cause.stack !== undefined) this.stack = cause.stack;
  }
}

/** How the worker treats an error a handler threw: by its `retryable` and `retryAfterMs`, whatever its class. */
export function classifyJobError(
  err: unknown,
): { kind: 'permanent' } | { kind: 'later'; delayMs: number } | { kind: 'retry' } {
  if (typeof err !== 'object' || err === null) return { kind: 'retry' };
  const e = err as { retryable?: unknown; retryAfterMs?: unknown };
  if (e.retryable === false) return { kind: 'permanent' };
  if (
    e.retryable === true &&
    typeof e.retryAfterMs === 'number' &&
    Number.isFinite(e.retryAfterMs) &&
    e.retryAfterMs > 0
  ) {
    return { kind: 'later', delayMs: Math.ceil(e.retryAfterMs) };
  }
  return { kind: 'retry' };
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
  assertQueuePrefix(deps.prefix);
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
        // eslint-disable-next-line no-restricted-syntax -- Wall clock on purpose: BullMQ keeps delayed jobs in Redis by real epoch milliseconds.
        await job.moveToDelayed(Date.now() + err.delayMs, token);
        throw new DelayedError();
      }
      const verdict = classifyJobError(err);
      if (verdict.kind === 'permanent' && err instanceof Error) throw new PermanentJobError(err);
      if (verdict.kind === 'later' && token !== undefined) {
        // amoCRM told every process to wait (429 retry_after, a block): park the job, keep its attempts.
        deps.logger.warn(
          { err, job: name, jobId: job.id, retryAfterMs: verdict.delayMs },
          'job parked until the amoCRM back-off ends',
        );
        // eslint-disable-next-line no-restricted-syntax -- real time, as above
        await job.moveToDelayed(Date.now() + verdict.delayMs, token);
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
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
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
