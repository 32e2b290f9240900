/**
 * amoCRM authentication: a long-lived token, or OAuth 2.0 with tokens kept in Redis (amocrm.md §4).
 *
 * Refresh tokens are single-use: two processes refreshing with the same one leave one of them revoked.
 * So refresh is single-flight across every process (a Redis lock; in a process, one shared promise), it happens
 * ahead of expiry, and the new pair is written to Redis before anyone uses it.
 *
 * The token request carries the client secret and the refresh token, so nothing that failed around it leaves
 * this module as is: a transport error (an axios error holds the request body), a Redis error (ioredis keeps the
 * command's arguments, here the new pair) or a parse error become AmoErrors with a fixed message.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  AmoAuthRevokedError,
  AmoBlockedError,
  AmoError,
  AmoUnavailableError,
  AmoUnexpectedError,
  networkError,
  retryAfterMs,
} from './errors.js';
import type { RateLimiter } from './rate-limiter.js';

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
const TOKEN_ENDPOINT = 'POST /oauth2/access_token';

export interface TokenEndpoint {
  /** POST /oauth2/access_token; returns the status, the parsed JSON body (or the text) and any Retry-After header. */
  (body: Record<string, string>): Promise<{ status: number; body: unknown; retryAfter?: string }>;
}

export interface Auth {
  /** The token to send now (refreshing first when it is about to expire). */
  accessToken(): Promise<string>;
  /** Called after a 401 with the token that failed; resolves when a retry makes sense. */
  onUnauthorized(failedToken: string): Promise<void>;
  exchangeAuthCode?(code: string): Promise<void>;
  hasTokens(): Promise<boolean>;
  /** Forgets the stored tokens (the integration was disconnected in amoCRM). */
  clearTokens?(): Promise<void>;
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
  onAlert?: (kind: 'auth_revoked' | 'blocked', message: string) => void;
  onRefresh?: () => void;
  /**
   * The shared rate limit and back-off. The token endpoint is amoCRM too: while amoCRM blocks the account it
   * answers 403 here as well, which must read as a block to wait out, not as revoked access.
   */
  limiter?: RateLimiter;
}

export function createOAuth(options: OAuthOptions): Auth & { exchangeAuthCode(code: string): Promise<void> } {
  // eslint-disable-next-line no-restricted-syntax -- Real time by default: token expiry is amoCRM's real clock, whatever clock the rules run on.
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
    const gate = await options.limiter?.acquire('sla');
    if (gate?.kind === 'backoff') {
      if (gate.reason === 'blocked') throw new AmoBlockedError(TOKEN_ENDPOINT, gate.retryAfterMs);
      throw new AmoUnavailableError(
        `amoCRM asked to slow down (429); ${TOKEN_ENDPOINT} not sent`,
        429,
        TOKEN_ENDPOINT,
        gate.retryAfterMs,
      );
    }
    let res: { status: number; body: unknown; retryAfter?: string };
    try {
      res = await options.tokenEndpoint({
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uri: options.redirectUri,
        ...body,
      });
    } catch (err) {
      throw err instanceof AmoError ? err : networkError(err, TOKEN_ENDPOINT);
    }
    if (res.status >= 200 && res.status < 300) {
      const parsed = OAuthResponseSchema.safeParse(res.body);
      if (!parsed.success) {
        throw new AmoUnexpectedError(
          `amoCRM ${TOKEN_ENDPOINT} answered a shape we do not understand (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')})`,
          res.status,
          TOKEN_ENDPOINT,
        );
      }
      const pair = {
        accessToken: parsed.data.access_token,
        refreshToken: parsed.data.refresh_token,
        expiresAt: now() + parsed.data.expires_in * 1000,
      };
      // Durable before use: the old refresh token is spent now.
      try {
        await options.redis.set(options.key, JSON.stringify(pair));
      } catch (err) {
        const reason = err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
        throw new AmoUnavailableError(
          `the new amoCRM token pair could not be stored in Redis (${reason}); the old refresh token is spent, re-authorise if calls keep failing with 401`,
          undefined,
          TOKEN_ENDPOINT,
        );
      }
      options.onRefresh?.();
      return pair;
    }
    if (res.status === 429 && options.limiter) {
      const recorded = await options.limiter.rateLimited(retryAfterMs(res.body, res.retryAfter, now()));
      throw new AmoUnavailableError(
        `amoCRM rate limit hit on ${TOKEN_ENDPOINT}`,
        429,
        TOKEN_ENDPOINT,
        recorded.retryAfterMs,
      );
    }
    if (res.status === 403 && options.limiter) {
      // amoCRM's block is an nginx HTML page (amocrm.md §2, sample 59); a JSON 403 is amoCRM refusing the grant.
      const block = await options.limiter.forbidden(typeof res.body === 'string' && /^\s*</.test(res.body));
      if (block.blocked) {
        const error = new AmoBlockedError(TOKEN_ENDPOINT, block.retryAfterMs);
        if (block.started) options.onAlert?.('blocked', error.message);
        throw error;
      }
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      const hint =
        typeof res.body === 'object' && res.body !== null
          ? String((res.body as Record<string, unknown>).hint ?? (res.body as Record<string, unknown>).detail ?? '')
          : '';
      const error = new AmoAuthRevokedError(
        TOKEN_ENDPOINT,
        hint.slice(0, 200) || `token endpoint answered ${res.status}`,
      );
      options.onAlert?.('auth_revoked', error.message);
      throw error;
    }
    throw new AmoUnavailableError(`amoCRM ${TOKEN_ENDPOINT} answered ${res.status}`, res.status, TOKEN_ENDPOINT);
  };

  /** Refreshes unless another process already did; `seen` is the access token the caller found stale. */
  const refreshAcrossProcesses = async (seen: string | undefined): Promise<TokenPair> => {
    const lockToken = randomUUID();
    for (let attempt = 0; attempt < 200; attempt++) {
      const got = await options.redis.set(lockKey, lockToken, 'PX', LOCK_MS, 'NX');
      if (got === 'OK') {
        try {
          const current = await read();
          if (current === undefined)
            throw new AmoAuthRevokedError(
              TOKEN_ENDPOINT,
              'no OAuth tokens are stored; authorise the integration first',
            );
          // Someone refreshed while we waited for the lock: use theirs, never spend the new refresh token twice.
          if (current.accessToken !== seen && current.expiresAt - now() > REFRESH_AHEAD_MS) return current;
          return await grant({ grant_type: 'refresh_token', refresh_token: current.refreshToken });
        } finally {
          await options.redis.eval(
            `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`,
            1,
            lockKey,
            lockToken,
          );
        }
      }
      await sleep(50);
      const current = await read();
      if (current !== undefined && current.accessToken !== seen && current.expiresAt - now() > REFRESH_AHEAD_MS)
        return current;
    }
    throw new AmoUnavailableError(
      'timed out waiting for another process to refresh the amoCRM token',
      undefined,
      TOKEN_ENDPOINT,
    );
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
      if (current === undefined)
        throw new AmoAuthRevokedError('api', 'no OAuth tokens are stored; authorise the integration first');
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
    async clearTokens() {
      await options.redis.del(options.key);
    },
  };
}
