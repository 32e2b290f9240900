/**
 * Every rule's timers in one sorted set (member `rule|leadId|key`, score = due instant in ms). A timer is never
 * lost with a job: it leaves the set only when its rule settled it. A worker claims due timers by moving their
 * score a lease ahead in one atomic step, so any number of workers share them without overlap, and the timers of
 * a worker killed mid-batch are due again when the lease ends. Keys carry the `{timers}` hash tag, so the two keys
 * a script touches share a Redis Cluster slot.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import type { DueTimer } from './types.js';

const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], ARGV[3], due[i])
  local attempts = redis.call('HGET', KEYS[2], due[i]) or '0'
  out[#out + 1] = due[i]
  out[#out + 1] = due[i + 1]
  out[#out + 1] = attempts
end
return out
`;

// Removes claimed timers that nobody rescheduled (their score is still the lease); ARGV: lease score, members.
const SETTLE = `
local n = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return n
`;

// Puts claimed timers back for a retry at ARGV[2], unless a plan moved them meanwhile; counts the attempt.
const RETRY = `
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
    redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
  end
end
return 0
`;

// Extends the lease of claimed timers still holding lease ARGV[1] to ARGV[2].
const RENEW = `
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i]) end
end
return 0
`;

export const timerMember = (rule: string, leadId: number, key: string): string => `${rule}|${leadId}|${key}`;

export function parseTimerMember(member: string): { rule: string; leadId: number; key: string } | undefined {
  const [rule, lead, ...rest] = member.split('|');
  const leadId = Number(lead);
  if (!rule || !Number.isInteger(leadId) || rest.length === 0) return undefined;
  return { rule, leadId, key: rest.join('|') };
}

export interface ClaimedTimers {
  timers: DueTimer[];
  /** The score claimed timers carry until settled or retried. */
  lease: number;
}

export interface TimerStore {
  schedule(items: Array<{ rule: string; leadId: number; key: string; dueAt: number }>): Promise<void>;
  cancel(items: Array<{ rule: string; leadId: number; key: string }>): Promise<void>;
  claim(now: number, limit: number, leaseMs: number): Promise<ClaimedTimers>;
  settle(lease: number, timers: DueTimer[]): Promise<void>;
  retry(lease: number, timers: DueTimer[], at: number): Promise<void>;
  /** A live worker still handling claimed timers keeps them: their lease moves from `lease` to `next`. */
  renew(lease: number, next: number, timers: DueTimer[]): Promise<void>;
  get(rule: string, leadId: number, key: string): Promise<number | undefined>;
  count(): Promise<number>;
  /** How many timers are due at `now` (claimed ones carry their lease, so they are not), and the earliest due instant. */
  backlog(now: number): Promise<{ due: number; oldestDueAt: number | undefined }>;
  /** The earliest due instant, if any. */
  next(): Promise<number | undefined>;
}

export function createTimerStore(redis: Redis, keys: Keys): TimerStore {
  const set = keys.tagged('timers', 'due');
  const attempts = keys.tagged('timers', 'attempts');
  return {
    async schedule(items) {
      if (items.length === 0) return;
      const pipeline = redis.pipeline();
      for (const t of items) {
        pipeline.zadd(set, String(Math.round(t.dueAt)), timerMember(t.rule, t.leadId, t.key));
        pipeline.hdel(attempts, timerMember(t.rule, t.leadId, t.key));
      }
      await pipeline.exec();
    },
    async cancel(items) {
      if (items.length === 0) return;
      const members = items.map((t) => timerMember(t.rule, t.leadId, t.key));
      await redis
        .multi()
        .zrem(set, ...members)
        .hdel(attempts, ...members)
        .exec();
    },
    async claim(now, limit, leaseMs) {
      const lease = Math.round(now + leaseMs);
      const flat = (await redis.eval(
        CLAIM,
        2,
        set,
        attempts,
        String(Math.round(now)),
        String(limit),
        String(lease),
      )) as string[];
      const timers: DueTimer[] = [];
      for (let i = 0; i < flat.length; i += 3) {
        const parsed = parseTimerMember(flat[i] ?? '');
        if (!parsed) continue;
        timers.push({ ...parsed, dueAt: Number(flat[i + 1]), attempts: Number(flat[i + 2] ?? 0) });
      }
      // Unparseable members (never written by this code) would be claimed forever; drop them.
      const bad = [];
      for (let i = 0; i < flat.length; i += 3) if (!parseTimerMember(flat[i] ?? '')) bad.push(flat[i] ?? '');
      if (bad.length > 0) await redis.zrem(set, ...bad);
      return { timers, lease };
    },
    async settle(lease, timers) {
      if (timers.length === 0) return;
      await redis.eval(
        SETTLE,
        2,
        set,
        attempts,
        String(lease),
        ...timers.map((t) => timerMember(t.rule, t.leadId, t.key)),
      );
    },
    async retry(lease, timers, at) {
      if (timers.length === 0) return;
      await redis.eval(
        RETRY,
        2,
        set,
        attempts,
        String(lease),
        String(Math.round(at)),
        ...timers.map((t) => timerMember(t.rule, t.leadId, t.key)),
      );
    },
    async renew(lease, next, timers) {
      if (timers.length === 0) return;
      await redis.eval(
        RENEW,
        1,
        set,
        String(lease),
        String(Math.round(next)),
        ...timers.map((t) => timerMember(t.rule, t.leadId, t.key)),
      );
    },
    async get(rule, leadId, key) {
      const score = await redis.zscore(set, timerMember(rule, leadId, key));
      return score === null ? undefined : Number(score);
    },
    count: () => redis.zcard(set),
    async backlog(now) {
      const [[, due], [, first]] = (await redis
        .pipeline()
        .zcount(set, '-inf', String(Math.round(now)))
        .zrange(set, 0, 0, 'WITHSCORES')
        .exec()) as [[unknown, number], [unknown, string[]]];
      const oldest = first[1] !== undefined ? Number(first[1]) : undefined;
      return { due, oldestDueAt: oldest !== undefined && oldest <= now ? oldest : undefined };
    },
    async next() {
      const first = await redis.zrange(set, 0, 0, 'WITHSCORES');
      return first[1] !== undefined ? Number(first[1]) : undefined;
    },
  };
}
