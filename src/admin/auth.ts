/**
 * Admin authentication: the ADMIN_TOKEN bearer (compared in constant time), and the page's short-lived sessions it
 * is exchanged for. A session is a random id in an HttpOnly, SameSite=Strict cookie plus a CSRF token the page sends
 * in a header on every write; both live in Redis so any web process serves the page.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';

export const MIN_ADMIN_TOKEN_LENGTH = 32;
const MIN_DISTINCT_CHARS = 10;

/** Why a token is too weak to protect the admin routes, or undefined when it is acceptable. */
export function adminTokenProblem(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return 'ADMIN_TOKEN is not set';
  if (token.length < MIN_ADMIN_TOKEN_LENGTH)
    return `ADMIN_TOKEN is too short (${token.length} characters; at least ${MIN_ADMIN_TOKEN_LENGTH} are required)`;
  if (new Set(token).size < MIN_DISTINCT_CHARS)
    return `ADMIN_TOKEN is too simple (fewer than ${MIN_DISTINCT_CHARS} different characters); use e.g. \`openssl rand -hex 32\``;
  return undefined;
}

/** Constant-time comparison: both sides are hashed first, so neither length nor content leaks through timing. */
export function tokenEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface AdminSession {
  id: string;
  csrf: string;
  createdAt: string;
  /** The named admin who signed in (ADMINS_FILE); absent for a session opened with the shared token. */
  admin?: string;
  /** The client address it was opened from. */
  address?: string;
}

export interface SessionStore {
  create(at: string, who?: { admin?: string; address?: string }): Promise<AdminSession>;
  get(id: string): Promise<AdminSession | undefined>;
  destroy(id: string): Promise<void>;
}

export function createSessionStore(redis: Redis, keys: Keys, ttlSeconds: number): SessionStore {
  const key = (id: string): string => keys.of('admin', 'session', createHash('sha256').update(id).digest('hex'));
  return {
    async create(at, who = {}) {
      const { id, ...data } = {
        id: randomBytes(32).toString('base64url'),
        csrf: randomBytes(24).toString('base64url'),
        createdAt: at,
        ...(who.admin !== undefined ? { admin: who.admin } : {}),
        ...(who.address !== undefined ? { address: who.address } : {}),
      };
      await redis.set(key(id), JSON.stringify(data), 'EX', ttlSeconds);
      return { id, ...data };
    },
    async get(id) {
      if (!/^[A-Za-z0-9_-]{20,100}$/.test(id)) return undefined;
      const raw = await redis.get(key(id));
      if (raw === null) return undefined;
      const data = JSON.parse(raw) as Omit<AdminSession, 'id'>;
      return { id, ...data };
    },
    async destroy(id) {
      await redis.del(key(id));
    },
  };
}
