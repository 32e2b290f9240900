/**
 * Which Telegram chat belongs to which amoCRM user. Managers link through a one-time deep link
 * (`https://t.me/<bot>?start=<code>`) an admin generates; a code is single-use and expires. Nobody types an id.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';

export interface LinkStore {
  /** A fresh single-use code for the user, valid `ttlMs`. */
  createCode(user: { userId: number; name: string }, ttlMs: number): Promise<string>;
  /** Uses a code up (atomically: a second use fails) and links the chat to its user. */
  consume(code: string, chatId: string): Promise<{ userId: number; name: string } | undefined>;
  chatOf(userId: number): Promise<string | undefined>;
  userOf(chatId: string): Promise<number | undefined>;
}

/** Deep-link payloads may hold A-Z, a-z, 0-9, _ and - (up to 64 characters). */
export const isLinkCode = (code: string): boolean => /^[A-Za-z0-9_-]{16,64}$/.test(code);

export function deepLink(botUsername: string, code: string): string {
  return `https://t.me/${botUsername}?start=${code}`;
}

export function createLinkStore(redis: Redis, keys: Keys): LinkStore {
  const codeKey = (code: string): string => keys.tagged('tg', 'link', code);
  const userChat = (userId: number): string => keys.tagged('tg', 'user', userId, 'chat');
  const chatUser = (chatId: string): string => keys.tagged('tg', 'chat', chatId, 'user');
  return {
    async createCode(user, ttlMs) {
      const code = randomBytes(18).toString('base64url');
      await redis.set(codeKey(code), JSON.stringify(user), 'PX', ttlMs);
      return code;
    },
    async consume(code, chatId) {
      if (!isLinkCode(code)) return undefined;
      const raw = await redis.getdel(codeKey(code));
      if (raw === null) return undefined;
      const user = JSON.parse(raw) as { userId: number; name: string };
      // A user re-linking from another account moves to the new chat; the old chat stops being theirs.
      const previous = await redis.get(userChat(user.userId));
      const tx = redis.multi();
      if (previous !== null && previous !== chatId) tx.del(chatUser(previous));
      tx.set(userChat(user.userId), chatId)
        .set(chatUser(chatId), String(user.userId))
        .del(keys.tagged('tg', 'dead', chatId), keys.tagged('tg', 'dead', chatId, 'alerted'));
      await tx.exec();
      return user;
    },
    async chatOf(userId) {
      return (await redis.get(userChat(userId))) ?? undefined;
    },
    async userOf(chatId) {
      const v = await redis.get(chatUser(chatId));
      return v === null ? undefined : Number(v);
    },
  };
}
