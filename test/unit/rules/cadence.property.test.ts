/**
 * Property tests of the R3 engine over fake time (fast-check): any entry instant in 2025-2027, any of several
 * schedules, absences and manager behaviours. Invariants come from the seeds and SPEC R3, not from the engine.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import type { ScheduleConfig } from '../../../src/config/schema.js';
import { managerIntervals } from '../../../src/rules/schedule/shifts.js';
import type { CompiledRules } from '../../../src/rules/types.js';
import { CLOSING_STAGE, drive, type ManagerMove } from '../../helpers/cadence-driver.js';
import { demoRules } from '../../helpers/rules.js';

const ZONE = 'Europe/Moscow';
const ANNA = 9101;
const DAY = 24 * 3600_000;
const WEEKDAY_WINDOWS = [
  [13 * 60, 15 * 60],
  [19 * 60, 21 * 60],
];
const WEEKEND_WINDOWS = [
  [11 * 60, 15 * 60],
  [19 * 60, 21 * 60],
];

const SCHEDULES: Record<string, ScheduleConfig> = {
  always: { kind: 'always' },
  office: {
    kind: 'weekly',
    followHolidays: true,
    days: {
      mon: ['09:00-21:00'],
      tue: ['09:00-21:00'],
      wed: ['09:00-21:00'],
      thu: ['09:00-21:00'],
      fri: ['09:00-21:00'],
      sat: ['10:00-18:00'],
    },
  },
  sixDays: {
    kind: 'weekly',
    followHolidays: true,
    days: {
      mon: ['10:00-20:00'],
      tue: ['10:00-20:00'],
      wed: ['10:00-20:00'],
      thu: ['10:00-20:00'],
      sat: ['11:00-21:00'],
      sun: ['11:00-21:00'],
    },
  },
  twoByTwo: { kind: 'cycle', pattern: '2/2', anchor: '2025-01-01', shifts: ['09:00-21:00'] },
};

const rulesFor = new Map<string, CompiledRules>();
beforeAll(async () => {
  for (const [name, schedule] of Object.entries(SCHEDULES)) {
    rulesFor.set(
      name,
      await demoRules((c) => {
        c.departments[0]!.schedule = schedule;
        c.departments[0]!.managers = c.departments[0]!.managers.map((m) => ({ ...m, schedule }));
      }),
    );
  }
});

const withAbsence = (rules: CompiledRules, from: string, to: string): CompiledRules => ({
  ...rules,
  departments: rules.departments.map((d) => ({
    ...d,
    managers: d.managers.map((m) => (m.userId === ANNA ? { ...m, absences: [{ from, to }] } : m)),
  })),
});

const entryArb = fc
  .integer({ min: Date.parse('2025-01-01T00:00:00Z'), max: Date.parse('2027-06-30T00:00:00Z') })
  .map((ms) => Math.floor(ms / 60_000) * 60_000);
const moveArb: fc.Arbitrary<ManagerMove> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .integer({ min: -3 * 3600_000, max: 20 * 3600_000 })
      .map((afterMs): ManagerMove => ({ kind: 'complete', afterMs, fromDue: true })),
  },
  {
    weight: 2,
    arbitrary: fc
      .integer({ min: 60_000, max: 6 * 3600_000 })
      .map((afterMs): ManagerMove => ({ kind: 'complete', afterMs })),
  },
  { weight: 1, arbitrary: fc.constant<ManagerMove>({ kind: 'ignore' }) },
);
const local = (ms: number) => DateTime.fromMillis(ms, { zone: ZONE });

function isDayOff(rules: CompiledRules, iso: string, weekday: number): boolean {
  if (rules.calendar.working.has(iso)) return false;
  return rules.calendar.nonWorking.has(iso) || weekday >= 6;
}

describe('R3 cadence engine, properties over fake time', () => {
  it("for any entry, schedule, absence and manager: at most one open call task; every due inside a call window, on the manager's working time, weekends not before 11:00", () => {
    fc.assert(
      fc.property(
        entryArb,
        fc.constantFrom(...Object.keys(SCHEDULES)),
        fc.option(fc.record({ startDay: fc.integer({ min: 0, max: 40 }), days: fc.integer({ min: 1, max: 14 }) }), {
          nil: undefined,
        }),
        fc.array(moveArb, { minLength: 1, maxLength: 6 }),
        (entryAt, scheduleName, absence, moves) => {
          let rules = rulesFor.get(scheduleName)!;
          if (absence) {
            const from = local(entryAt).plus({ days: absence.startDay }).toISODate()!;
            rules = withAbsence(
              rules,
              from,
              local(entryAt)
                .plus({ days: absence.startDay + absence.days - 1 })
                .toISODate()!,
            );
          }
          const anna = rules.departments[0]!.managers.find((m) => m.userId === ANNA)!;
          const trace = drive({ rules, userId: ANNA, entryAt, moves, untilMs: 200 * DAY });
          expect(trace.maxOpenCalls).toBeLessThanOrEqual(1);
          const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
          expect(calls.length).toBeGreaterThan(0);
          for (const task of calls) {
            const due = local(task.dueAt);
            const minute = due.hour * 60 + due.minute;
            const off = isDayOff(rules, due.toISODate()!, due.weekday);
            const windows = off ? WEEKEND_WINDOWS : WEEKDAY_WINDOWS;
            // The due time closes at least 30 minutes of window the manager works in.
            expect(windows.some(([s, e]) => minute >= s! + 30 && minute <= e!)).toBe(true);
            if (off) expect(minute).toBeGreaterThanOrEqual(11 * 60 + 30);
            const worked = managerIntervals(anna, task.dueAt - 30 * 60_000, task.dueAt, rules.calendar, ZONE).reduce(
              (s, [a, b]) => s + (b - a),
              0,
            );
            expect(worked).toBe(30 * 60_000);
            expect(task.dueAt).toBeGreaterThanOrEqual(task.createdAt);
          }
        },
      ),
      { numRuns: 20, seed: 20261125 },
    );
  });

  it("for any entry with a manager who does every task in time: 14 calls in the seed's phases (4, 6, 4), a weekend call in each of weeks 2-4 when the manager works weekends, the move to «На закрытие» on day 56", () => {
    fc.assert(
      fc.property(entryArb, fc.integer({ min: -3 * 3600_000, max: 0 }), (entryAt, early) => {
        const rules = rulesFor.get('always')!;
        const trace = drive({
          rules,
          userId: ANNA,
          entryAt,
          moves: [{ kind: 'complete', afterMs: early, fromDue: true }],
        });
        const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
        const byPhase = [0, 0, 0];
        for (const c of calls) {
          const m = /^Звонок (\d+) из (\d+), неделя (\d+)/.exec(c.text);
          expect(m).not.toBeNull();
          const total = Number(m![2]);
          byPhase[total === 4 && Number(m![3]) === 1 ? 0 : total === 6 ? 1 : 2]! += 1;
        }
        expect(byPhase).toEqual([4, 6, 4]);
        // Weeks 2-4: days 7-13, 14-20, 21-27 after the entry day each hold a call on a Saturday, Sunday or holiday.
        const entryDay = local(entryAt).startOf('day');
        for (const block of [7, 14, 21]) {
          const inBlock = calls.filter((c) => {
            const d = Math.round(local(c.dueAt).startOf('day').diff(entryDay, 'days').days);
            return d >= block && d < block + 7;
          });
          expect(inBlock.some((c) => isDayOff(rules, local(c.dueAt).toISODate()!, local(c.dueAt).weekday))).toBe(true);
        }
        expect(trace.moves).toHaveLength(1);
        expect(trace.moves[0]!.statusId).toBe(CLOSING_STAGE);
        expect(local(trace.moves[0]!.at).toISODate()).toBe(entryDay.plus({ days: 56 }).toISODate());
        expect(trace.maxOpenCalls).toBe(1);
      }),
      { numRuns: 10, seed: 7 },
    );
  });

  it('for any entry on the database-daily profile: three unanswered calls on three different days, then the move right after the third', async () => {
    const rules = await demoRules((c) => {
      c.cadences.bindings = [
        {
          pipeline: 'Первичный рынок',
          stage: 'Не дозвонились',
          profile: 'database-daily',
          enabled: true,
          joinExisting: true,
        },
      ];
      c.cadences.profiles['database-daily']!.end = { kind: 'move', stage: 'На закрытие', reason: 'Не дозвониться' };
    });
    fc.assert(
      fc.property(entryArb, fc.integer({ min: -2 * 3600_000, max: 0 }), (entryAt, early) => {
        const trace = drive({
          rules,
          userId: ANNA,
          entryAt,
          moves: [{ kind: 'complete', afterMs: early, fromDue: true, call: { durationSec: 5, status: 6 } }],
        });
        const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
        expect(calls).toHaveLength(3);
        expect(new Set(calls.map((c) => local(c.dueAt).toISODate())).size).toBe(3);
        expect(trace.moves).toEqual([{ at: calls[2]!.completedAt, statusId: CLOSING_STAGE }]);
        expect(trace.notes[trace.notes.length - 1]!.text).toContain('причина: «Не дозвониться»');
      }),
      { numRuns: 10, seed: 3 },
    );
  });

  it('for any entry on the intensive profile: 3, 2, 1 calls a day then 2 in a week (44), an SMS task after each unanswered call, never two open call tasks', async () => {
    const rules = await demoRules((c) => {
      c.cadences.bindings = [
        {
          pipeline: 'Первичный рынок',
          stage: 'Не дозвонились',
          profile: 'intensive',
          enabled: true,
          joinExisting: true,
        },
      ];
      c.cadences.profiles.intensive!.end = { kind: 'move', stage: 'На закрытие' };
    });
    fc.assert(
      // Entered before the first window of the day (10:00), so day 0 has all its windows.
      fc.property(entryArb, fc.integer({ min: 0, max: 599 }), (day, minute) => {
        const entryAt = local(day).startOf('day').plus({ minutes: minute }).toMillis();
        const trace = drive({
          rules,
          userId: ANNA,
          entryAt,
          moves: [{ kind: 'complete', afterMs: -20 * 60_000, fromDue: true, call: { durationSec: 0, status: 3 } }],
        });
        const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
        expect(calls).toHaveLength(21 + 14 + 7 + 2);
        const entryDay = local(entryAt).startOf('day');
        const perDay = new Map<number, number>();
        for (const c of calls) {
          const d = Math.round(local(c.dueAt).startOf('day').diff(entryDay, 'days').days);
          perDay.set(d, (perDay.get(d) ?? 0) + 1);
        }
        for (let d = 0; d < 7; d++) expect(perDay.get(d)).toBe(3);
        for (let d = 7; d < 14; d++) expect(perDay.get(d)).toBe(2);
        for (let d = 14; d < 21; d++) expect(perDay.get(d)).toBe(1);
        const sms = trace.tasks.filter((t) => t.ref.endsWith(':msg'));
        expect(sms).toHaveLength(44);
        expect(sms[0]!.text).toContain('«Я не могу с Вами связаться. перезвоните»');
        expect(trace.maxOpenCalls).toBe(1);
      }),
      { numRuns: 3, seed: 11 },
    );
  });
});
