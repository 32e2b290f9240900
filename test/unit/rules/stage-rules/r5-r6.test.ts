import { beforeAll, describe, expect, it } from '@jest/globals';
import { stageRulesOnDue } from '../../../../src/rules/stage-rules/index.js';
import type { CompiledRules } from '../../../../src/rules/types.js';
import { loadRulesFile } from '../../../../src/config/load.js';
import { ctxAt, demoRules } from '../../../helpers/rules.js';
import {
  ANNA,
  BORIS,
  freshLead,
  LEAD,
  moveTo,
  ms,
  noteEvent,
  ofKind,
  S,
  startWalk,
  step,
  violations,
  shippedStageRules,
} from './helpers.js';

const T = '2026-11-24T10:00:00.000Z';
let rules: CompiledRules;
beforeAll(async () => {
  rules = await shippedStageRules();
});

describe('R5 "На закрытие" needs a reason within 10 minutes (seed 001)', () => {
  const due = (w: ReturnType<typeof startWalk>, at: string, notes: Array<{ byUserId: number; at: number }> = []) =>
    stageRulesOnDue(
      { rule: 'R5', leadId: LEAD, key: `reason:${ms(T)}`, dueAt: 0 },
      w.stage,
      { lead: freshLead(S.closing), notes },
      ctxAt(rules, at),
    );

  it('when a lead enters without a reason, then a check is due exactly 10 minutes later', () => {
    const w = moveTo(rules, startWalk(), S.closing, T);
    expect(ofKind(w.plans, 'schedule_timer')).toEqual([
      {
        kind: 'schedule_timer',
        rule: 'R5',
        leadId: LEAD,
        key: `reason:${ms(T)}`,
        dueAt: ms('2026-11-24T10:10:00.000Z'),
      },
    ]);
  });

  it('when no reason came in 10 minutes, then a task to the manager and violation close_without_reason', () => {
    const w = moveTo(rules, startWalk(), S.closing, T);
    const r = due(w, '2026-11-24T10:10:00.000Z');
    expect(violations(r.plans)).toEqual([
      expect.objectContaining({
        type: 'close_without_reason',
        rule: 'R5',
        userId: ANNA,
        violationId: `close_without_reason:${LEAD}:${ms(T)}`,
      }),
    ]);
    const tasks = ofKind(r.plans, 'create_task');
    expect(tasks).toEqual([expect.objectContaining({ userId: ANNA, ref: `r5:reason:${ms(T)}` })]);
    expect(tasks[0]!.text).toContain('причину');
  });

  it('when the responsible writes a note within the 10 minutes, then the check is cancelled and no violation follows', () => {
    let w = moveTo(rules, startWalk(), S.closing, T);
    w = step(rules, { ...w, plans: [] }, noteEvent('2026-11-24T10:05:00.000Z', ANNA), '2026-11-24T10:05:00.000Z');
    expect(ofKind(w.plans, 'cancel_timer')).toEqual([
      { kind: 'cancel_timer', rule: 'R5', leadId: LEAD, key: `reason:${ms(T)}` },
    ]);
    expect(violations(due(w, '2026-11-24T10:10:00.000Z').plans)).toHaveLength(0);
  });

  it("when only someone else wrote a note, then it is no reason (positive control: the responsible's note is)", () => {
    const w = moveTo(rules, startWalk(), S.closing, T);
    expect(
      violations(
        due(w, '2026-11-24T10:10:00.000Z', [{ byUserId: BORIS, at: ms('2026-11-24T10:03:00.000Z') / 1 }]).plans,
      ),
    ).toHaveLength(1);
    expect(
      violations(due(w, '2026-11-24T10:10:00.000Z', [{ byUserId: ANNA, at: ms('2026-11-24T10:03:00.000Z') }]).plans),
    ).toHaveLength(0);
  });
});

describe('R6 "Отложенный спрос": a touch every month, 30 days untouched (seed 001, seed 000)', () => {
  it('when a lead enters, then a "Связаться с клиентом" task is due a month later and the untouched check 30 days later', () => {
    const w = moveTo(rules, startWalk(), S.deferred, T);
    const task = ofKind(w.plans, 'create_task')[0]!;
    expect(task.text).toContain('Связаться с клиентом');
    expect(task.dueAt).toBe(ms('2026-12-24T10:00:00.000Z'));
    expect(ofKind(w.plans, 'schedule_timer').find((t) => t.key.startsWith('untouched'))!.dueAt).toBe(
      ms('2026-12-24T10:00:00.000Z'),
    );
  });

  it('when the lead has the tag ПРОДАЮТ СВОЕ ЖИЛЬЕ, then the touch task is weekly ("направить новости")', () => {
    const w = moveTo(rules, startWalk(), S.deferred, T, { tags: [{ name: 'ПРОДАЮТ СВОЕ ЖИЛЬЕ' }] });
    const task = ofKind(w.plans, 'create_task')[0]!;
    expect(task.text).toContain('новости');
    expect(task.dueAt).toBe(ms('2026-12-01T10:00:00.000Z'));
  });

  const untouched = (
    w: ReturnType<typeof startWalk>,
    at: number,
    notes: Array<{ byUserId: number; at: number }> = [],
  ) =>
    stageRulesOnDue(
      { rule: 'R6', leadId: LEAD, key: `untouched:${ms(T)}`, dueAt: 0 },
      w.stage,
      { lead: freshLead(S.deferred), notes },
      ctxAt(rules, at),
    );

  it('when 30 days pass without a touch, then violation deferred_untouched; a millisecond earlier, none (boundary)', () => {
    const w = moveTo(rules, startWalk(), S.deferred, T);
    const thirty = ms(T) + 30 * 86_400_000;
    expect(violations(untouched(w, thirty - 1).plans)).toHaveLength(0);
    expect(violations(untouched(w, thirty).plans)).toEqual([
      expect.objectContaining({
        type: 'deferred_untouched',
        rule: 'R6',
        violationId: `deferred_untouched:${LEAD}:${ms(T)}`,
      }),
    ]);
  });

  it('when the manager wrote a note on day 10, then the check moves to day 40 with no violation', () => {
    let w = moveTo(rules, startWalk(), S.deferred, T);
    const day10 = ms(T) + 10 * 86_400_000;
    w = step(rules, w, noteEvent(new Date(day10).toISOString(), ANNA), new Date(day10).toISOString());
    const r = untouched(w, ms(T) + 30 * 86_400_000);
    expect(violations(r.plans)).toHaveLength(0);
    expect(ofKind(r.plans, 'schedule_timer')[0]!.dueAt).toBe(day10 + 30 * 86_400_000);
  });

  it('when the robot itself wrote the note, then it is no touch', () => {
    let w = moveTo(rules, startWalk(), S.deferred, T);
    const day10 = ms(T) + 10 * 86_400_000;
    w = step(rules, w, noteEvent(new Date(day10).toISOString(), 9001), new Date(day10).toISOString());
    expect(violations(untouched(w, ms(T) + 30 * 86_400_000).plans)).toHaveLength(1);
  });
});

describe('R6 with fractional durations (valid ISO-8601, read by luxon like the validator)', () => {
  it('when touchEvery is P1.5D and untouchedAfter PT0.5H, then the task is due 36 hours later and the check 30 minutes later, never "now"', async () => {
    const shipped = await loadRulesFile('config/rules.yaml');
    if (!shipped.ok) throw new Error(JSON.stringify(shipped.errors));
    const stageRules = shipped.config.stageRules!;
    const fractional = await demoRules((c) => {
      c.stageRules = {
        ...stageRules,
        deferred: { ...stageRules.deferred!, touchEvery: 'P1.5D', untouchedAfter: 'PT0.5H', weeklyEvery: 'P0.5W' },
      };
    });
    const w = moveTo(fractional, startWalk(), S.deferred, T);
    expect(ofKind(w.plans, 'create_task')[0]!.dueAt).toBe(ms(T) + 36 * 3600_000);
    expect(ofKind(w.plans, 'schedule_timer').find((t) => t.key.startsWith('untouched'))!.dueAt).toBe(
      ms(T) + 30 * 60_000,
    );
    const weekly = moveTo(fractional, startWalk(), S.deferred, T, { tags: [{ name: 'ПРОДАЮТ СВОЕ ЖИЛЬЕ' }] });
    expect(ofKind(weekly.plans, 'create_task')[0]!.dueAt).toBe(ms(T) + 3.5 * 86_400_000);
  });
});
