/**
 * amoCRM API errors. Each says whether the caller may retry and whether it is our bug; the HTTP status → class
 * mapping lives in one function, `errorFromResponse`.
 *
 * Secret-safe by construction: messages never carry tokens or secrets, and every own enumerable property is a
 * plain value (status, endpoint, field errors, waits) that pino's `err` serializer may print as is. No error here
 * keeps a request, a response, headers, an axios config or a `cause`: a transport failure is turned into one of
 * these classes by `networkError` before anything can log it.
 */
export interface FieldError {
  requestId?: string;
  code: string;
  path: string;
  detail: string;
}

export abstract class AmoError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly ourBug: boolean;
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly endpoint: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400 `validation-errors` or 422: what we sent is wrong; every field error is carried. */
export class AmoValidationError extends AmoError {
  readonly retryable = false;
  readonly ourBug = true;
  constructor(
    status: number,
    endpoint: string,
    readonly fieldErrors: FieldError[],
    detail: string,
  ) {
    super(
      `amoCRM rejected ${endpoint} (${status}): ${detail}${fieldErrors.length ? `; ${fieldErrors.map((e) => `${e.path}: ${e.detail} [${e.code}]`).join('; ')}` : ''}`,
      status,
      endpoint,
    );
  }
}

/**
 * 401 that a refresh could not cure, or a refresh token amoCRM says was revoked: an admin must re-authorise.
 * Retryable: the work is not wrong and succeeds once access is restored, so a job keeps its retry policy instead
 * of ending at once like a rejected request (the alert is what brings the admin).
 */
export class AmoAuthRevokedError extends AmoError {
  readonly retryable = true;
  readonly ourBug = false;
  constructor(endpoint: string, detail: string) {
    super(
      `amoCRM access was revoked (${detail}). Re-authorise the integration: set a fresh AMO_AUTH_CODE (or open the install link to reach /oauth/callback), or issue a new AMO_LONG_LIVED_TOKEN, then restart.`,
      401,
      endpoint,
    );
  }
}

/**
 * 403 after rate-limit violations (often an nginx HTML page): amoCRM is blocking the account or IP. Every process
 * stops sending for the cool-down; the work is worth retrying after `retryAfterMs`, not now.
 */
export class AmoBlockedError extends AmoError {
  readonly retryable = true;
  readonly ourBug = false;
  constructor(
    endpoint: string,
    /** How long every process keeps from sending, from when this error was made. */
    readonly retryAfterMs: number,
  ) {
    super(
      `amoCRM is blocking the account or IP after too many requests (403); ${endpoint} not sent, calls paused for ${Math.ceil(retryAfterMs / 1000)} s; contact amoCRM support if it persists`,
      403,
      endpoint,
    );
  }
}

export class AmoPaymentRequiredError extends AmoError {
  readonly retryable = false;
  readonly ourBug = false;
  constructor(endpoint: string) {
    super(`amoCRM answered 402 to ${endpoint}: the account's subscription or trial has ended`, 402, endpoint);
  }
}

export class AmoNotFoundError extends AmoError {
  readonly retryable = false;
  readonly ourBug = false;
  constructor(endpoint: string) {
    super(`amoCRM has no ${endpoint}`, 404, endpoint);
  }
}

/** 429, 5xx, 504, network errors: worth another try later; after `retryAfterMs` when amoCRM said how long. */
export class AmoUnavailableError extends AmoError {
  readonly retryable = true;
  readonly ourBug = false;
  constructor(
    message: string,
    status: number | undefined,
    endpoint: string,
    readonly retryAfterMs?: number,
  ) {
    super(message, status, endpoint);
  }
}

export class AmoUnexpectedError extends AmoError {
  readonly retryable = false;
  readonly ourBug = true;
}

/**
 * A request that never got an HTTP answer (socket closed, timeout, DNS). Only the error code and a fixed
 * description are kept: an axios error carries the request config (body with client_secret and refresh_token,
 * the Authorization header) and must never reach a log.
 */
export function networkError(err: unknown, endpoint: string): AmoUnavailableError {
  const code =
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : undefined;
  const safeCode = code !== undefined && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'unknown';
  return new AmoUnavailableError(`network error calling amoCRM ${endpoint} (${safeCode})`, undefined, endpoint);
}

type Body = unknown;

function problemDetail(body: Body): string {
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    return [b.title, b.detail, b.hint].filter((x) => typeof x === 'string' && x !== '').join(': ') || 'no detail';
  }
  if (typeof body === 'string') return body.trim().startsWith('<') ? 'HTML error page' : body.slice(0, 200);
  return 'no detail';
}

function fieldErrors(body: Body): FieldError[] {
  if (typeof body !== 'object' || body === null) return [];
  const groups = (body as Record<string, unknown>)['validation-errors'];
  if (!Array.isArray(groups)) return [];
  return groups.flatMap((g: { request_id?: unknown; errors?: unknown }) =>
    (Array.isArray(g.errors) ? g.errors : []).map((e: { code?: unknown; path?: unknown; detail?: unknown }) => ({
      ...(g.request_id !== undefined ? { requestId: String(g.request_id) } : {}),
      code: String(e.code ?? ''),
      path: String(e.path ?? ''),
      detail: String(e.detail ?? ''),
    })),
  );
}

/** `retry_after` (seconds) from a JSON 429 body, or a Retry-After header in seconds or as an HTTP date. */
export function retryAfterMs(body: Body, header: string | undefined, nowMs: number): number | undefined {
  if (typeof body === 'object' && body !== null) {
    const v = Number((body as Record<string, unknown>).retry_after);
    if (Number.isFinite(v) && v >= 0) return v * 1000;
  }
  if (header !== undefined) {
    const s = Number(header);
    if (Number.isFinite(s)) return s * 1000;
    const at = Date.parse(header);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  return undefined;
}

/** The one place where an amoCRM status becomes an error class. 401 and 403 are decided by the transport. */
export function errorFromResponse(status: number, body: Body, endpoint: string, retryAfter?: number): AmoError {
  if (status === 400 || status === 422)
    return new AmoValidationError(status, endpoint, fieldErrors(body), problemDetail(body));
  if (status === 402) return new AmoPaymentRequiredError(endpoint);
  if (status === 404) return new AmoNotFoundError(endpoint);
  if (status === 429) return new AmoUnavailableError(`amoCRM rate limit hit on ${endpoint}`, 429, endpoint, retryAfter);
  if (status >= 500)
    return new AmoUnavailableError(
      `amoCRM answered ${status} to ${endpoint}: ${problemDetail(body)}`,
      status,
      endpoint,
    );
  return new AmoUnexpectedError(`amoCRM answered ${status} to ${endpoint}: ${problemDetail(body)}`, status, endpoint);
}
