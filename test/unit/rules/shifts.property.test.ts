/**
 * The working-time arithmetic keeps local days and a manager's shifts of a day in caches, so that luxon is asked
 * once a day and zone instead of once a lead and manager. These properties hold it to a plain reference that asks
 * luxon every time: any instant in 2026-2027, any range up to three weeks, zones with DST, with a 30-minute DST and
 * with a +05:45 offset, weekly, cycle and overnight schedules, absences and the holiday calendar.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { isAbsentAt, managerIntervals, shiftsOn, type Interval } from '../../../src/rules/schedule/shifts.js';
import type { Calendar, CompiledManager, CompiledRules } from '../../../src/rules/types.js';
import { demoRules } from '../../helpers/rules.js';

/** The reference: every local day worked out with luxon, nothing kept. */
function reference(manager: CompiledManager, from: number, to: number, calendar: Calendar, zone: string): Interval[] {
  const out: Interval[] = [];
  let day = DateTime.fromMillis(from - 86_400_000, { zone }).startOf('day');
  const last = DateTime.fromMillis(to, { zone }).startOf('day');
  while (day <= last) {
    const iso = day.toISODate() ?? '';
    if (!manager.absences.some((a) => a.from <= iso && iso <= a.to)) {
      for (const span of shiftsOn(manager.schedule, iso, calendar, zone)) {
        const start = day.plus({ minutes: span.startMin }).toMillis();
        const end = day.plus({ minutes: span.endMin }).toMillis();
        if (end > from && start < to) out.push([Math.max(start, from), Math.min(end, to)]);
      }
    }
    day = day.plus({ days: 1 });
  }
  return out;
}

const ZONES = ['Europe/Moscow', 'Asia/Yekaterinburg', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu'];
const week = { startMin: 540, endMin: 1260 };

function managers(rules: CompiledRules): CompiledManager[] {
  const base = rules.departments[0]!.managers[0]!;
  return [
    {
      ...base,
      schedule: {
        kind: 'weekly',
        followHolidays: true,
        days: {
          mon: [week],
          tue: [week],
          wed: [week],
          thu: [week],
          fri: [week],
          sat: [{ startMin: 600, endMin: 900 }],
        },
      },
    },
    {
      ...base,
      schedule: {
        kind: 'weekly',
        followHolidays: false,
        days: { mon: [{ startMin: 1200, endMin: 1800 }], thu: [week] },
      },
      absences: [{ from: '2026-03-01', to: '2026-03-10' }],
    },
    {
      ...base,
      schedule: { kind: 'cycle', anchor: '2026-01-01', on: 2, off: 2, shifts: [{ startMin: 1200, endMin: 1920 }] },
    },
    { ...base, schedule: { kind: 'always' }, absences: [{ from: '2026-06-01', to: '2026-06-30' }] },
  ] as CompiledManager[];
}

describe('working time with cached local days and shifts', () => {
  it('gives the same intervals and absences as asking luxon every time', async () => {
    const rules = await demoRules();
    const people = managers(rules);
    const start = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: people.length - 1 }),
        fc.constantFrom(...ZONES),
        fc.integer({ min: 0, max: 700 * 86_400_000 }),
        fc.integer({ min: 1, max: 21 * 86_400_000 }),
        (who, zone, offset, length) => {
          const manager = people[who]!;
          const from = start + offset;
          expect(managerIntervals(manager, from, from + length, rules.calendar, zone)).toEqual(
            reference(manager, from, from + length, rules.calendar, zone),
          );
          const iso = DateTime.fromMillis(from, { zone }).toISODate() ?? '';
          expect(isAbsentAt(manager, from, zone)).toBe(manager.absences.some((a) => a.from <= iso && iso <= a.to));
        },
      ),
      { numRuns: 3_000, seed: 20261125 },
    );
  });

  it('answers a new rules version from its own managers, not from what the cache kept for the old ones', async () => {
    const rules = await demoRules();
    const [before] = managers(rules);
    const from = Date.parse('2026-11-24T06:00:00Z'); // a Tuesday, 09:00 in Moscow
    expect(managerIntervals(before!, from, from + 3_600_000, rules.calendar, 'Europe/Moscow')).toHaveLength(1);
    const after = {
      ...before!,
      schedule: { kind: 'weekly', followHolidays: true, days: { mon: [week] } },
    } as CompiledManager;
    expect(managerIntervals(after, from, from + 3_600_000, rules.calendar, 'Europe/Moscow')).toEqual([]);
  });
});
