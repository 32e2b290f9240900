/**
 * The one way a rules file writes a duration: ISO-8601, read by luxon, fractions allowed (P1.5D, PT0.5H), and at least
 * a second, the least the engine schedules (a timer due sooner would fire again at once). Every rule's config piece
 * and the top-level blocks use this schema, and compile steps turn it into milliseconds with `ms`.
 */
import { Duration } from 'luxon';
import { z } from 'zod';

export const MIN_DURATION_MS = 1000;

/** `example` is shown in the JSON Schema's description, so an editor suggests a value fitting the field. */
export const durationSchema = (example = 'PT15M') =>
  z
    .string()
    .refine((s) => {
      const d = Duration.fromISO(s);
      return d.isValid && d.toMillis() >= MIN_DURATION_MS;
    }, 'must be an ISO-8601 duration of at least one second, such as PT15M, PT1H, P1D, P1.5D or P1W')
    .describe(`ISO-8601 duration, e.g. ${example}`);

/** An ISO-8601 duration in milliseconds (the schema above has already refused what luxon cannot read). */
export const ms = (iso: string): number => Duration.fromISO(iso).toMillis();
