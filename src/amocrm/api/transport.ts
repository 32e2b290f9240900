/**
 * The HTTP transport with amoCRM manners: shared rate limit, auth with one refresh-and-retry on 401,
 * backoff with full jitter on 429/5xx/network errors honouring retry_after, and a stop on a 403 block.
 */
import type { AxiosInstance } from 'axios';
import type { ZodType } from 'zod';
import type { Auth } from './auth.js';
import { AmoAuthRevokedError, AmoBlockedError, AmoError, AmoUnavailableError, AmoUnexpectedError, errorFromResponse, retryAfterMs } from './errors.js';
import type { Priority, RateLimiter } from './rate-limiter.js';

export interface RequestOptions<T> {
  query?: Record<string, string | number | Array<string | number>>;
  body?: unknown;
  priority?: Priority;
  schema: ZodType<T>;
}

export interface TransportHooks {
  onRequest?: (method: string, status: number | 'network') => void;
  onAlert?: (kind: 'blocked' | 'auth_revoked', message: string) => void;
}

export interface TransportOptions extends TransportHooks {
  http: AxiosInstance;
  baseUrl: string;
  auth: Auth;
  limiter: RateLimiter;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long calls fail fast after amoCRM starts blocking (403 after 429s). */
  blockCooldownMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export interface Transport {
  request<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options: RequestOptions<T>): Promise<T | null>;
}

/** amoCRM's filter syntax: `filter[id][]=1&filter[id][]=2`, built without qs so no key is ever truncated. */
export function encodeQuery(query: RequestOptions<unknown>['query']): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const item of v) parts.push(`${encodeURIComponent(`${k}[]`).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(item))}`);
    else parts.push(`${encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

const parseBody = (text: unknown): unknown => {
  if (typeof text !== 'string') return text;
  const t = text.trim();
  if (t === '') return undefined;
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return text;
    }
  }
  return text;
};

const isHtml = (body: unknown): boolean => typeof body === 'string' && /^\s*</.test(body);

export function createTransport(options: TransportOptions): Transport {
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const cooldown = options.blockCooldownMs ?? 10 * 60_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  let blockedUntil = 0;
  let last429At = -Infinity;

  const backoff = (attempt: number): number => Math.floor(random() * Math.min(maxDelay, baseDelay * 2 ** attempt));

  return {
    async request<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, opts: RequestOptions<T>): Promise<T | null> {
      const endpoint = `${method} ${path}`;
      let refreshed = false;
      let lastError: AmoError | undefined;
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        if (now() < blockedUntil) throw new AmoBlockedError(endpoint, blockedUntil);
        await options.limiter.acquire(opts.priority ?? 'normal');
        const token = await options.auth.accessToken();
        let status: number;
        let body: unknown;
        let retryAfterHeader: string | undefined;
        try {
          const res = await options.http.request({
            method,
            url: `${options.baseUrl}${path}${encodeQuery(opts.query)}`,
            data: opts.body,
            headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
            responseType: 'text',
            transformResponse: (x: unknown) => x,
            validateStatus: () => true,
          });
          status = res.status;
          body = parseBody(res.data);
          const ra = res.headers['retry-after'] as unknown;
          retryAfterHeader = typeof ra === 'string' ? ra : undefined;
        } catch (err) {
          options.onRequest?.(method, 'network');
          lastError = new AmoUnavailableError(`network error calling amoCRM ${endpoint}: ${(err as Error).message}`, undefined, endpoint);
          await sleep(backoff(attempt));
          continue;
        }
        options.onRequest?.(method, status);

        if (status === 204) return null;
        if (status >= 200 && status < 300) {
          const parsed = opts.schema.safeParse(body);
          if (!parsed.success) {
            throw new AmoUnexpectedError(`amoCRM ${endpoint} answered a shape we do not understand: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, status, endpoint);
          }
          return parsed.data;
        }
        if (status === 401) {
          if (refreshed) throw await revoked(endpoint, body);
          refreshed = true;
          try {
            await options.auth.onUnauthorized(token);
          } catch (err) {
            if (err instanceof AmoAuthRevokedError) options.onAlert?.('auth_revoked', err.message);
            throw err;
          }
          attempt -= 1; // the refresh-and-retry does not count against the retry budget
          continue;
        }
        if (status === 403 && (isHtml(body) || now() - last429At < 60_000)) {
          blockedUntil = now() + cooldown;
          const error = new AmoBlockedError(endpoint, blockedUntil);
          options.onAlert?.('blocked', error.message);
          throw error;
        }
        if (status === 429) {
          last429At = now();
          const wait = retryAfterMs(body, retryAfterHeader, now());
          lastError = errorFromResponse(status, body, endpoint, wait);
          await sleep(Math.min(wait ?? backoff(attempt + 2), 5 * 60_000));
          continue;
        }
        if (status >= 500) {
          lastError = errorFromResponse(status, body, endpoint);
          await sleep(backoff(attempt));
          continue;
        }
        throw errorFromResponse(status, body, endpoint);
      }
      throw lastError ?? new AmoUnavailableError(`amoCRM ${endpoint} failed`, undefined, endpoint);

      async function revoked(ep: string, b: unknown): Promise<AmoError> {
        const detail = typeof b === 'object' && b !== null ? String((b as Record<string, unknown>).detail ?? (b as Record<string, unknown>).hint ?? '401') : '401';
        const error = new AmoAuthRevokedError(ep, detail);
        options.onAlert?.('auth_revoked', error.message);
        return error;
      }
    },
  };
}
