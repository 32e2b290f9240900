import { beforeAll, describe, expect, it } from '@jest/globals';
import { DateTime } from 'luxon';
import { compileRules } from '../../../src/config/compile.js';
import { loadRulesFile } from '../../../src/config/load.js';
import type { RulesConfig } from '../../../src/config/schema.js';
import { callFromApiNote, callFromNoteEvent, isConversation } from '../../../src/rules/cadence/calls.js';
import { cadenceOnLeadEvent, cadenceOnSweep } from '../../../src/rules/cadence/cadence.js';
import { cadenceSteps } from '../../../src/rules/cadence/plan.js';
import { stepHeadline, timesText } from '../../../src/rules/cadence/templates.js';
import { explainCadence } from '../../../src/rules/cadence/explain.js';
import type { CompiledRules } from '../../../src/rules/types.js';
import { seedDirectory } from '../../../sim/directory.js';
import { callNoteEvent, CLOSING_STAGE, drive, type ManagerMove } from '../../helpers/cadence-driver.js';
import { demoRules } from '../../helpers/rules.js';

const ZONE = 'Europe/Moscow';
const ANNA = 9101;
const BORIS = 9102;
const local = (ms: number): string => DateTime.fromMillis(ms, { zone: ZONE }).toFormat('yyyy-MM-dd ccc HH:mm');
const at = (s: string): number => DateTime.fromISO(s, { zone: ZONE }).toMillis();
/** The manager never calls and completes each task half an hour before it is due. */
const dutiful: ManagerMove[] = [{ kind: 'complete', afterMs: -30 * 60_000, fromDue: true }];

async function shipped(): Promise<RulesConfig> {
  const loaded = await loadRulesFile('config/rules.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

describe('R3 cadence profiles: phase counts as the seeds say', () => {
  let config: RulesConfig;
  beforeAll(async () => {
    config = await shipped();
  });
  const perPhase = (name: string): number[] => {
    const profile = config.cadences.profiles[name];
    if (!profile) throw new Error(`no profile ${name}`);
    const steps = cadenceSteps({
      phases: profile.phases.map((p) => ({ ...p, ...(p.messenger ? { messengerText: p.messenger.text } : {}) })),
    });
    return profile.phases.map((_, i) => steps.filter((s) => s.phase === i).length);
  };

  it('when primary-market is read, then week 1 has a call every other day (4), weeks 2-4 two a week (6), weeks 5-8 one a week (4) — seed 001', () => {
    expect(perPhase('primary-market')).toEqual([4, 6, 4]);
    const p = config.cadences.profiles['primary-market']!;
    expect(p.phases.map((x) => [x.from, x.to])).toEqual([
      [0, 7],
      [7, 28],
      [28, 56],
    ]);
    expect(p.phases[0]?.messenger?.text).toMatch(/WhatsApp\/Telegram/);
    expect(p.phases[1]?.weekendCall).toBe(true);
    expect(p.windows.weekdays).toEqual(['13:00-15:00', '19:00-21:00']);
    expect(p.end).toEqual({ kind: 'move', stage: 'На закрытие', reason: 'Клиент не вышел на связь' });
    const binding = config.cadences.bindings.find((b) => b.profile === 'primary-market');
    expect(binding).toMatchObject({ stage: 'Не дозвонились', enabled: true });
  });

  it('when intensive is read, then 3 a day for 7 days, 2 a day for 7, 1 a day for 7, 2 in 7 days, then «Инкубатор лидов» with the SMS text — seed 004 rule 1', () => {
    expect(perPhase('intensive')).toEqual([21, 14, 7, 2]);
    const p = config.cadences.profiles.intensive!;
    expect(p.end).toEqual({ kind: 'move', stage: 'Инкубатор лидов' });
    for (const phase of p.phases) expect(phase.messenger?.text).toContain('«Я не могу с Вами связаться. перезвоните»');
  });

  it('when two-days is read, then 2 calls a day for 2 days — seed 002 §3.3', () => {
    expect(perPhase('two-days')).toEqual([4]);
    expect(config.cadences.profiles['two-days']!.phases[0]).toMatchObject({ from: 0, to: 2, calls: 2, everyDays: 1 });
  });

  it('when database-daily is read, then one call a day, and after 3 it moves to «Нецелевые контакты» with «Не дозвониться» — seed 000', () => {
    expect(perPhase('database-daily')).toEqual([3]);
    const p = config.cadences.profiles['database-daily']!;
    expect(p.end).toEqual({ kind: 'move', stage: 'Нецелевые контакты', reason: 'Не дозвониться' });
    expect(p.endAt).toBe('after_last_call');
  });

  it('when a block needs a weekend call, then exactly one call of each 7-day block falls on Saturday or Sunday, whatever the entry weekday', () => {
    const phases = [{ from: 0, to: 21, calls: 2, everyDays: 7, weekendCall: true }];
    for (let weekday = 1; weekday <= 7; weekday++) {
      const steps = cadenceSteps({ phases }, weekday);
      expect(steps).toHaveLength(6);
      for (const block of [0, 7, 14]) {
        const inBlock = steps.filter((s) => s.blockStart === block);
        expect(inBlock.filter((s) => s.weekend)).toHaveLength(1);
        const w = inBlock.find((s) => s.weekend)!;
        expect([6, 7]).toContain(((weekday - 1 + w.nominalDay) % 7) + 1);
      }
    }
  });
});

describe('R3 cadence config', () => {
  it('when a binding names a missing profile or a phase gap, then every error comes with its path', async () => {
    const { RulesConfigSchema } = await import('../../../src/config/schema.js');
    const config = structuredClone(await shipped());
    config.cadences.bindings.push({
      pipeline: 'Первичный рынок',
      stage: 'Квалификатор',
      profile: 'nope',
      enabled: true,
      joinExisting: true,
    });
    config.cadences.profiles['primary-market']!.phases[1]!.from = 8;
    const r = RulesConfigSchema.safeParse(config);
    expect(r.success).toBe(false);
    const paths = r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['cadences.bindings.1.profile', 'cadences.profiles.primary-market.phases.1.from']),
    );
  });

  it('when the end stage does not exist in the bound pipeline, then compiling names it and disables only that binding', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error('demo rules');
    const config = structuredClone(loaded.config);
    config.cadences.bindings.push({
      pipeline: 'Первичный рынок',
      stage: 'Для передачи',
      profile: 'database-daily',
      enabled: true,
      joinExisting: true,
    });
    const compiled = compileRules(config, loaded.calendar, seedDirectory());
    if (!compiled.ok) throw new Error('structural error');
    expect(compiled.warnings.map((w) => w.path)).toContain('cadences.profiles.database-daily.end.stage');
    expect(compiled.rules.cadences.bindings.map((b) => b.profile)).toEqual(['primary-market']);
  });
});

describe('R3 call notes', () => {
  it('when a webhook call note carries DURATION and call_status, then a long status-4 call is a conversation and a status-6 one is not', () => {
    const answered = callFromNoteEvent(callNoteEvent(1, 0, ANNA, 95, 4), 0)!;
    expect(answered).toMatchObject({ direction: 'out', durationSec: 95, status: 4 });
    expect(isConversation(answered, 20)).toBe(true);
    expect(isConversation(callFromNoteEvent(callNoteEvent(1, 0, ANNA, 95, 6), 0)!, 20)).toBe(false);
    expect(isConversation(callFromNoteEvent(callNoteEvent(1, 0, ANNA, 12, 4), 0)!, 20)).toBe(false);
    expect(isConversation(callFromNoteEvent(callNoteEvent(1, 0, ANNA, 12, 4), 0)!, 10)).toBe(true);
  });

  it('when the API gives a call_in note with params, then it is parsed the same way; a common note is not a call', () => {
    expect(
      callFromApiNote({ note_type: 'call_in', created_at: 100, params: { duration: 40, call_status: 4 } }),
    ).toEqual({ direction: 'in', at: 100_000, durationSec: 40, status: 4 });
    expect(callFromApiNote({ note_type: 'common', params: { text: 'x' } })).toBeUndefined();
  });

  it('when a call note carries an empty or missing call_status, then its duration still counts (a 45 s call is a conversation); statuses 1, 3, 5, 6, 7 still rule one out', () => {
    const note = (fields: Record<string, unknown>) => ({
      ...callNoteEvent(1, 0, ANNA, 0, 4),
      text: JSON.stringify({ UNIQ: 'u', DURATION: 45, SRC: 'x', ...fields }),
    });
    const empty = callFromNoteEvent(note({ call_status: '' }), 0)!;
    expect(empty).toEqual(expect.objectContaining({ direction: 'out', durationSec: 45 }));
    expect(empty.status).toBeUndefined();
    expect(isConversation(empty, 20)).toBe(true);
    expect(isConversation(callFromNoteEvent(note({}), 0)!, 20)).toBe(true);
    for (const status of [1, 3, 5, 6, 7])
      expect([status, isConversation(callFromNoteEvent(note({ call_status: String(status) }), 0)!, 20)]).toEqual([
        status,
        false,
      ]);
    const api = callFromApiNote({ note_type: 'call_out', created_at: 100, params: { duration: 45, call_status: '' } })!;
    expect(api).toEqual({ direction: 'out', at: 100_000, durationSec: 45 });
    expect(isConversation(api, 20)).toBe(true);
  });
});

describe('R3 task texts', () => {
  it('when a step is rendered, then it says which call of which week and how many times the client did not answer', () => {
    const steps = cadenceSteps({ phases: [{ from: 0, to: 7, calls: 1, everyDays: 2, weekendCall: false }] });
    expect(stepHeadline(steps[2]!, 2)).toBe('Звонок 3 из 4, неделя 1 — клиент не ответил 2 раза');
    expect(stepHeadline(steps[0]!, 0)).toBe('Звонок 1 из 4, неделя 1 — первая попытка');
    expect([1, 2, 5, 11, 12, 21, 22].map(timesText)).toEqual([
      '1 раз',
      '2 раза',
      '5 раз',
      '11 раз',
      '12 раз',
      '21 раз',
      '22 раза',
    ]);
  });
});

describe('R3 primary-market over fake time', () => {
  let rules: CompiledRules;
  beforeAll(async () => {
    rules = await demoRules();
  });

  it('when the manager works round the clock and never reaches the client, then the 14 calls fall on the hand-computed slots and the lead moves on day 56', () => {
    const trace = drive({ rules, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves: dutiful });
    const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
    // Mon entry; week 1 every other day; weeks 2-4 Mon + Sat; weeks 5-8 Mondays; windows alternate lunch/evening;
    // 4 Jan 2027 is a public holiday, so its call uses the weekend window 11-15.
    expect(calls.map((t) => local(t.dueAt))).toEqual([
      '2026-11-23 Mon 15:00',
      '2026-11-25 Wed 21:00',
      '2026-11-27 Fri 15:00',
      '2026-11-29 Sun 21:00',
      '2026-11-30 Mon 15:00',
      '2026-12-05 Sat 21:00',
      '2026-12-07 Mon 15:00',
      '2026-12-12 Sat 21:00',
      '2026-12-14 Mon 15:00',
      '2026-12-19 Sat 21:00',
      '2026-12-21 Mon 15:00',
      '2026-12-28 Mon 21:00',
      '2027-01-04 Mon 15:00',
      '2027-01-11 Mon 21:00',
    ]);
    expect(calls[2]!.text).toMatch(/^Звонок 3 из 4, неделя 1 — клиент не ответил 2 раза\./);
    expect(calls[5]!.text).toMatch(/^Звонок 2 из 6, неделя 2 — клиент не ответил 5 раз\./);
    // Week 1: a messenger task after each unanswered call (4), none later.
    expect(trace.tasks.filter((t) => t.ref.endsWith(':msg'))).toHaveLength(4);
    expect(trace.moves).toEqual([{ at: at('2027-01-18T00:00'), statusId: CLOSING_STAGE }]);
    const endNote = trace.notes[trace.notes.length - 1]!.text;
    expect(endNote).toContain('«На закрытие»');
    expect(endNote.match(/задача закрыта без звонка/g)).toHaveLength(14);
    expect(trace.maxOpenCalls).toBe(1);
  });

  it('when the department works weekdays 9-21 and Saturdays 10-18, then Sunday and holiday calls move to the next working slot and push the ones after them', async () => {
    const weekly = await demoRules((c) => {
      c.departments[0]!.schedule = {
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
      };
    });
    const trace = drive({ rules: weekly, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves: dutiful });
    const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg')).map((t) => local(t.dueAt));
    expect(calls.slice(0, 7)).toEqual([
      '2026-11-23 Mon 15:00',
      '2026-11-25 Wed 21:00',
      '2026-11-27 Fri 15:00',
      '2026-11-30 Mon 21:00', // Sunday off: the next working slot, the other window
      '2026-12-01 Tue 15:00', // one call a day: pushed a day, not doubled up
      '2026-12-05 Sat 15:00', // the weekend call: Saturday's shift ends at 18:00, so the lunch window
      '2026-12-07 Mon 21:00',
    ]);
    // Step 13 is nominally Mon 4 Jan 2027, but 4-8 Jan are holidays; Sat 9 Jan offers only the lunch window, the
    // window of the previous call (28 Dec 15:00), so it goes to Mon 11 Jan evening; step 14 (nominally 11 Jan) to Tue 12.
    expect(calls.slice(11)).toEqual(['2026-12-28 Mon 15:00', '2027-01-11 Mon 21:00', '2027-01-12 Tue 15:00']);
  });

  it('when the manager completes tasks without calling, then the next task appears at once; an answered call stops the cadence and closes the open task', () => {
    const moves: ManagerMove[] = [
      { kind: 'complete', afterMs: 3600_000 },
      { kind: 'complete', afterMs: 3600_000, call: { durationSec: 8, status: 6 } },
      { kind: 'complete', afterMs: 3600_000, call: { durationSec: 140, status: 4 } },
    ];
    const trace = drive({ rules, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves });
    const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
    expect(calls).toHaveLength(3);
    expect(calls[1]!.createdAt).toBe(calls[0]!.completedAt);
    expect(calls[2]!.text).toContain('клиент не ответил 2 раза');
    expect(trace.state).toMatchObject({ status: 'stopped', stoppedBy: 'answered_call', unreachedBy: [] });
    expect(calls[2]!.closedByRobot).toBe(true);
    expect(trace.moves).toEqual([]);
    expect(trace.notes[trace.notes.length - 1]!.text).toContain('клиент ответил на звонок');
  });

  it('when a task is left undone a day past due, then call_overdue is recorded with a stable id, the РОП is alerted through the outbox and the call is set again', () => {
    const moves: ManagerMove[] = [{ kind: 'ignore' }, { kind: 'complete', afterMs: 60_000 }];
    const trace = drive({ rules, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves, untilMs: 3 * 24 * 3600_000 });
    const violations = trace.records.filter((r) => r.record.kind === 'violation');
    expect(violations).toHaveLength(1);
    expect(violations[0]!.at).toBe(at('2026-11-24T15:00')); // due Mon 15:00 + P1D
    expect(violations[0]!.record).toMatchObject({
      type: 'call_overdue',
      rule: 'R3',
      seed: 'seed 001 «Не дозвонились»',
      userId: ANNA,
      violationId: 'call_overdue:42:1:1',
    });
    expect(trace.messages).toHaveLength(1);
    expect(trace.messages[0]!.message).toMatchObject({
      template: 'violation',
      audience: { kind: 'department', department: 'Отдел продаж 1' },
      params: {
        type: 'call_overdue',
        rule: 'R3',
        seed: 'seed 001 «Не дозвонились»',
        leadId: 42,
        userId: ANNA,
        since: new Date(at('2026-11-23T15:00')).toISOString(),
        violationId: 'call_overdue:42:1:1',
      },
    });
    const calls = trace.tasks.filter((t) => !t.ref.endsWith(':msg'));
    expect(calls.map((c) => c.ref)).toEqual(['cadence:1:1', 'cadence:1:1:r1', 'cadence:1:2']);
    expect(calls[0]!.closedByRobot).toBe(true);
    expect(calls[1]!.text).toMatch(/^Звонок 1 из 4/);
    expect(trace.maxOpenCalls).toBe(1);
  });

  it('when the lead leaves the stage, then the cadence stops, its open task is closed and nothing more is set', () => {
    let trace = drive({
      rules,
      userId: ANNA,
      entryAt: at('2026-11-23T10:00'),
      moves: [{ kind: 'ignore' }],
      untilMs: 1000,
    });
    expect(trace.state?.status).toBe('running'); // positive control: it was running
    const state = trace.state!;
    const before = { leadId: 42, pipelineId: 7000001, statusId: 7100007, tags: [], deleted: false, history: [] };
    const after = { ...before, statusId: 7100011 };
    const plans = cadenceOnLeadEvent({
      before,
      after,
      event: {
        deliveryId: 'd',
        receivedAt: '2026-11-23T12:00:00Z',
        account: { subdomain: 'x' },
        kind: 'lead',
        action: 'status',
        leadId: 42,
        short: false,
        tags: [],
        customFields: [],
        statusId: 7100011,
        pipelineId: 7000001,
        dedupeKey: 'k',
      },
      state,
      ctx: { rules, now: at('2026-11-23T12:00') },
    });
    expect(plans).toHaveLength(1);
    expect(plans[0]!.effects.map((e) => e.kind)).toEqual(['cancel_timer', 'complete_task', 'add_note', 'record']);
    expect(plans[0]!.state).toMatchObject({ cadence: { status: 'stopped', stoppedBy: 'left_stage' } });
    trace = drive({ rules, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves: dutiful, untilMs: 1000 });
    expect(trace.tasks).toHaveLength(1);
  });

  it('when the third-manager option is on and a third manager in a row cannot reach the client, then the lead goes to «На закрытие» at once', async () => {
    const third = await demoRules((c) => {
      c.cadences.profiles['primary-market']!.thirdManagerRule = { enabled: true, managers: 3 };
    });
    const trace = drive({
      rules: third,
      userId: ANNA,
      entryAt: at('2026-11-23T10:00'),
      moves: [{ kind: 'ignore' }],
      untilMs: 1000,
    });
    const state = { ...trace.state!, unreachedBy: [9103, BORIS] };
    const done = drive({ rules: third, userId: ANNA, entryAt: at('2026-11-23T10:00'), moves: dutiful, untilMs: 1000 });
    expect(done.moves).toEqual([]); // control: without the history, one unanswered call ends nothing
    const plans = cadenceOnLeadEvent({
      before: { leadId: 42, pipelineId: 7000001, statusId: 7100007, tags: [], deleted: false, history: [] },
      after: { leadId: 42, pipelineId: 7000001, statusId: 7100007, tags: [], deleted: false, history: [] },
      event: {
        deliveryId: 'd',
        receivedAt: '2026-11-23T14:00:00Z',
        account: { subdomain: 'x' },
        kind: 'task',
        action: 'update',
        taskId: 1,
        entityType: 'lead',
        entityId: 42,
        isCompleted: true,
        modifiedUserId: ANNA,
        dedupeKey: 'k',
      },
      state,
      taskRef: state.openTask!.ref,
      ctx: { rules: third, now: at('2026-11-23T14:00') },
    });
    const move = plans[0]!.effects.find((e) => e.kind === 'move_lead');
    expect(move).toMatchObject({ statusId: CLOSING_STAGE });
    expect(plans[0]!.effects.find((e) => e.kind === 'add_note')).toMatchObject({
      text: expect.stringContaining('3-й менеджер подряд'),
    });
  });

  it('when the sweep finds a lead in the stage with no cadence, then it joins from now; a cadence that stopped there is not restarted', () => {
    const now = at('2026-11-23T16:00');
    const lead = { leadId: 7, pipelineId: 7000001, statusId: 7100007, responsibleUserId: ANNA, tags: [] };
    const plans = cadenceOnSweep({ lead, state: undefined, ctx: { rules, now } });
    expect(plans).toHaveLength(1);
    const task = plans[0]!.effects.find((e) => e.kind === 'create_task');
    expect(task && 'dueAt' in task ? local(task.dueAt) : '').toBe('2026-11-23 Mon 21:00');
    const stopped = { ...(plans[0]!.state!.cadence as object), status: 'stopped' } as never;
    expect(cadenceOnSweep({ lead, state: stopped, ctx: { rules, now } })).toEqual([]);
  });

  it('when lead:explain renders a running cadence, then each step shows its planned day, what happened and the open task', () => {
    const trace = drive({
      rules,
      userId: ANNA,
      entryAt: at('2026-11-23T10:00'),
      moves: [{ kind: 'complete', afterMs: 3600_000 }, { kind: 'ignore' }],
      untilMs: 3 * 3600_000,
    });
    const lines = explainCadence(trace.state!, rules.cadences.bindings[0]!.phases, ZONE);
    expect(lines[0]).toBe(
      `cadence «primary-market» run 1: running; entered 2026-11-23 Mon 10:00; manager ${ANNA}; 14 calls planned`,
    );
    expect(lines[1]).toBe(`  managers in a row without contact: ${ANNA}`);
    lines.splice(1, 1);
    expect(lines[1]).toBe(
      '   1. phase 1, call 1/4, day 0 (2026-11-23 Mon): completed without a call at 2026-11-23 Mon 11:00 (due 2026-11-23 Mon 15:00, calls 0)',
    );
    expect(lines[2]).toBe(
      '   2. phase 1, call 2/4, day 2 (2026-11-25 Wed): OPEN task cadence:1:2, due 2026-11-25 Wed 21:00',
    );
    expect(lines[6]).toBe('   6. phase 2, call 2/6, day 12 (2026-12-05 Sat, weekend call): planned');
    expect(lines).toHaveLength(15);
  });

  it('when a completion arrives before the task id was stored, then it is known by its text; another task of the lead is not taken for it', () => {
    const trace = drive({
      rules,
      userId: ANNA,
      entryAt: at('2026-11-23T10:00'),
      moves: [{ kind: 'ignore' }],
      untilMs: 1000,
    });
    const state = trace.state!;
    const lead = { leadId: 42, pipelineId: 7000001, statusId: 7100007, tags: [], deleted: false, history: [] };
    const done = (text: string) =>
      cadenceOnLeadEvent({
        before: lead,
        after: lead,
        event: {
          deliveryId: 'd',
          receivedAt: '2026-11-23T12:00:00Z',
          account: { subdomain: 'x' },
          kind: 'task',
          action: 'update',
          taskId: 99,
          entityType: 'lead',
          entityId: 42,
          isCompleted: true,
          text,
          modifiedUserId: ANNA,
          dedupeKey: 'k',
        },
        state,
        ctx: { rules, now: at('2026-11-23T12:00') },
      });
    expect(done('Перезвонить по ипотеке')).toEqual([]);
    const plans = done(state.openTask!.text!);
    expect(plans).toHaveLength(1);
    expect(plans[0]!.state).toMatchObject({ cadence: { step: 2, attempts: [{ step: 1, outcome: 'no_call' }] } });
  });
});
