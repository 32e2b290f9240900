/**
 * Telegram's limits for the whole bot, not per process: with several worker processes (and the bot answering in
 * another), a limit kept in memory would let each allow its own 30 messages a second, while Telegram counts the
 * bot's account. This grammY API transformer reserves each call's slot in Redis first:
 *
 * - overall: at most `global.max` calls in any `global.windowMs` (Telegram: about 30 messages a second);
 * - per chat: at least `perChatMs` between calls to one private chat (about one a second);
 * - per group: at least `group.minMs` apart and at most `group.max` in any `group.windowMs` (20 a minute).
 *
 * A slot is the earliest instant (Redis server time, so every process agrees) that keeps each limit, never before
 * the last slot reserved under that limit: slots of a chat come in the order their calls asked, and the order of a
 * chat's messages (one drainer at a time) is kept. The caller sleeps until its slot, then calls Telegram.
 *
 * A 429 holds its method for every chat and process: Telegram's `retry_after` is recorded as a hold on the method
 * (`sendMessage`, …), and no slot of that method is given before it ends.
 */
import { randomBytes } from 'node:crypto';
import type { Transformer } from 'grammy';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';

export interface SharedLimits {
  global: { max: number; windowMs: number };
  perChatMs: number;
  group: { minMs: number; max: number; windowMs: number };
}

/** Telegram's published limits with a margin (Telegram counts calls as they arrive, network jitter included). */
export const SHARED_TELEGRAM_LIMITS: SharedLimits = {
  global: { max: 30, windowMs: 1050 },
  perChatMs: 1100,
  group: { minMs: 1100, max: 20, windowMs: 61_000 },
};

/**
 * KEYS: the overall log, the chat's log, the method's hold. ARGV: global max, global window, chat gap, chat max (0:
 * none), chat window, a unique member. Returns the slot's delay from now in ms. Each log is a sorted set of reserved
 * instants; the hold is the instant (ms) before which the method may not be called.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function earliest(key, max, window, gap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window))
  local at = now
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    local l = tonumber(last[2])
    if l + gap > at then at = l + gap end
  end
  if max > 0 then
    local n = redis.call('ZCARD', key)
    if n >= max then
      local nth = redis.call('ZRANGE', key, n - max, n - max, 'WITHSCORES')
      local free = tonumber(nth[2]) + window
      if free > at then at = free end
    end
  end
  return at
end
local gmax, gwin = tonumber(ARGV[1]), tonumber(ARGV[2])
local cgap, cmax, cwin = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local at = earliest(KEYS[1], gmax, gwin, 0)
local c = earliest(KEYS[2], cmax, cwin, cgap)
if c > at then at = c end
local hold = tonumber(redis.call('GET', KEYS[3]) or '0')
if hold > at then at = hold end
redis.call('ZADD', KEYS[1], at, ARGV[6])
redis.call('ZADD', KEYS[2], at, ARGV[6])
redis.call('PEXPIRE', KEYS[1], at - now + gwin + 1000)
redis.call('PEXPIRE', KEYS[2], at - now + math.max(cwin, cgap) + 1000)
return at - now`;

/** KEYS: the method's hold. ARGV: the wait Telegram asked for (ms). Only ever extends the hold. */
const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilMs > hold then redis.call('SET', KEYS[1], tostring(untilMs), 'PX', tonumber(ARGV[1]) + 1000) end
return untilMs - now`;

export function sharedLimitKeys(keys: Keys) {
  // Under the Telegram keys' hash tag: the script touches the overall log and a chat's log together (Redis Cluster).
  return {
    global: keys.tagged('tg', 'limit', 'global'),
    chat: (chatId: string) => keys.tagged('tg', 'limit', 'chat', chatId),
    hold: (method: string) => keys.tagged('tg', 'limit', 'hold', method),
  };
}

export interface SharedLimiter {
  /** Reserves a slot for a call of `method` to `chatId` and returns how long to wait for it (ms). */
  (chatId: string, method?: string): Promise<number>;
  /** Telegram answered 429: no call of `method` to any chat for `retryAfterMs`. */
  hold(method: string, retryAfterMs: number): Promise<void>;
  /** How long the hold on `method` still lasts (ms; 0 when none). */
  held(method: string): Promise<number>;
}

export function createSharedLimiter(
  redis: Redis,
  keys: Keys,
  limits: SharedLimits = SHARED_TELEGRAM_LIMITS,
): SharedLimiter {
  const k = sharedLimitKeys(keys);
  const instance = randomBytes(6).toString('hex');
  let n = 0;
  const reserve = async (chatId: string, method = 'sendMessage'): Promise<number> => {
    const group = chatId.startsWith('-');
    const delay = await redis.eval(
      RESERVE,
      3,
      k.global,
      k.chat(chatId),
      k.hold(method),
      String(limits.global.max),
      String(limits.global.windowMs),
      String(group ? limits.group.minMs : limits.perChatMs),
      String(group ? limits.group.max : 0),
      String(group ? limits.group.windowMs : limits.perChatMs),
      `${instance}:${++n}`,
    );
    return Math.max(0, Number(delay));
  };
  const hold = async (method: string, retryAfterMs: number): Promise<void> => {
    await redis.eval(HOLD, 1, k.hold(method), String(Math.max(1, Math.ceil(retryAfterMs))));
  };
  const held = async (method: string): Promise<number> => Math.max(0, (await redis.pttl(k.hold(method))) - 1000);
  return Object.assign(reserve, { hold, held });
}

/**
 * The grammY transformer: calls that address a chat wait for their shared slot (and any hold on their method); others
 * (getUpdates, …) pass. A 429 answer holds the method for every chat and process for its `retry_after`.
 */
export function sharedLimit(reserve: SharedLimiter): Transformer {
  return async (prev, method, payload, signal) => {
    const chatId =
      payload && typeof payload === 'object' && 'chat_id' in payload
        ? String((payload as { chat_id: unknown }).chat_id)
        : undefined;
    if (chatId !== undefined) {
      const waitMs = await reserve(chatId, method);
      if (waitMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        // A 429 that came while this call waited for its slot holds it too (a call that did not wait saw the hold
        // in its reservation already).
        const heldMs = await reserve.held(method);
        if (heldMs > 0) await new Promise((resolve) => setTimeout(resolve, heldMs));
      }
    }
    const res = await prev(method, payload, signal);
    const retryAfter = !res.ok && res.error_code === 429 ? res.parameters?.retry_after : undefined;
    if (retryAfter !== undefined) await reserve.hold(method, retryAfter * 1000);
    return res;
  };
}
