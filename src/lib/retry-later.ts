/**
 * Thrown by a job handler that wants its job tried again after `delayMs` without counting an attempt (a lead's
 * lock is held, Telegram asked to wait). The job worker (src/jobs/worker.ts) moves such a job to delayed; any
 * other caller treats it as a transient failure.
 */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}
