/**
 * Messages queued for delivery to people (Telegram): alerts for a department's РОП and notifications for
 * managers. The rules decide what to say; delivery (src/telegram: rendering, throttling, quiet hours) reads this
 * outbox. A push lands in two lists: the journal (`<prefix>:{outbox}:pending`, what was queued, newest last) and the
 * delivery inbox (`<prefix>:{outbox}:route`) that the Telegram router drains.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { OutboxMessage } from '../rules/plan.js';
import type { Keys } from './keys.js';

export const OutboxAudienceSchema = z.union([
  z.object({ kind: z.literal('department'), department: z.string().min(1), chatId: z.string().optional() }),
  z.object({ kind: z.literal('manager'), userId: z.number().int() }),
]);

export const OutboxMessageSchema = z.object({
  at: z.string(),
  audience: OutboxAudienceSchema,
  /** `lead_assigned`, `pickup_missed`, `pickup_fallback`, `nobody_eligible`, `violation`, `report_daily`, … */
  template: z.string().min(1),
  params: z.record(z.string(), z.unknown()),
  leadId: z.number().int().optional(),
  reason: z.string(),
  /** `low`: sent without a sound (`disable_notification`). */
  priority: z.enum(['low', 'normal']).optional(),
});

export type { OutboxMessage } from '../rules/plan.js';

/** A message as stored: with the id it was queued under. */
export interface OutboxEntry extends OutboxMessage {
  id: string;
}

export const OutboxEntrySchema = OutboxMessageSchema.extend({ id: z.string().min(1) });

/** The journal keeps the newest this many entries. */
export const OUTBOX_JOURNAL_MAX = 10_000;

const PUSH = `
if redis.call('set', KEYS[1], '1', 'EX', ARGV[2], 'NX') then
  redis.call('rpush', KEYS[2], ARGV[1])
  redis.call('ltrim', KEYS[2], -tonumber(ARGV[3]), -1)
  redis.call('rpush', KEYS[3], ARGV[1])
  return 1
end
return 0`;

export interface Outbox {
  /** Queues a message once per `dedupeId` (a retried job does not send twice). */
  push(message: OutboxMessage, dedupeId: string): Promise<boolean>;
  /** The journal of queued messages, oldest first. */
  pending(limit?: number): Promise<OutboxEntry[]>;
}

export function outboxKeys(keys: Keys): {
  journal: string;
  route: string;
  routing: string;
  seen: (id: string) => string;
} {
  return {
    journal: keys.tagged('outbox', 'pending'),
    route: keys.tagged('outbox', 'route'),
    routing: keys.tagged('outbox', 'routing'),
    seen: (id) => keys.tagged('outbox', 'seen', id),
  };
}

/**
 * `onPushed` is told after a fresh push (delivery uses it to wake its router); a failure there loses nothing: the
 * message is already in the route list, and the router's sweep drains it.
 */
export function createOutbox(
  redis: Redis,
  keys: Keys,
  options: { onPushed?: (id: string) => Promise<void> } = {},
): Outbox {
  const k = outboxKeys(keys);
  return {
    async push(message, dedupeId) {
      const entry = JSON.stringify({ ...message, id: dedupeId });
      // One step: a crash can never mark a message seen without queueing it.
      const fresh = await redis.eval(
        PUSH,
        3,
        k.seen(dedupeId),
        k.journal,
        k.route,
        entry,
        String(7 * 24 * 3600),
        String(OUTBOX_JOURNAL_MAX),
      );
      if (fresh !== 1) return false;
      await options.onPushed?.(dedupeId).catch(() => undefined);
      return true;
    },
    async pending(limit = 100) {
      const rows = await redis.lrange(k.journal, 0, limit - 1);
      return rows.map((r) => JSON.parse(r) as OutboxEntry);
    },
  };
}
