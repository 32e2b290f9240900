/**
 * Messages queued for delivery to people (Telegram): alerts for a department's РОП and notifications for
 * managers. The rules decide what to say; delivery (rendering, throttling, quiet hours) reads this outbox.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface OutboxMessage {
  at: string;
  audience: { kind: 'department'; department: string; chatId?: string } | { kind: 'manager'; userId: number };
  template: string;
  params: Record<string, unknown>;
  leadId?: number;
  reason: string;
}

export interface Outbox {
  /** Queues a message once per `dedupeId` (a retried job does not send twice). */
  push(message: OutboxMessage, dedupeId: string): Promise<boolean>;
  pending(limit?: number): Promise<OutboxMessage[]>;
}

export function createOutbox(redis: Redis, keys: Keys): Outbox {
  const list = keys.of('outbox', 'pending');
  return {
    async push(message, dedupeId) {
      // The mark is set after the push it guards: a crash in between may queue the message twice, never lose it.
      const seen = keys.of('outbox', 'seen', dedupeId);
      if ((await redis.exists(seen)) === 1) return false;
      await redis.rpush(list, JSON.stringify(message));
      await redis.set(seen, '1', 'EX', 7 * 24 * 3600);
      return true;
    },
    async pending(limit = 100) {
      const rows = await redis.lrange(list, 0, limit - 1);
      return rows.map((r) => JSON.parse(r) as OutboxMessage);
    },
  };
}
