/**
 * Who is on shift, and the working clock (R1, R2). Instants are epoch ms (UTC); schedules are evaluated in the
 * account's time zone with luxon, day by day, so DST changes and holidays fall where a person expects them.
 */
import { DateTime } from 'luxon';
import type { Calendar, CompiledDepartment, CompiledManager, Schedule, ShiftSpan, Weekday } from '../types.js';

const WEEKDAY_OF: Record<number, Weekday> = { 1: 'mon', 2: 'tue', 3: 'wed', 4: 'thu', 5: 'fri', 6: 'sat', 7: 'sun' };
const DAY_MS = 24 * 3600 * 1000;

export type Interval = [start: number, end: number];

/** Shifts of one local date under a schedule and the holiday calendar. */
export function shiftsOn(schedule: Schedule, isoDate: string, calendar: Calendar, zone: string): ShiftSpan[] {
  switch (schedule.kind) {
    case 'always':
      return [{ startMin: 0, endMin: 1440 }];
    case 'weekly': {
      const day = DateTime.fromISO(isoDate, { zone });
      const weekday = WEEKDAY_OF[day.weekday] ?? 'mon';
      if (schedule.followHolidays) {
        if (calendar.nonWorking.has(isoDate)) return [];
        // A transferred working Saturday is worked like a Friday (seed: the production calendar).
        if (calendar.working.has(isoDate) && (weekday === 'sat' || weekday === 'sun'))
          return schedule.days.fri ?? schedule.days.mon ?? [];
      }
      return schedule.days[weekday] ?? [];
    }
    case 'cycle': {
      const days = Math.round(
        DateTime.fromISO(isoDate, { zone }).diff(DateTime.fromISO(schedule.anchor, { zone }), 'days').days,
      );
      const period = schedule.on + schedule.off;
      const position = ((days % period) + period) % period;
      return position < schedule.on ? schedule.shifts : [];
    }
  }
}

const isAbsent = (manager: CompiledManager, isoDate: string): boolean =>
  manager.absences.some((a) => a.from <= isoDate && isoDate <= a.to);

interface LocalDay {
  start: number;
  end: number;
  iso: string;
}

/**
 * Local days by zone, found by the 15-minute slice an instant falls in (every zone's offset is a multiple of 15
 * minutes, so a slice never holds two local days). The working-time arithmetic asks for the same few days for
 * every lead and manager; luxon is asked once a day and zone. Bounded: cleared past 50,000 slices.
 */
const SLICE_MS = 15 * 60 * 1000;
const daysByZone = new Map<string, Map<number, LocalDay>>();
let slicesCached = 0;

function localDayAt(ms: number, zone: string): LocalDay {
  let days = daysByZone.get(zone);
  if (!days) daysByZone.set(zone, (days = new Map()));
  const slice = Math.floor(ms / SLICE_MS);
  const hit = days.get(slice);
  if (hit) return hit;
  const d = DateTime.fromMillis(ms, { zone }).startOf('day');
  const day: LocalDay = { start: d.toMillis(), end: d.plus({ days: 1 }).toMillis(), iso: d.toISODate() ?? '' };
  if (slicesCached > 50_000) {
    daysByZone.clear();
    slicesCached = 0;
    daysByZone.set(zone, (days = new Map()));
  }
  days.set(slice, day);
  slicesCached += 1;
  return day;
}

/**
 * A manager's shifts on one local day as instants, before clipping. Kept per compiled manager (a new rules version
 * compiles new manager objects) and calendar, so a day is worked out once, not once a lead.
 */
const shiftCache = new WeakMap<Calendar, WeakMap<CompiledManager, Map<string, Interval[]>>>();

function shiftIntervals(manager: CompiledManager, day: LocalDay, calendar: Calendar, zone: string): Interval[] {
  let byManager = shiftCache.get(calendar);
  if (!byManager) shiftCache.set(calendar, (byManager = new WeakMap()));
  let byDay = byManager.get(manager);
  if (!byDay) byManager.set(manager, (byDay = new Map()));
  const key = `${zone}|${day.iso}`;
  const hit = byDay.get(key);
  if (hit) return hit;
  const midnight = DateTime.fromMillis(day.start, { zone });
  const intervals: Interval[] = shiftsOn(manager.schedule, day.iso, calendar, zone).map((span) => [
    midnight.plus({ minutes: span.startMin }).toMillis(),
    midnight.plus({ minutes: span.endMin }).toMillis(),
  ]);
  if (byDay.size > 1_000) byDay.clear();
  byDay.set(key, intervals);
  return intervals;
}

/** A manager's on-shift intervals overlapping [from, to). Overnight shifts start on the day they begin. */
export function managerIntervals(
  manager: CompiledManager,
  from: number,
  to: number,
  calendar: Calendar,
  zone: string,
): Interval[] {
  const out: Interval[] = [];
  const last = localDayAt(to, zone).start;
  for (let day = localDayAt(from - DAY_MS, zone); day.start <= last; day = localDayAt(day.end, zone)) {
    if (isAbsent(manager, day.iso)) continue;
    for (const [start, end] of shiftIntervals(manager, day, calendar, zone)) {
      if (end > from && start < to) out.push([Math.max(start, from), Math.min(end, to)]);
    }
  }
  return out;
}

export function isOnShift(manager: CompiledManager, at: number, calendar: Calendar, zone: string): boolean {
  return managerIntervals(manager, at, at + 1, calendar, zone).length > 0;
}

export function isAbsentAt(manager: CompiledManager, at: number, zone: string): boolean {
  return isAbsent(manager, localDayAt(at, zone).iso);
}

export function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: Interval[] = [];
  for (const [s, e] of sorted) {
    const lastInterval = out[out.length - 1];
    if (lastInterval && s <= lastInterval[1]) lastInterval[1] = Math.max(lastInterval[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** When the department works: the union of the shifts of its managers who can take leads. */
export function departmentIntervals(
  dept: CompiledDepartment,
  from: number,
  to: number,
  calendar: Calendar,
  zone: string,
  activeUserIds: ReadonlySet<number>,
): Interval[] {
  const managers = dept.managers.filter((m) => m.paused === undefined && activeUserIds.has(m.userId));
  return mergeIntervals(managers.flatMap((m) => managerIntervals(m, from, to, calendar, zone)));
}

/** Looks this far ahead for working time: a fortnight covers the longest holidays (New Year, 11 days). */
export const HORIZON_MS = 16 * DAY_MS;

/**
 * The deadline of a clock that runs only while the department works (R1: a lead at 23:40 waits for the morning
 * shift; its 15 minutes start at 09:00). Undefined when nobody works within the horizon.
 */
export function addWorkingTime(start: number, durationMs: number, intervals: Interval[]): number | undefined {
  let left = durationMs;
  for (const [s, e] of intervals) {
    if (e <= start) continue;
    const from = Math.max(s, start);
    if (e - from >= left) return from + left;
    left -= e - from;
  }
  return undefined;
}

/** The first instant at or after `from` when the department works. */
export function nextWorkingInstant(from: number, intervals: Interval[]): number | undefined {
  for (const [s, e] of intervals) if (e > from) return Math.max(s, from);
  return undefined;
}
