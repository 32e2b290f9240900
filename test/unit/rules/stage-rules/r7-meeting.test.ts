import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { stageRulesOnDue } from '../../../../src/rules/stage-rules/index.js';
import { managerIntervals, type Interval } from '../../../../src/rules/schedule/shifts.js';
import { confirmationTimes } from '../../../../src/rules/stage-rules/r7-meeting/rule.js';
import type { CompiledManager } from '../../../../src/rules/types.js';
import type { CompiledRules } from '../../../../src/rules/types.js';
import { ctxAt } from '../../../helpers/rules.js';
import {
  ANNA,
  effects as effectsOf,
  freshLead,
  LEAD,
  MEETING_FIELD,
  moveTo,
  ms,
  ofKind,
  S,
  startWalk,
  violations,
  shippedStageRules,
} from './helpers.js';

// Tuesday 24 November 2026, 13:00 in Moscow.
const T = '2026-11-24T10:00:00.000Z';
const H = 3_600_000;
let rules: CompiledRules;
beforeAll(async () => {
  rules = await shippedStageRules();
});
const field = (iso: string) => [{ id: MEETING_FIELD, values: [{ value: String(ms(iso) / 1000) }] }];

describe('R7 confirmation times (seed 004 rule 3)', () => {
  const cfg = () => rules.stageRules!.meeting!;
  it.each([
    [
      'a meeting today at 18:00 → one task at 16:00',
      '2026-11-24T15:00:00.000Z',
      [['before', '2026-11-24T13:00:00.000Z']],
    ],
    [
      'a meeting tomorrow at 15:00 → 10:00 that morning and 13:00',
      '2026-11-25T12:00:00.000Z',
      [
        ['morning', '2026-11-25T07:00:00.000Z'],
        ['before', '2026-11-25T10:00:00.000Z'],
      ],
    ],
    [
      'a meeting tomorrow at 11:00 → the morning one no later than 08:00, and 09:00',
      '2026-11-25T08:00:00.000Z',
      [
        ['morning', '2026-11-25T05:00:00.000Z'],
        ['before', '2026-11-25T06:00:00.000Z'],
      ],
    ],
    ['a meeting today at 14:30, under 2 hours away → one task now', '2026-11-24T11:30:00.000Z', [['before', T]]],
    ['a meeting already past → none', '2026-11-24T09:00:00.000Z', []],
  ])('%s', (_name, meeting, expected) => {
    expect(
      confirmationTimes(ms(meeting), ms(T), cfg(), 'Europe/Moscow').map((c) => [
        c.slot,
        new Date(c.dueAt).toISOString(),
      ]),
    ).toEqual(expected);
  });

  it('holds for any meeting time, time zone and morning hour: seed 004 windows, same day one task, later days the morning of that day too', () => {
    const zones = [
      'Europe/Moscow',
      'Asia/Yekaterinburg',
      'Asia/Vladivostok',
      'Europe/Kaliningrad',
      'Europe/Berlin',
      'America/New_York',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: ms('2026-01-01T00:00:00Z'), max: ms('2027-12-01T00:00:00Z') }),
        fc.integer({ min: 1, max: 40 * 24 * 60 }),
        fc.constantFrom(...zones),
        fc.integer({ min: 6 * 60, max: 12 * 60 }),
        (now, aheadMin, zone, morningMin) => {
          const c = { ...cfg(), morningMin };
          const meeting = now + aheadMin * 60_000;
          const out = confirmationTimes(meeting, now, c, zone);
          const before = out.find((x) => x.slot === 'before')!;
          expect(before).toBeDefined();
          // Seed 004: 2-3 hours before (due at 2 h), or at once when that has already passed.
          if (meeting - 2 * H >= now) expect(before.dueAt).toBe(meeting - 2 * H);
          else expect(before.dueAt).toBe(now);
          const sameDay =
            DateTime.fromMillis(meeting, { zone }).toISODate() === DateTime.fromMillis(now, { zone }).toISODate();
          const morning = out.find((x) => x.slot === 'morning');
          if (sameDay) expect(out).toHaveLength(1);
          if (morning) {
            expect(sameDay).toBe(false);
            expect(DateTime.fromMillis(morning.dueAt, { zone }).toISODate()).toBe(
              DateTime.fromMillis(meeting, { zone }).toISODate(),
            );
            expect(morning.dueAt).toBeLessThan(before.dueAt);
            expect(morning.dueAt).toBeLessThanOrEqual(meeting - 3 * H);
            expect(morning.dueAt).toBeGreaterThan(now);
          } else if (!sameDay) {
            // Only a meeting so early that its 3-hour window opens before its own day has no morning task.
            expect(meeting - 3 * H).toBeLessThan(DateTime.fromMillis(meeting, { zone }).startOf('day').toMillis() + 1);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('R7 "Встреча назначена" (seed 001, seed 004 rule 3)', () => {
  const sec = (iso: string): number => ms(iso) / 1000;
  const TOMORROW_15 = '2026-11-25T12:00:00.000Z';
  const TODAY_18 = '2026-11-24T15:00:00.000Z';

  it("when the lead enters with tomorrow 15:00 filled, then two confirmation tasks carrying the seed's SMS with the time", () => {
    const w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    const tasks = ofKind(w.plans, 'create_task');
    expect(tasks.map((t) => [t.ref, new Date(t.dueAt).toISOString(), t.userId])).toEqual([
      [`r7:confirm-morning:${ms(T)}:${sec(TOMORROW_15)}`, '2026-11-25T07:00:00.000Z', ANNA],
      [`r7:confirm-before:${ms(T)}:${sec(TOMORROW_15)}`, '2026-11-25T10:00:00.000Z', ANNA],
    ]);
    expect(tasks[0]!.text).toContain(
      '«Мы с Вами договорились о встрече в 15:00. Напишите ответ, что встреча в силе. Спасибо»',
    );
  });

  it('when the meeting moves to today 18:00, then both old tasks are completed as replaced and one new task is due at 16:00', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    w = moveTo(rules, { ...w, plans: [] }, S.meetingSet, '2026-11-24T10:01:00.000Z', {
      action: 'update',
      customFields: field(TODAY_18),
    });
    expect(ofKind(w.plans, 'complete_task').map((t) => [t.ref, t.resultText])).toEqual([
      [`r7:confirm-morning:${ms(T)}:${sec(TOMORROW_15)}`, expect.stringContaining('теперь 24 ноября 18:00')],
      [`r7:confirm-before:${ms(T)}:${sec(TOMORROW_15)}`, expect.stringContaining('теперь 24 ноября 18:00')],
    ]);
    expect(ofKind(w.plans, 'create_task').map((t) => [t.ref, new Date(t.dueAt).toISOString()])).toEqual([
      [`r7:confirm-before:${ms(T)}:${sec(TODAY_18)}`, '2026-11-24T13:00:00.000Z'],
    ]);
    expect(ofKind(w.plans, 'add_note')[0]!.text).toContain('Время встречи изменилось: 24 ноября 18:00');
    expect(w.stage.r7).toMatchObject({
      meetingAt: ms(TODAY_18),
      refs: [`r7:confirm-before:${ms(T)}:${sec(TODAY_18)}`],
    });
  });

  it('when the same meeting time comes again (the status and update bodies of one change), then nothing is doubled', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    w = moveTo(rules, { ...w, plans: [] }, S.meetingSet, T, { action: 'update', customFields: field(TOMORROW_15) });
    expect(ofKind(w.plans, 'create_task')).toHaveLength(0);
    expect(ofKind(w.plans, 'complete_task')).toHaveLength(0);
  });

  it('when an older body with the old time arrives after the change (a redelivery), then the tasks stay at the new time', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    w = moveTo(rules, { ...w, plans: [] }, S.meetingSet, '2026-11-24T10:05:00.000Z', {
      action: 'update',
      customFields: field(TODAY_18),
    });
    const late = moveTo(rules, { ...w, plans: [] }, S.meetingSet, '2026-11-24T10:01:00.000Z', {
      action: 'update',
      customFields: field(TOMORROW_15),
    });
    expect(late.plans.flatMap((p) => p.effects)).toHaveLength(0);
    expect(late.stage.r7?.meetingAt).toBe(ms(TODAY_18));
    // Positive control: a newer body with another time does move them.
    const newer = moveTo(rules, { ...w, plans: [] }, S.meetingSet, '2026-11-24T10:06:00.000Z', {
      action: 'update',
      customFields: field(TOMORROW_15),
    });
    expect(ofKind(newer.plans, 'create_task')).toHaveLength(2);
  });

  it('when the lead leaves the stage, then every confirmation task is completed and the timers are cancelled', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    w = moveTo(rules, { ...w, plans: [] }, S.meetingHeld, '2026-11-25T13:00:00.000Z');
    expect(
      ofKind(w.plans, 'complete_task')
        .map((t) => t.ref)
        .sort(),
    ).toEqual([`r7:confirm-before:${ms(T)}:${sec(TOMORROW_15)}`, `r7:confirm-morning:${ms(T)}:${sec(TOMORROW_15)}`]);
    expect(
      ofKind(w.plans, 'cancel_timer')
        .filter((t) => t.rule === 'R7')
        .map((t) => t.key),
    ).toEqual([`time:${ms(T)}`, `read:${ms(T)}`]);
  });

  it('when the lead enters by a Digital Pipeline body (no fields), then R7 asks for a read of the lead now instead of judging the field empty', () => {
    const w = moveTo(rules, startWalk(), S.meetingSet, T, {
      short: true,
      responsibleUserId: undefined,
      modifiedUserId: undefined,
      updatedAt: undefined,
    });
    expect(
      ofKind(w.plans, 'schedule_timer')
        .filter((t) => t.rule === 'R7')
        .map((t) => [t.key, new Date(t.dueAt).toISOString()]),
    ).toEqual([
      [`time:${ms(T)}`, '2026-11-24T10:10:00.000Z'],
      [`read:${ms(T)}`, T],
    ]);
    expect(ofKind(w.plans, 'create_task')).toHaveLength(0);
    // The read finds tomorrow 15:00: the two confirmations, and the fill check is cancelled.
    const read = stageRulesOnDue(
      { rule: 'R7', leadId: LEAD, key: `read:${ms(T)}`, dueAt: ms(T) },
      w.stage,
      { lead: freshLead(S.meetingSet, { fields: new Map([[MEETING_FIELD, String(sec(TOMORROW_15))]]) }), notes: [] },
      ctxAt(rules, T),
    );
    expect(ofKind(read.plans, 'create_task').map((t) => t.ref)).toEqual([
      `r7:confirm-morning:${ms(T)}:${sec(TOMORROW_15)}`,
      `r7:confirm-before:${ms(T)}:${sec(TOMORROW_15)}`,
    ]);
    expect(ofKind(read.plans, 'cancel_timer').map((t) => t.key)).toEqual([`time:${ms(T)}`, `read:${ms(T)}`]);
    // A read that finds the field empty decides nothing yet: the fill check still runs.
    const empty = stageRulesOnDue(
      { rule: 'R7', leadId: LEAD, key: `read:${ms(T)}`, dueAt: ms(T) },
      w.stage,
      { lead: freshLead(S.meetingSet), notes: [] },
      ctxAt(rules, T),
    );
    expect(violations(empty.plans)).toHaveLength(0);
    expect(effectsOf(empty.plans)).toEqual([{ kind: 'cancel_timer', rule: 'R7', leadId: LEAD, key: `read:${ms(T)}` }]);
  });

  it('when a full body comes without the field while a time is known, then the lead is re-read; emptied there, the confirmations are cancelled and the fill check restarts', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, { customFields: field(TOMORROW_15) });
    w = moveTo(rules, { ...w, plans: [] }, S.meetingSet, '2026-11-24T10:02:00.000Z', {
      action: 'update',
      customFields: [],
    });
    expect(ofKind(w.plans, 'complete_task')).toHaveLength(0);
    expect(ofKind(w.plans, 'schedule_timer').map((t) => t.key)).toEqual([`read:${ms(T)}`]);
    const at = '2026-11-24T10:02:05.000Z';
    const read = stageRulesOnDue(
      { rule: 'R7', leadId: LEAD, key: `read:${ms(T)}`, dueAt: ms(at) },
      w.stage,
      { lead: freshLead(S.meetingSet), notes: [] },
      ctxAt(rules, at),
    );
    expect(
      ofKind(read.plans, 'complete_task')
        .map((t) => t.ref)
        .sort(),
    ).toEqual([`r7:confirm-before:${ms(T)}:${sec(TOMORROW_15)}`, `r7:confirm-morning:${ms(T)}:${sec(TOMORROW_15)}`]);
    expect(ofKind(read.plans, 'schedule_timer').map((t) => [t.key, new Date(t.dueAt).toISOString()])).toEqual([
      [`time:${ms(T)}`, '2026-11-24T10:12:05.000Z'],
    ]);
    expect(read.state.r7).toMatchObject({ refs: [] });
    expect(read.state.r7?.meetingAt).toBeUndefined();
    // Positive control: a read that still finds the time keeps the tasks.
    const still = stageRulesOnDue(
      { rule: 'R7', leadId: LEAD, key: `read:${ms(T)}`, dueAt: ms(at) },
      w.stage,
      { lead: freshLead(S.meetingSet, { fields: new Map([[MEETING_FIELD, String(sec(TOMORROW_15))]]) }), notes: [] },
      ctxAt(rules, at),
    );
    expect(ofKind(still.plans, 'complete_task')).toHaveLength(0);
  });

  it('when the meeting time is still empty 10 minutes after entering, then a task and violation meeting_without_time; filled, none', () => {
    const w = moveTo(rules, startWalk(), S.meetingSet, T);
    expect(ofKind(w.plans, 'schedule_timer')).toEqual([
      expect.objectContaining({ rule: 'R7', key: `time:${ms(T)}`, dueAt: ms('2026-11-24T10:10:00.000Z') }),
    ]);
    const timer = { rule: 'R7', leadId: LEAD, key: `time:${ms(T)}`, dueAt: 0 };
    const empty = stageRulesOnDue(
      timer,
      w.stage,
      { lead: freshLead(S.meetingSet), notes: [] },
      ctxAt(rules, '2026-11-24T10:10:00.000Z'),
    );
    expect(violations(empty.plans)).toEqual([
      expect.objectContaining({
        type: 'meeting_without_time',
        rule: 'R7',
        violationId: `meeting_without_time:${LEAD}:${ms(T)}`,
      }),
    ]);
    expect(ofKind(empty.plans, 'create_task')[0]!.text).toContain('дату и время встречи');
    const filled = stageRulesOnDue(
      timer,
      w.stage,
      {
        lead: freshLead(S.meetingSet, {
          fields: new Map([[MEETING_FIELD, String(ms('2026-11-25T12:00:00.000Z') / 1000)]]),
        }),
        notes: [],
      },
      ctxAt(rules, '2026-11-24T10:10:00.000Z'),
    );
    expect(violations(filled.plans)).toHaveLength(0);
    expect(ofKind(filled.plans, 'create_task')).toHaveLength(2);
  });
});

describe("R7 confirmation times inside the manager's working time", () => {
  const cfg = () => rules.stageRules!.meeting!;
  const zone = 'Europe/Moscow';
  const weekdays = (startMin: number, endMin: number, absences: CompiledManager['absences'] = []): CompiledManager => ({
    userId: 1,
    name: 'Анна',
    weight: 1,
    cap: 10,
    schedule: {
      kind: 'weekly',
      days: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, [{ startMin, endMin }]])),
      followHolidays: false,
    },
    absences,
  });
  const shiftsOf =
    (m: CompiledManager) =>
    (from: number, to: number): Interval[] =>
      managerIntervals(m, from, to, { nonWorking: new Set(), working: new Set() }, zone);
  const times = (meeting: string, now: string, m: CompiledManager) =>
    confirmationTimes(ms(meeting), ms(now), cfg(), zone, shiftsOf(m)).map((c) => [
      c.slot,
      new Date(c.dueAt).toISOString(),
    ]);

  it('when the meeting is tomorrow at 10:30 and the shift is 09:00-21:00, then the 2-3 h task moves to this evening and the morning one to 09:00', () => {
    // Tue 24 Nov 13:00 MSK; the seed's times would be 07:30 and 08:30 on Wednesday, before the shift starts.
    expect(times('2026-11-25T07:30:00.000Z', T, weekdays(9 * 60, 21 * 60))).toEqual([
      ['before', '2026-11-24T17:00:00.000Z'],
      ['morning', '2026-11-25T06:00:00.000Z'],
    ]);
  });

  it('when the meeting is Monday at 10:00 and the weekend is off, then the evening task is on Friday', () => {
    expect(times('2026-11-30T07:00:00.000Z', T, weekdays(9 * 60, 18 * 60))).toEqual([
      ['before', '2026-11-27T14:00:00.000Z'],
      ['morning', '2026-11-30T06:00:00.000Z'],
    ]);
  });

  it('when the manager is away the day before, then the evening task goes to the last day they work', () => {
    const away = weekdays(9 * 60, 21 * 60, [{ from: '2026-11-26', to: '2026-11-26' }]);
    // Meeting Fri 27 Nov 10:00 MSK; Thursday is an absence, so Wednesday 20:00.
    expect(times('2026-11-27T07:00:00.000Z', T, away)[0]).toEqual(['before', '2026-11-25T17:00:00.000Z']);
  });

  it("when the window lies inside the shift, then the seed's times stand (control)", () => {
    expect(times('2026-11-25T12:00:00.000Z', T, weekdays(9 * 60, 21 * 60))).toEqual([
      ['morning', '2026-11-25T07:00:00.000Z'],
      ['before', '2026-11-25T10:00:00.000Z'],
    ]);
  });

  it('holds for any meeting and shift: every task is inside a shift or due now, before the meeting, and the 2-3 h one is in its window whenever the window touches a shift', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: ms('2026-01-05T00:00:00Z'), max: ms('2027-12-01T00:00:00Z') }),
        fc.integer({ min: 1, max: 10 * 24 * 60 }),
        fc.integer({ min: 6 * 60, max: 11 * 60 }),
        fc.integer({ min: 4 * 60, max: 13 * 60 }),
        (now, aheadMin, startMin, lengthMin) => {
          const m = weekdays(startMin, startMin + lengthMin);
          const meeting = now + aheadMin * 60_000;
          const working = shiftsOf(m);
          const out = confirmationTimes(meeting, now, cfg(), zone, working);
          const inShift = (t: number): boolean => working(t, t + 1).length > 0;
          for (const c of out) {
            expect(c.dueAt).toBeGreaterThanOrEqual(now);
            expect(c.dueAt).toBeLessThan(meeting);
            if (c.dueAt !== now) expect(inShift(c.dueAt)).toBe(true);
          }
          const before = out.find((c) => c.slot === 'before')!;
          expect(before).toBeDefined();
          const windowStart = Math.max(now, meeting - cfg().confirmFromMs);
          const windowEnd = Math.max(now, meeting - cfg().confirmToMs);
          if (working(windowStart, windowEnd + 1).length > 0) {
            expect(before.dueAt).toBeGreaterThanOrEqual(windowStart);
            expect(before.dueAt).toBeLessThanOrEqual(windowEnd);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
