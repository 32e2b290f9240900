/**
 * The amoCRM rate limit, shared by every process through Redis: at most `rps` requests in any sliding window
 * (amocrm.md §3: 7 requests per second per integration; exceeding it gives 429 and, repeated, a 403 block).
 * BullMQ's own limiter counts jobs in fixed windows and lets bursts through at window edges, so the limit is
 * enforced here, where HTTP requests leave the client.
 *
 * One Lua script trims the window, counts and admits atomically, using Redis' clock so that processes on
 * machines with skewed clocks still share one window. The window is a little longer than a second: a request
 * admitted early may spend longer in flight than one admitted later, and amoCRM counts arrivals.
 *
 * Priorities: SLA work (reassignments) may use the whole window; normal work leaves one slot free; bulk work
 * (polling, reports) leaves two, so a burst of bulk requests in any process never delays an SLA action
 * by more than the window. Inside a process, waiting requests are served in priority order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export type Priority = 'sla' | 'normal' | 'bulk';
const RANK: Record<Priority, number> = { sla: 0, normal: 1, bulk: 2 };

const ACQUIRE = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now + 1)
`;

export interface RateLimiter {
  acquire(priority?: Priority): Promise<void>;
}

export interface RateLimiterOptions {
  redis: Redis;
  key: string;
  rps: number;
  windowMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_WINDOW_MS = 1_100;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const limitFor = (p: Priority): number => Math.max(1, options.rps - (options.rps > 3 ? RANK[p] : 0));
  const waiters: Array<{ priority: Priority; seq: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  let seq = 0;
  let pumping = false;

  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (waiters.length > 0) {
        waiters.sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.seq - b.seq);
        const head = waiters[0]!;
        let wait: number;
        try {
          wait = Number(await options.redis.eval(ACQUIRE, 1, options.key, String(limitFor(head.priority)), String(windowMs), randomUUID()));
        } catch (err) {
          waiters.shift();
          head.reject(err);
          continue;
        }
        if (wait === 0) {
          waiters.shift();
          head.resolve();
        } else {
          await sleep(Math.min(wait, windowMs));
        }
      }
    } finally {
      pumping = false;
    }
  };

  return {
    acquire(priority = 'normal') {
      return new Promise<void>((resolve, reject) => {
        waiters.push({ priority, seq: seq++, resolve, reject });
        void pump();
      });
    },
  };
}
