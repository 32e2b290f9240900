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

/**
 * Retention of finished jobs, by count, sized to the load rather than to time: redeliveries are deduplicated by
 * BullMQ's deduplication key (with its own TTL), not by finished jobs, so a completed job is only a trace for an
 * operator. 1,000 is several minutes of a large account's peak webhook rate (an agency's account sends a few
 * events per second at most) and about 0.7 MB of Redis; failed jobs are kept longer for investigation, capped.
 */
export const COMPLETED_JOBS_KEPT = 1_000;
export const FAILED_JOBS_KEPT = 10_000;
const KEEP = {
  removeOnComplete: { age: 3600, count: COMPLETED_JOBS_KEPT },
  removeOnFail: { age: 14 * 24 * 3600, count: FAILED_JOBS_KEPT },
} as const;

export const JOBS = {
  'webhook-event': {
    queue: QUEUE_NAMES.events,
    schema: WebhookEventJobSchema,
    options: { attempts: 10, backoff: { type: 'exponential', delay: 500 }, ...KEEP } satisfies JobsOptions,
    /** The event's identity; the intake uses it as the BullMQ deduplication id and adds a per-enqueue suffix to the job id. */
    jobId: (data: WebhookEventJob): string => `evt-${shortHash(data.event.dedupeKey)}`,
  },
  'pickup-sweep': {
    queue: QUEUE_NAMES.timers,
    schema: SweepJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: SweepJob): string => 'pickup-sweep',
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
