/**
 * How this process's amoCRM client is doing, from the requests it makes: reachable, unreachable (network errors and
 * 5xx for longer than `unreachableAfterMs`, no success since), blocked or rate-limited (the back-off every process
 * shares, read from Redis), or its token revoked. Readiness and the operator's alerts read it; it costs no request.
 */
export type AmoState = 'ok' | 'unknown' | 'unreachable' | 'backoff' | 'auth_revoked';

export interface AmoHealthSnapshot {
  state: AmoState;
  /** Why, in English, for the readiness answer and the log. */
  reason?: string;
  /** The last answer amoCRM gave on purpose (2xx-4xx). */
  lastOkAt?: number;
  /** When the current failing streak began. */
  failingSince?: number;
  /** The shared back-off in force: its reason and when it ends. */
  backoff?: { reason: string; until: number };
}

export interface AmoHealth {
  /** Fed by the transport with every response (status) or failure (`network`). */
  onResponse(status: number | 'network', at: number): void;
  onAuthRevoked(message: string, at: number): void;
  /**
   * `shared`: the failing streak every process sees (the earliest start any of them recorded), so a web process that
   * makes no amoCRM request reports the workers' outage too.
   */
  snapshot(
    now: number,
    backoff?: { reason: string; retryAfterMs: number },
    shared?: { failingSince?: number },
  ): AmoHealthSnapshot;
}

/** A failing streak this long with no success is "unreachable": long enough for the transport's own retries. */
export const AMO_UNREACHABLE_AFTER_MS = 30_000;

export function createAmoHealth(options: { unreachableAfterMs?: number } = {}): AmoHealth {
  const after = options.unreachableAfterMs ?? AMO_UNREACHABLE_AFTER_MS;
  let lastOkAt: number | undefined;
  let failingSince: number | undefined;
  let lastFailure: string | undefined;
  let revoked: string | undefined;
  return {
    onResponse(status, at) {
      const failed = status === 'network' || status >= 500;
      if (failed) {
        failingSince ??= at;
        lastFailure = status === 'network' ? 'network error' : `HTTP ${status}`;
        return;
      }
      // Any answer amoCRM gives on purpose (2xx-4xx) shows it is reachable; a 401 that revoked the token says so.
      failingSince = undefined;
      lastFailure = undefined;
      lastOkAt = at;
      if (status < 400) revoked = undefined;
    },
    onAuthRevoked(message) {
      revoked = message;
    },
    snapshot(now, backoff, shared) {
      // Another process's streak counts when it began after this process last succeeded (not copied: it ends when
      // the shared key goes).
      const theirs =
        shared?.failingSince !== undefined && (lastOkAt === undefined || lastOkAt < shared.failingSince)
          ? shared.failingSince
          : undefined;
      const since =
        failingSince !== undefined && theirs !== undefined ? Math.min(failingSince, theirs) : (failingSince ?? theirs);
      const why = lastFailure ?? (theirs !== undefined ? 'errors seen by another process' : 'errors');
      const base = {
        ...(lastOkAt !== undefined ? { lastOkAt } : {}),
        ...(since !== undefined ? { failingSince: since } : {}),
      };
      if (revoked) return { ...base, state: 'auth_revoked', reason: `the amoCRM token was revoked: ${revoked}` };
      if (backoff && backoff.retryAfterMs > 0) {
        const until = now + backoff.retryAfterMs;
        return {
          ...base,
          state: 'backoff',
          reason: `amoCRM ${backoff.reason === 'blocked' ? 'blocks' : 'rate-limits'} the account until ${new Date(until).toISOString()}`,
          backoff: { reason: backoff.reason, until },
        };
      }
      if (since !== undefined && now - since >= after) {
        return {
          ...base,
          state: 'unreachable',
          reason: `amoCRM unreachable for ${Math.round((now - since) / 1000)} s (${why})`,
        };
      }
      return { ...base, state: lastOkAt === undefined && since === undefined ? 'unknown' : 'ok' };
    },
  };
}
