/** Report periods in the account's time zone: local days and months as [from, to) instants. */
import { DateTime } from 'luxon';
import type { Period } from './compute.js';

export interface NamedPeriod extends Period {
  /** First and last local day, YYYY-MM-DD. */
  fromDate: string;
  toDate: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function day(date: string, zone: string): DateTime {
  if (!DATE.test(date)) throw new Error(`"${date}" is not a date YYYY-MM-DD`);
  const d = DateTime.fromISO(date, { zone });
  if (!d.isValid) throw new Error(`"${date}" is not a valid date`);
  return d.startOf('day');
}

/** Local days `from` … `to`, both included. */
export function daysPeriod(from: string, to: string, zone: string): NamedPeriod {
  const start = day(from, zone);
  const end = day(to, zone);
  if (end < start) throw new Error(`--to ${to} is before --from ${from}`);
  return { fromMs: start.toMillis(), toMs: end.plus({ days: 1 }).toMillis(), fromDate: from, toDate: to };
}

/** A month "YYYY-MM". */
export function monthPeriod(month: string, zone: string): NamedPeriod {
  const start = DateTime.fromISO(`${month}-01`, { zone }).startOf('day');
  if (!start.isValid) throw new Error(`"${month}" is not a month YYYY-MM`);
  const end = start.plus({ months: 1 });
  return {
    fromMs: start.toMillis(),
    toMs: end.toMillis(),
    fromDate: start.toISODate() ?? month,
    toDate: end.minus({ days: 1 }).toISODate() ?? month,
  };
}

export const previousMonth = (month: string): string =>
  DateTime.fromISO(`${month}-01`, { zone: 'UTC' }).minus({ months: 1 }).toFormat('yyyy-MM');
export const nextMonth = (month: string): string =>
  DateTime.fromISO(`${month}-01`, { zone: 'UTC' }).plus({ months: 1 }).toFormat('yyyy-MM');
