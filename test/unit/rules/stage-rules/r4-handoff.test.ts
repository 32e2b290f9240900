import { beforeAll, describe, expect, it } from '@jest/globals';
import { stageRulesOnDue } from '../../../../src/rules/stage-rules/index.js';
import type { CompiledRules } from '../../../../src/rules/types.js';
import { ctxAt } from '../../../helpers/rules.js';
import {
  ANNA,
  CHAT1,
  freshLead,
  LEAD,
  moveTo,
  ms,
  ofKind,
  S,
  startWalk,
  violations,
  shippedStageRules,
} from './helpers.js';

const T = '2026-11-24T10:00:00.000Z';
let rules: CompiledRules;
beforeAll(async () => {
  rules = await shippedStageRules();
});

describe('R4 "Для передачи" over 1 day (seed 001)', () => {
  it('when a manager moves a lead into "Для передачи", then a stale check is scheduled exactly 1 day later', () => {
    const w = moveTo(rules, startWalk(), S.handoff, T);
    expect(ofKind(w.plans, 'schedule_timer')).toEqual([
      {
        kind: 'schedule_timer',
        rule: 'R4',
        leadId: LEAD,
        key: `stale:${ms(T)}`,
        dueAt: ms('2026-11-25T10:00:00.000Z'),
      },
    ]);
  });

  it("when amoCRM's robot (user 0) moves it there, then no clock starts (the service's own writes never trigger its rules)", () => {
    const person = moveTo(rules, startWalk(), S.handoff, T);
    expect(ofKind(person.plans, 'schedule_timer')).toHaveLength(1); // positive control
    const robot = moveTo(rules, startWalk(), S.handoff, T, { modifiedUserId: 0 });
    expect(ofKind(robot.plans, 'schedule_timer')).toHaveLength(0);
  });

  it('when a Digital Pipeline webhook (short, nobody named) reports the move, then the clock starts all the same', () => {
    const w = moveTo(rules, startWalk(), S.handoff, T, {
      short: true,
      modifiedUserId: undefined,
      responsibleUserId: undefined,
    });
    expect(ofKind(w.plans, 'schedule_timer')).toEqual([expect.objectContaining({ rule: 'R4', key: `stale:${ms(T)}` })]);
  });

  it('when the lead is still there after 1 day, then violation handoff_stale with a stable id and one РОП message', () => {
    const w = moveTo(rules, startWalk(), S.handoff, T);
    const due = stageRulesOnDue(
      { rule: 'R4', leadId: LEAD, key: `stale:${ms(T)}`, dueAt: ms('2026-11-25T10:00:00.000Z') },
      w.stage,
      { lead: freshLead(S.handoff), notes: [] },
      ctxAt(rules, '2026-11-25T10:00:00.000Z'),
    );
    expect(violations(due.plans)).toEqual([
      expect.objectContaining({
        kind: 'violation',
        type: 'handoff_stale',
        rule: 'R4',
        leadId: LEAD,
        userId: ANNA,
        violationId: `handoff_stale:${LEAD}:${ms(T)}`,
        seed: expect.stringContaining('seed 001'),
      }),
    ]);
    const messages = ofKind(due.plans, 'message');
    expect(messages).toHaveLength(1);
    expect(messages[0]!.message).toMatchObject({
      template: 'violation',
      audience: { kind: 'department', chatId: CHAT1 },
      params: {
        type: 'handoff_stale',
        rule: 'R4',
        leadId: LEAD,
        userId: ANNA,
        since: T,
        violationId: `handoff_stale:${LEAD}:${ms(T)}`,
      },
    });
    expect(ofKind(due.plans, 'add_note')[0]!.text).toContain('дольше, чем 1 день');
    expect(ofKind(due.plans, 'cancel_timer')).toHaveLength(1);
  });

  it('when the timer fires a millisecond before 1 day (boundary), then it is moved to the day mark, no violation', () => {
    const w = moveTo(rules, startWalk(), S.handoff, T);
    const due = stageRulesOnDue(
      { rule: 'R4', leadId: LEAD, key: `stale:${ms(T)}`, dueAt: 0 },
      w.stage,
      { lead: freshLead(S.handoff), notes: [] },
      ctxAt(rules, ms('2026-11-25T10:00:00.000Z') - 1),
    );
    expect(violations(due.plans)).toHaveLength(0);
    expect(ofKind(due.plans, 'schedule_timer')[0]!.dueAt).toBe(ms('2026-11-25T10:00:00.000Z'));
  });

  it('when amoCRM shows the lead already left the stage (check, then act), then the timer is settled with no violation', () => {
    const w = moveTo(rules, startWalk(), S.handoff, T);
    const due = stageRulesOnDue(
      { rule: 'R4', leadId: LEAD, key: `stale:${ms(T)}`, dueAt: 0 },
      w.stage,
      { lead: freshLead(S.noAnswer), notes: [] },
      ctxAt(rules, '2026-11-26T10:00:00.000Z'),
    );
    expect(violations(due.plans)).toHaveLength(0);
    expect(ofKind(due.plans, 'cancel_timer')).toHaveLength(1);
  });

  it('when the lead leaves the stage, then its stale check is cancelled', () => {
    let w = moveTo(rules, startWalk(), S.handoff, T);
    w = moveTo(rules, { ...w, plans: [] }, S.noAnswer, '2026-11-24T12:00:00.000Z');
    expect(ofKind(w.plans, 'cancel_timer')).toEqual([
      { kind: 'cancel_timer', rule: 'R4', leadId: LEAD, key: `stale:${ms(T)}` },
    ]);
  });
});
