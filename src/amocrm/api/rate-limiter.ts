/**
 * The amoCRM rate limit and back-off, shared by every process through Redis: at most `rps` requests in any
 * sliding window (amocrm.md §3: 7 requests per second per integration; exceeding it gives 429 and, repeated, a
 * 403 block), and nothing at all while a back-off that any process recorded is in force.
 * BullMQ's own limiter counts jobs in fixed windows and lets bursts through at window edges, so the limit is
 * enforced here, where HTTP requests leave the client.
 *
 * One Lua script checks the back-off, trims the window, counts and admits atomically, using Redis' clock so that
 * processes on machines with skewed clocks still share one window and one deadline; honouring the back-off costs
 * no extra round trip. The window is a little longer than a second: a request admitted early may spend longer in
 * flight than one admitted later, and amoCRM counts arrivals.
 *
 * Back-off: a 429 sets a deadline with amoCRM's `retry_after` (or Retry-After), else an exponential one from the
 * 429s of every process in the last minute; a 403 block sets a cool-down (10 minutes by default). The deadline is
 * one key with a PX expiry, so it vanishes by itself; a later record only ever extends it, and a block stays a
 * block until its cool-down ends.
 *
 * Priorities: SLA work (reassignments) may use the whole window; normal work leaves one slot free; bulk work
 * (polling, reports) leaves two, so a burst of bulk requests in any process never delays an SLA action
 * by more than the window. Inside a process, waiting requests are served in priority order.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export type Priority = 'sla' | 'normal' | 'bulk';
const RANK: Record<Priority, number> = { sla: 0, normal: 1, bulk: 2 };

export type BackoffReason = 'rate_limited' | 'blocked';

/** What the shared gate says about one request: send it now, or not before `retryAfterMs`. */
export type Gate = { kind: 'admitted' } | { kind: 'backoff'; reason: BackoffReason; retryAfterMs: number };

const ACQUIRE = `
local key = KEYS[1]
local backoff = KEYS[2]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local reason = redis.call('GET', backoff)
if reason then
  local left = redis.call('PTTL', backoff)
  if left > 0 then return {reason, left} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window * 2)
  return {'admitted', 0}
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {'wait', math.max(1, tonumber(oldest[2]) + window - now + 1)}
`;

/** A 429: counts a strike (kept a minute) and extends the shared deadline; returns the reason and wait in force. */
const RATE_LIMITED = `
local backoff = KEYS[1]
local strikes = KEYS[2]
local asked = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local n = redis.call('INCR', strikes)
redis.call('PEXPIRE', strikes, tonumber(ARGV[4]))
local ms = asked
if ms < 0 then ms = math.min(max, base * 2 ^ (n - 1)) end
ms = math.floor(ms)
local reason = redis.call('GET', backoff)
local left = reason and redis.call('PTTL', backoff) or -2
if left >= ms then return {reason, left} end
if ms <= 0 then return {'rate_limited', 0} end
reason = reason or 'rate_limited'
redis.call('SET', backoff, reason, 'PX', ms)
return {reason, ms}
`;

/**
 * A 403: a block when the body is an HTML page or any process saw a 429 in the last minute. Returns
 * {0, 0} when it is not a block, else {1 when this call started the block, the cool-down in force}.
 */
const FORBIDDEN = `
local backoff = KEYS[1]
local strikes = KEYS[2]
if ARGV[1] ~= '1' and redis.call('EXISTS', strikes) == 0 then return {0, 0} end
local reason = redis.call('GET', backoff)
local left = reason and redis.call('PTTL', backoff) or -2
local ms = math.max(left, tonumber(ARGV[2]))
redis.call('SET', backoff, 'blocked', 'PX', ms)
if reason == 'blocked' then return {0, ms} end
return {1, ms}
`;

export interface RateLimiter {
  /** Waits for a slot in the shared window; answers at once with the back-off when one is in force. */
  acquire(priority?: Priority): Promise<Gate>;
  /** Records amoCRM's 429 for every process. `askedMs` is amoCRM's retry_after; without it the wait grows per strike. */
  rateLimited(askedMs: number | undefined): Promise<{ reason: BackoffReason; retryAfterMs: number }>;
  /** Records a 403; a block when the body is HTML or a 429 came shortly before. `started` is true for the call that began it. */
  forbidden(htmlPage: boolean): Promise<{ blocked: false } | { blocked: true; started: boolean; retryAfterMs: number }>;
  /** The back-off in force for every process, if any (one read, no slot taken). */
  current(): Promise<{ reason: BackoffReason; retryAfterMs: number } | undefined>;
}

export interface RateLimiterOptions {
  redis: Redis;
  /** The window; one script reads it with the back-off keys, so on a Redis Cluster they share its hash tag. */
  key: string;
  rps: number;
  windowMs?: number;
  /** The shared back-off deadline; `${key}:backoff` unless given. */
  backoffKey?: string;
  /** How long every process stops after amoCRM starts blocking (403 after 429s). */
  blockCooldownMs?: number;
  /** First wait after a 429 that did not say how long; doubles with each 429 of the last minute. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_WINDOW_MS = 1_100;
export const DEFAULT_BLOCK_COOLDOWN_MS = 10 * 60_000;
/** amocrm.md §3: without retry_after, back off "at least a few seconds". */
export const DEFAULT_BACKOFF_BASE_MS = 2_000;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
/** A 403 this soon after any 429 is a block; strikes older than this no longer grow the wait. */
const STRIKE_MEMORY_MS = 60_000;
/** amoCRM's retry_after is trusted up to an hour; a larger figure is more likely a unit mistake than a plan. */
const MAX_ASKED_MS = 60 * 60_000;

const asGate = (reply: unknown): Gate | { kind: 'wait'; ms: number } => {
  const [kind, ms] = reply as [string, number];
  if (kind === 'admitted') return { kind: 'admitted' };
  if (kind === 'wait') return { kind: 'wait', ms: Number(ms) };
  return { kind: 'backoff', reason: kind === 'blocked' ? 'blocked' : 'rate_limited', retryAfterMs: Number(ms) };
};

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const backoffKey = options.backoffKey ?? `${options.key}:backoff`;
  const strikesKey = `${backoffKey}:strikes`;
  const cooldownMs = options.blockCooldownMs ?? DEFAULT_BLOCK_COOLDOWN_MS;
  const baseMs = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const maxMs = options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const limitFor = (p: Priority): number => Math.max(1, options.rps - (options.rps > 3 ? RANK[p] : 0));
  const waiters: Array<{
    priority: Priority;
    seq: number;
    resolve: (gate: Gate) => void;
    reject: (e: unknown) => void;
  }> = [];
  let seq = 0;
  let pumping = false;

  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (waiters.length > 0) {
        waiters.sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.seq - b.seq);
        const head = waiters[0]!;
        let answer: ReturnType<typeof asGate>;
        try {
          answer = asGate(
            await options.redis.eval(
              ACQUIRE,
              2,
              options.key,
              backoffKey,
              String(limitFor(head.priority)),
              String(windowMs),
              randomUUID(),
            ),
          );
        } catch (err) {
          waiters.shift();
          head.reject(err);
          continue;
        }
        if (answer.kind === 'wait') {
          await sleep(Math.min(answer.ms, windowMs));
        } else {
          waiters.shift();
          head.resolve(answer);
        }
      }
    } finally {
      pumping = false;
    }
  };

  return {
    acquire(priority = 'normal') {
      return new Promise<Gate>((resolve, reject) => {
        waiters.push({ priority, seq: seq++, resolve, reject });
        void pump();
      });
    },
    async rateLimited(askedMs) {
      const asked = askedMs === undefined ? -1 : Math.min(MAX_ASKED_MS, Math.max(0, Math.ceil(askedMs)));
      const [reason, ms] = (await options.redis.eval(
        RATE_LIMITED,
        2,
        backoffKey,
        strikesKey,
        String(asked),
        String(baseMs),
        String(maxMs),
        String(STRIKE_MEMORY_MS),
      )) as [string, number];
      return { reason: reason === 'blocked' ? 'blocked' : 'rate_limited', retryAfterMs: Math.max(0, Number(ms)) };
    },
    async current() {
      const [reason, ms] = await Promise.all([options.redis.get(backoffKey), options.redis.pttl(backoffKey)]);
      if (reason === null || ms <= 0) return undefined;
      return { reason: reason === 'blocked' ? 'blocked' : 'rate_limited', retryAfterMs: ms };
    },
    async forbidden(htmlPage) {
      const [started, ms] = (await options.redis.eval(
        FORBIDDEN,
        2,
        backoffKey,
        strikesKey,
        htmlPage ? '1' : '0',
        String(cooldownMs),
      )) as [number, number];
      if (Number(ms) <= 0) return { blocked: false };
      return { blocked: true, started: Number(started) === 1, retryAfterMs: Number(ms) };
    },
  };
}
