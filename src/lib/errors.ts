/**
 * Errors answer two questions: may the caller retry, and is it our bug?
 * The HTTP layer maps them to status codes in one place (src/http/error-handler.ts).
 */
export abstract class AppError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly ourBug: boolean;
  abstract readonly httpStatus: number;
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller sent something we cannot accept; retrying the same input will not help. */
export class BadInputError extends AppError {
  readonly retryable = false;
  readonly ourBug = false;
  constructor(
    message: string,
    code: string,
    readonly httpStatus: number = 400,
    readonly details?: unknown,
  ) {
    super(message, code);
  }
}

/** A dependency (Redis, amoCRM) is unavailable; the same request may succeed later. */
export class UnavailableError extends AppError {
  readonly retryable = true;
  readonly ourBug = false;
  readonly httpStatus = 503;
}

/** A state we believed impossible. */
export class InvariantError extends AppError {
  readonly retryable = false;
  readonly ourBug = true;
  readonly httpStatus = 500;
}
