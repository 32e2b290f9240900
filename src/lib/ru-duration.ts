/**
 * One Russian way to say a duration, a count of working days and a plural: every rule text, note and Telegram
 * message names the configured value through these, so what the robot says is what it does. Pure.
 */
import { Duration } from 'luxon';

const rules = new Intl.PluralRules('ru');

/** The form of a noun after `n`: `ruPlural(2, ['день', 'дня', 'дней'])` → 'дня'; fractions take the "few" form. */
export function ruPlural(n: number, [one, few, many]: readonly [string, string, string]): string {
  if (!Number.isInteger(n)) return few;
  const category = rules.select(n);
  return category === 'one' ? one : category === 'few' ? few : many;
}

const UNITS: Array<{ ms: number; forms: readonly [string, string, string]; short?: string }> = [
  { ms: 7 * 86_400_000, forms: ['неделя', 'недели', 'недель'], short: 'нед' },
  { ms: 86_400_000, forms: ['день', 'дня', 'дней'] },
  { ms: 3_600_000, forms: ['час', 'часа', 'часов'], short: 'ч' },
  { ms: 60_000, forms: ['минута', 'минуты', 'минут'], short: 'мин' },
  { ms: 1000, forms: ['секунда', 'секунды', 'секунд'], short: 'сек' },
];

/**
 * A duration in milliseconds, in people's units: «30 сек», «15 мин», «1 ч 30 мин», «1 день», «2 дня», «30 дней»,
 * «1 нед» (weeks only for whole weeks). Days are written out (the regulations' word), smaller units abbreviated; at
 * most two units, the rest rounded into the smaller one.
 */
export function ruDuration(msValue: number): string {
  let left = Math.max(0, Math.round(msValue / 1000) * 1000);
  if (left === 0) return '0 сек';
  const parts: string[] = [];
  for (const [i, unit] of UNITS.entries()) {
    if (parts.length === 2) break;
    if (unit.short === 'нед' && left % unit.ms !== 0) continue;
    const last = parts.length === 1 || i === UNITS.length - 1;
    const n = last ? Math.round(left / unit.ms) : Math.floor(left / unit.ms);
    if (n === 0) {
      if (parts.length > 0) break; // «1 день 0 ч 5 мин» reads as «1 день»
      continue;
    }
    parts.push(unit.short !== undefined ? `${n} ${unit.short}` : `${n} ${ruPlural(n, unit.forms)}`);
    left -= n * unit.ms;
    if (left <= 0) break;
  }
  return parts.join(' ');
}

/** An ISO-8601 duration as config gives it (`PT15M`, `P1.5D`), in people's units; a month is 30 days. */
export function ruIsoDuration(iso: string): string {
  const d = Duration.fromISO(iso);
  return ruDuration(d.isValid ? d.toMillis() : (parseRuDuration(iso) ?? 0));
}

/** «1 рабочий день», «2 рабочих дня», «5 рабочих дней». */
export function ruWorkingDays(n: number): string {
  return `${n} ${ruPlural(n, ['рабочий день', 'рабочих дня', 'рабочих дней'])}`;
}

/** The units a person may type, each with the words and abbreviations that name it. */
const INPUT_UNITS: Array<{ ms: number; words: RegExp }> = [
  { ms: 7 * 86_400_000, words: /^(?:нед|недел[яиьюе]|недель)\.?$/ },
  { ms: 86_400_000, words: /^(?:д|дн|день|дня|дней|сут|сутки|суток)\.?$/ },
  { ms: 3_600_000, words: /^(?:ч|час|часа|часов)\.?$/ },
  { ms: 60_000, words: /^(?:м|мин|минут[аыу]?)\.?$/ },
  { ms: 1000, words: /^(?:с|сек|секунд[аыу]?)\.?$/ },
];

/**
 * A duration as a person types it, in milliseconds: «15 мин», «1 ч 30 мин», «2 дня», «1,5 дня», «1 нед», «30 сек»
 * (what `ruDuration` writes reads back). `undefined` for anything else, an empty text or a zero.
 */
export function parseRuDuration(text: string): number | undefined {
  const tokens = text
    .trim()
    .toLowerCase()
    .replace(/,/g, '.')
    .match(/\d+(?:\.\d+)?|[^\s\d.]+\.?/g);
  if (!tokens || tokens.length % 2 !== 0) return undefined;
  let total = 0;
  let lastUnit = Infinity;
  for (let i = 0; i < tokens.length; i += 2) {
    const n = Number(tokens[i]);
    const unit = INPUT_UNITS.find((u) => u.words.test(tokens[i + 1]!));
    // Numbers before words, each unit once, larger units first: «1 ч 30 мин», never «30 мин 1 ч».
    if (!Number.isFinite(n) || unit === undefined || unit.ms >= lastUnit) return undefined;
    total += n * unit.ms;
    lastUnit = unit.ms;
  }
  return total > 0 ? Math.round(total) : undefined;
}
