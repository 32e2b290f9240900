import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileCalendar, compileSchedule } from '../../../src/config/compile.js';
import { loadRulesFile } from '../../../src/config/load.js';
import {
  addWorkingTime,
  departmentIntervals,
  isOnShift,
  HORIZON_MS,
  shiftsOn,
} from '../../../src/rules/schedule/shifts.js';
import type { Calendar, CompiledDepartment, CompiledManager } from '../../../src/rules/types.js';

const ZONE = 'Europe/Moscow';
const msk = (local: string): number => Date.parse(`${local}+03:00`);

const weekly = compileSchedule({
  kind: 'weekly',
  followHolidays: true,
  days: {
    mon: ['09:00-21:00'],
    tue: ['09:00-21:00'],
    wed: ['09:00-21:00'],
    thu: ['09:00-21:00'],
    fri: ['09:00-21:00'],
  },
});
const manager = (over: Partial<CompiledManager> = {}): CompiledManager => ({
  userId: 1,
  name: 'A',
  weight: 1,
  cap: 10,
  schedule: weekly,
  absences: [],
  ...over,
});
const dept = (managers: CompiledManager[]): CompiledDepartment => ({
  name: 'D',
  headUserId: 9,
  fallbackUserId: 9,
  pipelineIds: [1],
  managers,
});

let calendar: Calendar;
beforeAll(async () => {
  const loaded = await loadRulesFile('config/rules.demo.yaml');
  if (!loaded.ok) throw new Error('calendar');
  calendar = loaded.calendar;
});

describe('shifts and the working clock (Europe/Moscow)', () => {
  it('when the shift is 09:00-21:00, then 08:59 and 21:00 are off and 09:00 and 20:59 are on', () => {
    const m = manager();
    expect(isOnShift(m, msk('2026-11-24T08:59:00'), calendar, ZONE)).toBe(false);
    expect(isOnShift(m, msk('2026-11-24T09:00:00'), calendar, ZONE)).toBe(true);
    expect(isOnShift(m, msk('2026-11-24T20:59:59'), calendar, ZONE)).toBe(true);
    expect(isOnShift(m, msk('2026-11-24T21:00:00'), calendar, ZONE)).toBe(false);
  });

  it('when a lead arrives at 23:40, then its 15 minutes run from the morning shift: deadline 09:15', () => {
    const d = dept([manager()]);
    const start = msk('2026-11-24T23:40:00');
    const deadline = addWorkingTime(
      start,
      15 * 60_000,
      departmentIntervals(d, start, start + HORIZON_MS, calendar, ZONE, new Set([1])),
    );
    expect(deadline).toBe(msk('2026-11-25T09:15:00'));
  });

  it('when a lead arrives at 20:50, then 10 minutes run tonight and 5 tomorrow', () => {
    const d = dept([manager()]);
    const start = msk('2026-11-24T20:50:00');
    expect(
      addWorkingTime(
        start,
        15 * 60_000,
        departmentIntervals(d, start, start + HORIZON_MS, calendar, ZONE, new Set([1])),
      ),
    ).toBe(msk('2026-11-25T09:05:00'));
  });

  it('when it is a public holiday or its transfer, then nobody on a weekly schedule works; the New Year clock waits until 12 January', () => {
    expect(shiftsOn(weekly, '2026-01-05', calendar, ZONE)).toEqual([]); // Monday, New Year holidays
    expect(shiftsOn(weekly, '2026-03-09', calendar, ZONE)).toEqual([]); // Mar 8 fell on Sunday
    const d = dept([manager()]);
    const start = msk('2025-12-31T10:00:00');
    expect(
      addWorkingTime(
        start,
        15 * 60_000,
        departmentIntervals(d, start, start + HORIZON_MS, calendar, ZONE, new Set([1])),
      ),
    ).toBe(msk('2026-01-12T09:15:00'));
  });

  it('when a Saturday is a transferred working day (1 Nov 2025), then Friday shifts apply', () => {
    expect(shiftsOn(weekly, '2025-11-01', calendar, ZONE)).toEqual([{ startMin: 540, endMin: 1260 }]);
    expect(shiftsOn(weekly, '2025-11-08', calendar, ZONE)).toEqual([]);
  });

  it('when the schedule is 2/2, then two days on and two off from the anchor, holidays ignored', () => {
    const cycle = compileSchedule({ kind: 'cycle', pattern: '2/2', anchor: '2026-01-01', shifts: ['09:00-21:00'] });
    const on = ['2026-01-01', '2026-01-02', '2026-01-05', '2026-01-06'].map(
      (d) => shiftsOn(cycle, d, calendar, ZONE).length,
    );
    const off = ['2026-01-03', '2026-01-04', '2026-01-07'].map((d) => shiftsOn(cycle, d, calendar, ZONE).length);
    expect(on).toEqual([1, 1, 1, 1]);
    expect(off).toEqual([0, 0, 0]);
  });

  it('when a manager is absent, then they are off shift all day', () => {
    const m = manager({ absences: [{ from: '2026-11-24', to: '2026-11-30' }] });
    expect(isOnShift(m, msk('2026-11-24T12:00:00'), calendar, ZONE)).toBe(false);
    expect(isOnShift(m, msk('2026-12-01T12:00:00'), calendar, ZONE)).toBe(true);
  });

  it('when a shift runs overnight, then it spans midnight', () => {
    const night = manager({
      schedule: compileSchedule({ kind: 'weekly', followHolidays: false, days: { tue: ['21:00-09:00'] } }),
    });
    expect(isOnShift(night, msk('2026-11-25T03:00:00'), calendar, ZONE)).toBe(true);
    expect(isOnShift(night, msk('2026-11-25T10:00:00'), calendar, ZONE)).toBe(false);
  });

  it('when the calendar file is compiled, then every year lists its transfers', () => {
    const c = compileCalendar({
      source: 'x',
      years: { '2026': { status: 'confirmed', nonWorking: ['2026-01-09'], working: [] } },
    });
    expect(c.nonWorking.has('2026-01-09')).toBe(true);
  });
});
