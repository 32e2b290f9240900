/**
 * amoCRM authentication: a long-lived token, or OAuth 2.0 with tokens kept in Redis (amocrm.md §4).
 *
 * Refresh tokens are single-use: two processes refreshing with the same one leave one of them revoked.
 * So refresh is single-flight across every process (a Redis lock; in a process, one shared promise), it happens
 * ahead of expiry, and the new pair is written to Redis before anyone uses it.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AmoAuthRevokedError, AmoUnavailableError } from './errors.js';

export const TokenPairSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  /** Epoch ms. */
  expiresAt: z.number(),
});
export type TokenPair = z.infer<typeof TokenPairSchema>;

/** Refresh when less than this is left: a day-long token is renewed well before requests start failing. */
export const REFRESH_AHEAD_MS = 10 * 60 * 1000;
const LOCK_MS = 30_000;

export interface TokenEndpoint {
  /** POST /oauth2/access_token; returns the parsed JSON body and status. */
  (body: Record<string, string>): Promise<{ status: number; body: unknown }>;
}

export interface Auth {
  /** The token to send now (refreshing first when it is about to expire). */
  accessToken(): Promise<string>;
  /** Called after a 401 with the token that failed; resolves when a retry makes sense. */
  onUnauthorized(failedToken: string): Promise<void>;
  exchangeAuthCode?(code: string): Promise<void>;
  hasTokens(): Promise<boolean>;
}

export function createLongLivedAuth(token: string): Auth {
  return {
    accessToken: async () => token,
    onUnauthorized: async () => {
      throw new AmoAuthRevokedError('api', 'the long-lived token was rejected (expired or revoked)');
    },
    hasTokens: async () => true,
  };
}

const OAuthResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
});

export interface OAuthOptions {
  redis: Redis;
  key: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  tokenEndpoint: TokenEndpoint;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onAlert?: (kind: 'auth_revoked', message: string) => void;
  onRefresh?: () => void;
}

export function createOAuth(options: OAuthOptions): Auth & { exchangeAuthCode(code: string): Promise<void> } {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const lockKey = `${options.key}:lock`;
  let inFlight: Promise<TokenPair> | undefined;

  const read = async (): Promise<TokenPair | undefined> => {
    const raw = await options.redis.get(options.key);
    if (raw === null) return undefined;
    const parsed = TokenPairSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  };

  const grant = async (body: Record<string, string>): Promise<TokenPair> => {
    const res = await options.tokenEndpoint({ client_id: options.clientId, client_secret: options.clientSecret, redirect_uri: options.redirectUri, ...body });
    if (res.status >= 200 && res.status < 300) {
      const parsed = OAuthResponseSchema.parse(res.body);
      const pair = { accessToken: parsed.access_token, refreshToken: parsed.refresh_token, expiresAt: now() + parsed.expires_in * 1000 };
      // Durable before use: the old refresh token is spent now.
      await options.redis.set(options.key, JSON.stringify(pair));
      options.onRefresh?.();
      return pair;
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      const hint = typeof res.body === 'object' && res.body !== null ? String((res.body as Record<string, unknown>).hint ?? (res.body as Record<string, unknown>).detail ?? '') : '';
      const error = new AmoAuthRevokedError('/oauth2/access_token', hint || `token endpoint answered ${res.status}`);
      options.onAlert?.('auth_revoked', error.message);
      throw error;
    }
    throw new AmoUnavailableError(`token endpoint answered ${res.status}`, res.status, '/oauth2/access_token');
  };

  /** Refreshes unless another process already did; `seen` is the access token the caller found stale. */
  const refreshAcrossProcesses = async (seen: string | undefined): Promise<TokenPair> => {
    const lockToken = randomUUID();
    for (let attempt = 0; attempt < 200; attempt++) {
      const got = await options.redis.set(lockKey, lockToken, 'PX', LOCK_MS, 'NX');
      if (got === 'OK') {
        try {
          const current = await read();
          if (current === undefined) throw new AmoAuthRevokedError('/oauth2/access_token', 'no OAuth tokens are stored; authorise the integration first');
          // Someone refreshed while we waited for the lock: use theirs, never spend the new refresh token twice.
          if (current.accessToken !== seen && current.expiresAt - now() > REFRESH_AHEAD_MS) return current;
          return await grant({ grant_type: 'refresh_token', refresh_token: current.refreshToken });
        } finally {
          await options.redis.eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`, 1, lockKey, lockToken);
        }
      }
      await sleep(50);
      const current = await read();
      if (current !== undefined && current.accessToken !== seen && current.expiresAt - now() > REFRESH_AHEAD_MS) return current;
    }
    throw new AmoUnavailableError('timed out waiting for another process to refresh the amoCRM token', undefined, '/oauth2/access_token');
  };

  const refresh = (seen: string | undefined): Promise<TokenPair> => {
    inFlight ??= refreshAcrossProcesses(seen).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return {
    async accessToken() {
      const current = await read();
      if (current === undefined) throw new AmoAuthRevokedError('api', 'no OAuth tokens are stored; authorise the integration first');
      if (current.expiresAt - now() > REFRESH_AHEAD_MS) return current.accessToken;
      return (await refresh(current.accessToken)).accessToken;
    },
    async onUnauthorized(failedToken) {
      await refresh(failedToken);
    },
    async exchangeAuthCode(code) {
      await grant({ grant_type: 'authorization_code', code });
    },
    async hasTokens() {
      return (await read()) !== undefined;
    },
  };
}
