/**
 * The typed job catalog: job name → queue, payload schema, retry policy and deterministic job id.
 * Producers and workers both go through it, and the worker parses every payload again (a trust boundary).
 * BullMQ job ids may not contain ':' and may not be all digits, so amoCRM ids are always prefixed.
 */
import { createHash } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { WebhookEventSchema } from '../rules/events.js';
import { TelegramChatJobSchema, TelegramRouteJobSchema, TelegramUpdateJobSchema } from '../telegram/jobs.js';

export const QUEUE_NAMES = { events: 'events', timers: 'timers', telegram: 'telegram' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export const WebhookEventJobSchema = z.object({
  event: WebhookEventSchema,
  /** The delivery's raw body was kept plain by the intake; the worker rewrites it compact (off the request path). */
  compactRaw: z.boolean().optional(),
});
export type WebhookEventJob = z.infer<typeof WebhookEventJobSchema>;

export const SweepJobSchema = z.object({ reason: z.string() });
export type SweepJob = z.infer<typeof SweepJobSchema>;

export { TelegramChatJobSchema, TelegramRouteJobSchema, TelegramUpdateJobSchema } from '../telegram/jobs.js';
export type TelegramRouteJob = z.infer<typeof TelegramRouteJobSchema>;
export type TelegramChatJob = z.infer<typeof TelegramChatJobSchema>;
export type TelegramUpdateJob = z.infer<typeof TelegramUpdateJobSchema>;
export const ReportsTickJobSchema = z.object({ reason: z.string() });
export type ReportsTickJob = z.infer<typeof ReportsTickJobSchema>;

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
  /** R3: leads in a bound stage with no cadence join it (paged list, bulk priority). */
  'cadence-sweep': {
    queue: QUEUE_NAMES.timers,
    schema: SweepJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: SweepJob): string => 'cadence-sweep',
  },
  'telegram-route': {
    queue: QUEUE_NAMES.telegram,
    schema: TelegramRouteJobSchema,
    options: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: true,
      removeOnFail: { age: 14 * 24 * 3600 },
    } satisfies JobsOptions,
    jobId: (data: TelegramRouteJob): string => `tg-route-${shortHash(data.reason)}`,
  },
  // One job drains one chat's queue in order; Telegram's 1 message/s per chat is kept by the shared limits.
  'telegram-chat': {
    queue: QUEUE_NAMES.telegram,
    schema: TelegramChatJobSchema,
    options: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 14 * 24 * 3600 },
    } satisfies JobsOptions,
    jobId: (data: TelegramChatJob): string => `tg-chat-${shortHash(data.chatId)}-${data.seq}`,
  },
  'telegram-update': {
    queue: QUEUE_NAMES.telegram,
    schema: TelegramUpdateJobSchema,
    options: { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, ...KEEP } satisfies JobsOptions,
    jobId: (data: TelegramUpdateJob): string => `tg-update-${data.update.update_id}`,
  },
  // Held alerts whose quiet hours ended, escalations due, and chats whose drain job was lost.
  'telegram-sweep': {
    queue: QUEUE_NAMES.telegram,
    schema: SweepJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: SweepJob): string => 'telegram-sweep',
  },
  // R11/R12: a tick every minute sends the reports due by each department's local time; markers and outbox dedupe
  // ids make it send each once however many ticks and workers run (src/reports/schedule.ts).
  'reports-tick': {
    queue: QUEUE_NAMES.timers,
    schema: ReportsTickJobSchema,
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } satisfies JobsOptions,
    jobId: (_data: ReportsTickJob): string => 'reports-tick',
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
