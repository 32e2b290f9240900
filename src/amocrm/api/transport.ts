/**
 * The HTTP transport with amoCRM manners: shared rate limit, auth with one refresh-and-retry on 401,
 * backoff with full jitter on 5xx/network errors, and a back-off shared by every process on 429 (honouring
 * retry_after) and on a 403 block (amocrm.md §3).
 *
 * A request never sleeps for long: a shared back-off shorter than the in-request budget (`maxInRequestWaitMs`,
 * 5 s) is waited out here; a longer one, or a block, fails fast with a retryable error carrying `retryAfterMs`,
 * so the caller (a job, the executor) can park its work until then instead of holding a worker for minutes.
 * 4xx answers other than 401 and 429 are never retried: they say what we sent is wrong.
 */
import type { AxiosInstance } from 'axios';
import type { ZodType } from 'zod';
import type { Auth } from './auth.js';
import {
  AmoAuthRevokedError,
  AmoBlockedError,
  AmoError,
  AmoUnavailableError,
  AmoUnexpectedError,
  errorFromResponse,
  networkError,
  retryAfterMs,
} from './errors.js';
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
  /** The most one request waits for a shared back-off before it fails with `retryAfterMs` instead. */
  maxInRequestWaitMs?: number;
  /** No retry of a 5xx or network error starts after this long since the request began (timeouts add up). */
  maxRequestMs?: number;
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
    if (Array.isArray(v))
      for (const item of v)
        parts.push(
          `${encodeURIComponent(`${k}[]`).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(item))}`,
        );
    else
      parts.push(`${encodeURIComponent(k).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${encodeURIComponent(String(v))}`);
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

export const DEFAULT_MAX_IN_REQUEST_WAIT_MS = 5_000;
/** With a 20 s timeout, about three tries of a hanging amoCRM; the job's own retries take it from there. */
export const DEFAULT_MAX_REQUEST_MS = 60_000;

export function createTransport(options: TransportOptions): Transport {
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const maxWait = options.maxInRequestWaitMs ?? DEFAULT_MAX_IN_REQUEST_WAIT_MS;
  const maxRequest = options.maxRequestMs ?? DEFAULT_MAX_REQUEST_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  // eslint-disable-next-line no-restricted-syntax -- Real time by default: back-off and retry_after are amoCRM's own seconds, shared through Redis with other processes.
  const now = options.now ?? Date.now;

  const backoff = (attempt: number): number => Math.floor(random() * Math.min(maxDelay, baseDelay * 2 ** attempt));

  return {
    async request<T>(
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      path: string,
      opts: RequestOptions<T>,
    ): Promise<T | null> {
      const endpoint = `${method} ${path}`;
      let refreshed = false;
      let lastError: AmoError | undefined;
      let waitedMs = 0;
      const startedAt = now();
      /** Sleeps before the next retry, or says there is no time left for one. */
      const retryAfterBackoff = async (attempt: number): Promise<boolean> => {
        const delay = backoff(attempt);
        if (now() - startedAt + delay > maxRequest) return false;
        await sleep(delay);
        return true;
      };
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const gate = await options.limiter.acquire(opts.priority ?? 'normal');
        if (gate.kind === 'backoff') {
          if (gate.reason === 'blocked') throw new AmoBlockedError(endpoint, gate.retryAfterMs);
          if (waitedMs + gate.retryAfterMs > maxWait) {
            throw new AmoUnavailableError(
              `amoCRM asked to slow down (429); ${endpoint} not sent, every process waits ${Math.ceil(gate.retryAfterMs / 1000)} s`,
              429,
              endpoint,
              gate.retryAfterMs,
            );
          }
          waitedMs += gate.retryAfterMs;
          await sleep(gate.retryAfterMs);
          attempt -= 1; // nothing was sent: waiting out the back-off is bounded by maxWait, not by the attempts
          continue;
        }
        let token: string;
        try {
          token = await options.auth.accessToken();
        } catch (err) {
          if (err instanceof AmoAuthRevokedError) options.onAlert?.('auth_revoked', err.message);
          throw err;
        }
        let status: number;
        let body: unknown;
        let retryAfterHeader: string | undefined;
        try {
          const res = await options.http.request({
            method,
            url: `${options.baseUrl}${path}${encodeQuery(opts.query)}`,
            data: opts.body,
            headers: {
              Authorization: `Bearer ${token}`,
              Accept: 'application/json',
              ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
            },
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
          // The axios error holds the request config (Authorization header, body): only its code goes on.
          lastError = networkError(err, endpoint);
          if (!(await retryAfterBackoff(attempt))) break;
          continue;
        }
        options.onRequest?.(method, status);

        if (status === 204) return null;
        if (status >= 200 && status < 300) {
          const parsed = opts.schema.safeParse(body);
          if (!parsed.success) {
            throw new AmoUnexpectedError(
              `amoCRM ${endpoint} answered a shape we do not understand: ${parsed.error.issues
                .slice(0, 3)
                .map((i) => `${i.path.join('.')}: ${i.message}`)
                .join('; ')}`,
              status,
              endpoint,
            );
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
        if (status === 403) {
          const block = await options.limiter.forbidden(isHtml(body));
          if (block.blocked) {
            const error = new AmoBlockedError(endpoint, block.retryAfterMs);
            // One alert per block: the process that started it raises it; the others just stop sending.
            if (block.started) options.onAlert?.('blocked', error.message);
            throw error;
          }
        }
        if (status === 429) {
          const recorded = await options.limiter.rateLimited(retryAfterMs(body, retryAfterHeader, now()));
          lastError = errorFromResponse(status, body, endpoint, recorded.retryAfterMs);
          if (recorded.reason === 'blocked') throw new AmoBlockedError(endpoint, recorded.retryAfterMs);
          if (waitedMs + recorded.retryAfterMs > maxWait) throw lastError;
          continue; // the gate waits out the shared back-off before the next attempt
        }
        if (status >= 500) {
          lastError = errorFromResponse(status, body, endpoint);
          if (!(await retryAfterBackoff(attempt))) break;
          continue;
        }
        throw errorFromResponse(status, body, endpoint);
      }
      throw lastError ?? new AmoUnavailableError(`amoCRM ${endpoint} failed`, undefined, endpoint);

      async function revoked(ep: string, b: unknown): Promise<AmoError> {
        const detail =
          typeof b === 'object' && b !== null
            ? String((b as Record<string, unknown>).detail ?? (b as Record<string, unknown>).hint ?? '401')
            : '401';
        const error = new AmoAuthRevokedError(ep, detail);
        options.onAlert?.('auth_revoked', error.message);
        return error;
      }
    },
  };
}
