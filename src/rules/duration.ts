/**
 * The one way a rules file writes a duration: ISO-8601, read by luxon, fractions allowed (P1.5D, PT0.5H), or Russian
 * units as a person types them («15 мин», «1 ч 30 мин», «2 дня»); at least a second, the least the engine schedules (a timer due sooner would fire again at once). Every rule's config piece
 * and the top-level blocks use this schema, and compile steps turn it into milliseconds with `ms`.
 */
import { Duration } from 'luxon';
import { z } from 'zod';
import { parseRuDuration } from '../lib/ru-duration.js';

export const MIN_DURATION_MS = 1000;

/** `example` is shown in the JSON Schema's description, so an editor suggests a value fitting the field. */
export const durationSchema = (example = 'PT15M') =>
  z
    .string()
    .refine(
      (s) => (toMillis(s) ?? 0) >= MIN_DURATION_MS,
      'must be a duration of at least one second: ISO-8601 such as PT15M, PT1H, P1D, P1.5D or P1W, or in Russian units such as «15 мин», «1 ч 30 мин», «2 дня»',
    )
    .describe(`Duration: ISO-8601 (e.g. ${example}) or Russian units («15 мин», «1 ч 30 мин», «2 дня», «1 нед»)`);

/** ISO-8601 as luxon reads it, or Russian units as a person types them; undefined when neither. */
function toMillis(text: string): number | undefined {
  const d = Duration.fromISO(text);
  return d.isValid ? d.toMillis() : parseRuDuration(text);
}

/** A configured duration in milliseconds (the schema above has already refused what cannot be read). */
export const ms = (text: string): number => toMillis(text) ?? 0;
