/**
 * The typed job catalog: job name → queue, payload schema, retry policy and deterministic job id.
 * Producers and workers both go through it, and the worker parses every payload again (a trust boundary).
 * BullMQ job ids may not contain ':' and may not be all digits, so amoCRM ids are always prefixed.
 */
import { createHash } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { WebhookEventSchema } from '../rules/events.js';

export const QUEUE_NAMES = { events: 'events', timers: 'timers' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const WebhookEventJobSchema = z.object({ event: WebhookEventSchema });
export type WebhookEventJob = z.infer<typeof WebhookEventJobSchema>;

export const SweepJobSchema = z.object({ reason: z.string() });
export type SweepJob = z.infer<typeof SweepJobSchema>;

const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 24);

/** Completed jobs are kept a day: enough to see what happened, and a second guard against duplicates. */
const KEEP = { removeOnComplete: { age: 24 * 3600, count: 100_000 }, removeOnFail: { age: 14 * 24 * 3600 } } as const;

export const JOBS = {
  'webhook-event': {
    queue: QUEUE_NAMES.events,
    schema: WebhookEventJobSchema,
    options: { attempts: 10, backoff: { type: 'exponential', delay: 500 }, ...KEEP } satisfies JobsOptions,
    jobId: (data: WebhookEventJob): string => `evt-${shortHash(data.event.dedupeKey)}`,
  },
  'pickup-sweep': {
    queue: QUEUE_NAMES.timers,
    schema: SweepJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: SweepJob): string => 'pickup-sweep',
  },
  /** R3: leads in a bound stage with no cadence join it (paged list, bulk priority). */
  'cadence-sweep': {
    queue: QUEUE_NAMES.timers,
    schema: SweepJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: SweepJob): string => 'cadence-sweep',
  },
} as const;

export type JobName = keyof typeof JOBS;
export type JobData<N extends JobName> = z.infer<(typeof JOBS)[N]['schema']>;

/** Validates a payload for a job name; throws a ZodError (a bug in the producer) when it does not fit. */
export function parseJob<N extends JobName>(name: N, data: unknown): JobData<N> {
  return JOBS[name].schema.parse(data) as JobData<N>;
}

export function jobIdFor<N extends JobName>(name: N, data: JobData<N>): string {
  return (JOBS[name].jobId as (d: JobData<N>) => string)(data);
}
