/**
 * The cadence's schedule math, pure: the steps a profile asks for (phase by phase, block by block, which call must
 * fall on a weekend), and the slot of the next call: a call window on a day the manager works, not before the
 * step's nominal day, rotating windows, never more calls a day than the phase's rate ("without piling up missed
 * ones": a call moved by a holiday or an absence moves the ones after it instead of doubling up).
 */
import { DateTime } from 'luxon';
import { managerIntervals, mergeIntervals, type Interval } from '../schedule/shifts.js';
import type { Calendar, CompiledDepartment, CompiledManager, CompiledRules, ShiftSpan } from '../types.js';
import type { CadencePhase, CompiledCadence } from './types.js';

export interface CadenceStep {
  /** 1-based over the whole cadence. */
  index: number;
  phase: number;
  /** 1-based within its phase, and the phase's number of calls. */
  inPhase: number;
  phaseTotal: number;
  /** Days since entering the stage: the step's block [blockStart, blockEnd), its nominal day inside it. */
  blockStart: number;
  blockEnd: number;
  nominalDay: number;
  /** This call is the block's weekend call. */
  weekend: boolean;
}

/** A slot shorter than this is not offered (a task due in 5 minutes helps nobody). */
export const MIN_SLOT_MS = 30 * 60 * 1000;
/** How far ahead a slot is looked for before the cadence waits and alerts. */
export const SLOT_HORIZON_DAYS = 45;
const DAY_MS = 24 * 3600 * 1000;

/** Saturday or Sunday, counted by local weekday. */
const isWeekendDay = (weekdayLocal: number): boolean => weekdayLocal === 6 || weekdayLocal === 7;

/** Days of the week when the client is free: Saturdays, Sundays and public holidays (not transferred working days). */
export function isDayOff(iso: string, calendar: Calendar, zone: string): boolean {
  if (calendar.working.has(iso)) return false;
  if (calendar.nonWorking.has(iso)) return true;
  return isWeekendDay(DateTime.fromISO(iso, { zone }).weekday);
}

/**
 * Every step of a cadence. In a block of `everyDays` days the `calls` calls are spread evenly; in a weekend block
 * the call nearest to a Saturday or Sunday of the block is moved onto it (entry weekday decides which).
 */
export function cadenceSteps(cadence: Pick<CompiledCadence, 'phases'>, entryWeekday = 1): CadenceStep[] {
  const out: CadenceStep[] = [];
  cadence.phases.forEach((phase, p) => {
    const perPhase: Array<Omit<CadenceStep, 'index' | 'inPhase' | 'phaseTotal'>> = [];
    for (let bs = phase.from; bs < phase.to; bs += phase.everyDays) {
      const be = Math.min(phase.to, bs + phase.everyDays);
      const len = be - bs;
      const days = Array.from({ length: phase.calls }, (_, k) => bs + Math.floor((k * len) / phase.calls));
      let weekendAt = -1;
      if (phase.weekendCall) {
        const weekendDays = range(bs, be).filter((d) => isWeekendDay(((entryWeekday - 1 + d) % 7) + 1));
        if (weekendDays.length > 0 && !days.some((d) => weekendDays.includes(d))) {
          // Move the call nearest to a weekend day onto it; on a tie the later call moves.
          let best = { k: 0, day: weekendDays[0] ?? bs, dist: Infinity };
          days.forEach((d, k) => {
            for (const w of weekendDays) if (Math.abs(w - d) <= best.dist) best = { k, day: w, dist: Math.abs(w - d) };
          });
          days[best.k] = best.day;
        }
        days.sort((a, b) => a - b);
        weekendAt = days.findIndex((d) => weekendDays.includes(d));
      }
      days.forEach((d, k) =>
        perPhase.push({ phase: p, blockStart: bs, blockEnd: be, nominalDay: d, weekend: k === weekendAt }),
      );
    }
    perPhase.forEach((s, i) => out.push({ ...s, index: 0, inPhase: i + 1, phaseTotal: perPhase.length }));
  });
  return out.map((s, i) => ({ ...s, index: i + 1 }));
}

const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);

/** The most calls a day a phase allows: 3 a day → 3; 1 every 2 days → 1. */
export const callsPerDay = (phase: CadencePhase): number => Math.ceil(phase.calls / phase.everyDays);

/** Whose working time the calls follow: the responsible manager, else the department of the pipeline, else always. */
export function availability(
  rules: CompiledRules,
  userId: number | undefined,
  pipelineId: number,
): (from: number, to: number) => Interval[] {
  const manager: CompiledManager | undefined = rules.departments
    .flatMap((d) => d.managers)
    .find((m) => m.userId === userId);
  if (manager) return (from, to) => managerIntervals(manager, from, to, rules.calendar, rules.timeZone);
  const dept: CompiledDepartment | undefined = rules.departments.find((d) => d.pipelineIds.includes(pipelineId));
  if (dept && dept.managers.length > 0) {
    return (from, to) =>
      mergeIntervals(
        dept.managers
          .filter((m) => m.paused === undefined)
          .flatMap((m) => managerIntervals(m, from, to, rules.calendar, rules.timeZone)),
      );
  }
  return (from, to) => [[from, to]];
}

export interface SlotQuery {
  cadence: CompiledCadence;
  step: CadenceStep;
  entryAt: number;
  /** Not before this instant (the completion of the previous task, or now). */
  notBefore: number;
  /** Calls already issued in this run: day and window, newest last. */
  slots: ReadonlyArray<{ day: string; window: number }>;
  calendar: Calendar;
  zone: string;
  works: (from: number, to: number) => Interval[];
}

export interface Slot {
  dueAt: number;
  /** The window's start, for the text ("13:00–15:00"). */
  windowStart: number;
  day: string;
  window: number;
  weekendDay: boolean;
  /** A weekend call was required but no weekend slot was left in its block: the call went to a weekday. */
  weekendMissed: boolean;
}

/** Start of the local day `days` after the day of `at`. */
export function localDayStart(at: number, days: number, zone: string): number {
  return DateTime.fromMillis(at, { zone }).startOf('day').plus({ days }).toMillis();
}

/**
 * The next call's slot, or undefined when the manager has no window within the horizon. The due time is the end of
 * the usable part of the window (the manager calls inside the window; the task is due when it closes).
 */
export function nextSlot(q: SlotQuery): Slot | undefined {
  const phase = q.cadence.phases[q.step.phase];
  if (!phase) return undefined;
  const nominal = localDayStart(q.entryAt, q.step.nominalDay, q.zone);
  const last = q.slots[q.slots.length - 1];
  let from = Math.max(nominal, q.notBefore);
  const perDay = callsPerDay(phase);
  if (perDay <= 1 && last)
    from = Math.max(from, DateTime.fromISO(last.day, { zone: q.zone }).plus({ days: 1 }).toMillis());
  const blockEnd = localDayStart(q.entryAt, q.step.blockEnd, q.zone);
  const attempts: Array<{ weekendOnly: boolean; rotate: boolean; until: number }> = [];
  if (q.step.weekend)
    attempts.push(
      { weekendOnly: true, rotate: q.cadence.rotateWindows, until: blockEnd },
      { weekendOnly: true, rotate: false, until: blockEnd },
    );
  const horizon = from + SLOT_HORIZON_DAYS * DAY_MS;
  attempts.push(
    { weekendOnly: false, rotate: q.cadence.rotateWindows, until: Math.min(horizon, from + 14 * DAY_MS) },
    { weekendOnly: false, rotate: false, until: horizon },
  );
  for (const a of attempts) {
    const slot = search(q, from, a.until, a.weekendOnly, a.rotate && last !== undefined ? last.window : -1, perDay);
    if (slot) return { ...slot, weekendMissed: q.step.weekend && !slot.weekendDay };
  }
  return undefined;
}

function search(
  q: SlotQuery,
  from: number,
  until: number,
  weekendOnly: boolean,
  avoidWindow: number,
  perDay: number,
): Omit<Slot, 'weekendMissed'> | undefined {
  if (until <= from) return undefined;
  const perDayCount = new Map<string, number>();
  for (const s of q.slots) perDayCount.set(s.day, (perDayCount.get(s.day) ?? 0) + 1);
  const last = q.slots[q.slots.length - 1];
  let day = DateTime.fromMillis(from, { zone: q.zone }).startOf('day');
  while (day.toMillis() < until) {
    const iso = day.toISODate() ?? '';
    const off = isDayOff(iso, q.calendar, q.zone);
    if ((!weekendOnly || off) && (perDayCount.get(iso) ?? 0) < perDay) {
      const windows: ShiftSpan[] = off ? q.cadence.windows.weekends : q.cadence.windows.weekdays;
      // Working time is read a day at a time: the search usually ends on the first or second day.
      const intervals = q.works(Math.max(from, day.toMillis()), Math.min(until, day.plus({ days: 1 }).toMillis()));
      for (let w = 0; w < windows.length; w++) {
        // Rotation: not the same window as the previous call; on the previous call's day, only a later window.
        if (w === avoidWindow) continue;
        if (last && last.day === iso && w <= last.window) continue;
        const span = windows[w];
        if (!span) continue;
        const ws = day.plus({ minutes: span.startMin }).toMillis();
        const we = day.plus({ minutes: span.endMin }).toMillis();
        const usable = intervals
          .map(([s, e]): Interval => [Math.max(s, ws, from), Math.min(e, we, until)])
          .filter(([s, e]) => e - s >= MIN_SLOT_MS);
        const first = usable[0];
        if (first) return { dueAt: first[1], windowStart: first[0], day: iso, window: w, weekendDay: off };
      }
    }
    day = day.plus({ days: 1 });
  }
  return undefined;
}

/** When the cadence ends without contact: the end of its last phase, or right after the last call. */
export function endInstant(cadence: CompiledCadence, entryAt: number, lastAttemptAt: number, zone: string): number {
  if (cadence.endAt === 'after_last_call') return lastAttemptAt;
  const lastPhase = cadence.phases[cadence.phases.length - 1];
  return Math.max(lastAttemptAt, localDayStart(entryAt, lastPhase?.to ?? 0, zone));
}
