import { beforeAll, describe, expect, it } from '@jest/globals';
import { emptyStageState, stageRulesOnDue, stageRulesOnSweep } from '../../../../src/rules/stage-rules/index.js';
import type { CompiledRules } from '../../../../src/rules/types.js';
import { ctxAt } from '../../../helpers/rules.js';
import {
  ANNA,
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

const T = '2026-11-24T10:00:00.000Z';
const DAY = 86_400_000;
let rules: CompiledRules;
beforeAll(async () => {
  rules = await shippedStageRules();
});

describe('R8 "Встреча состоялась" is never skipped (seed 001, in capitals)', () => {
  it('when a lead goes from "Встреча назначена" straight to "Отправлено КП", then meeting_skipped, a РОП alert and a task to record the meeting', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T);
    w = moveTo(rules, { ...w, plans: [] }, S.offer, '2026-11-25T10:00:00.000Z');
    expect(violations(w.plans)).toEqual([
      expect.objectContaining({
        type: 'meeting_skipped',
        rule: 'R8',
        userId: ANNA,
        violationId: `meeting_skipped:${LEAD}:${ms(T)}`,
      }),
    ]);
    expect(ofKind(w.plans, 'message').map((m) => m.message.template)).toEqual(['violation']);
    expect(ofKind(w.plans, 'create_task').find((t) => t.ref.startsWith('r8:'))!.text).toContain('Встреча состоялась');
  });

  it('when it passes "Встреча состоялась" first, then no violation (positive control above)', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T);
    w = moveTo(rules, w, S.meetingHeld, '2026-11-25T10:00:00.000Z');
    w = moveTo(rules, w, S.offer, '2026-11-25T11:00:00.000Z');
    expect(violations(w.plans)).toHaveLength(0);
  });

  it('when the lead is lost (143) after the meeting was set, then it is not "later": no violation', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T);
    w = moveTo(rules, w, S.lost, '2026-11-25T10:00:00.000Z');
    expect(violations(w.plans)).toHaveLength(0);
  });

  it('when a lead moves fast Встреча назначена → Отправлено КП → ОС получена and an event is delivered twice, then each decision comes once, in order', () => {
    let w = moveTo(rules, startWalk(), S.meetingSet, T, {
      customFields: [{ id: MEETING_FIELD, values: [{ value: String(ms('2026-11-26T12:00:00Z') / 1000) }] }],
    });
    w = moveTo(rules, w, S.offer, '2026-11-24T10:00:01.000Z');
    const again = moveTo(rules, w, S.offer, '2026-11-24T10:00:01.000Z', { action: 'update' });
    expect(again.plans.length).toBe(w.plans.length);
    w = moveTo(rules, w, S.feedback, '2026-11-24T10:00:02.000Z');
    const ids = w.plans.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      w.plans.filter((p) => p.effects.length > 0).map((p) => `${p.rule}:${p.id.split(':').slice(3).join(':')}`),
    ).toEqual(['R7:meeting:' + String(ms('2026-11-26T12:00:00Z')), 'R7:leave', 'R8:skipped', 'R9:enter', 'R9:leave']);
  });
});

describe('R9 "Отправлено КП" (seed 001)', () => {
  it('when a lead enters on Friday 12:00, then "Получить обратную связь" is due Tuesday 12:00 (2 working days) and the stale check 5 days later', () => {
    const fri = '2026-11-27T09:00:00.000Z';
    const w = moveTo(rules, startWalk(), S.offer, fri);
    expect(ofKind(w.plans, 'create_task')).toEqual([
      expect.objectContaining({ text: 'Получить обратную связь', userId: ANNA, dueAt: ms('2026-12-01T09:00:00.000Z') }),
    ]);
    expect(ofKind(w.plans, 'schedule_timer')[0]!.dueAt).toBe(ms(fri) + 5 * DAY);
  });

  it('when the 2 working days cross the New Year holidays, then the calendar is followed (30 Dec → 12 Jan)', () => {
    const w = moveTo(rules, startWalk(), S.offer, '2026-12-30T09:00:00.000Z');
    expect(ofKind(w.plans, 'create_task')[0]!.dueAt).toBe(ms('2027-01-12T09:00:00.000Z'));
  });

  it('when it is still there after 5 days, then offer_stale; a millisecond earlier, none (boundary)', () => {
    const w = moveTo(rules, startWalk(), S.offer, T);
    const timer = { rule: 'R9', leadId: LEAD, key: `stale:${ms(T)}`, dueAt: 0 };
    expect(
      violations(
        stageRulesOnDue(timer, w.stage, { lead: freshLead(S.offer), notes: [] }, ctxAt(rules, ms(T) + 5 * DAY - 1))
          .plans,
      ),
    ).toHaveLength(0);
    expect(
      violations(
        stageRulesOnDue(timer, w.stage, { lead: freshLead(S.offer), notes: [] }, ctxAt(rules, ms(T) + 5 * DAY)).plans,
      ),
    ).toEqual([expect.objectContaining({ type: 'offer_stale', rule: 'R9' })]);
  });

  it('when the lead leaves, then the feedback task is completed and the check cancelled', () => {
    let w = moveTo(rules, startWalk(), S.offer, T);
    w = moveTo(rules, { ...w, plans: [] }, S.feedback, '2026-11-25T10:00:00.000Z');
    expect(ofKind(w.plans, 'complete_task')).toEqual([
      expect.objectContaining({ ref: `r9:feedback:${ms(T)}`, resultText: 'Сделка перешла в этап «ОС получена»' }),
    ]);
    expect(ofKind(w.plans, 'cancel_timer')).toHaveLength(1);
  });

  it("when the sweep finds a lead already in the stage, then it joins at its real entry time from amoCRM's events", () => {
    const entered = ms('2026-11-20T09:00:00.000Z');
    const r = stageRulesOnSweep(
      emptyStageState(),
      freshLead(S.offer, { updatedAt: ms(T) - DAY }),
      entered,
      ctxAt(rules, T),
    );
    expect(ofKind(r.plans, 'schedule_timer')).toEqual([
      expect.objectContaining({ rule: 'R9', key: `stale:${entered}`, dueAt: entered + 5 * DAY }),
    ]);
  });
});

describe('R10 weekly update (seed 002 §2.6, §2.12)', () => {
  const sweep = (lastTouchAt: number, now: number, state = emptyStageState()) =>
    stageRulesOnSweep(
      { ...state, statusId: S.needs, pipelineId: 7000001, lastTouchAt },
      freshLead(S.needs),
      undefined,
      ctxAt(rules, now),
    );

  it('when 7 days pass without a note or stage change, then lead_stale and a task; a millisecond before, nothing (boundary)', () => {
    const base = ms(T);
    expect(violations(sweep(base, base + 7 * DAY - 1).plans)).toHaveLength(0);
    const r = sweep(base, base + 7 * DAY);
    expect(violations(r.plans)).toEqual([
      expect.objectContaining({ type: 'lead_stale', rule: 'R10', violationId: `lead_stale:${LEAD}:${base}w1` }),
    ]);
    expect(ofKind(r.plans, 'create_task')).toHaveLength(1);
  });

  it('when the sweep runs again in the same week, then no second violation; the next week, a new one', () => {
    const base = ms(T);
    const first = sweep(base, base + 7 * DAY);
    expect(violations(sweep(base, base + 7 * DAY + 3_600_000, first.state).plans)).toHaveLength(0);
    expect(violations(sweep(base, base + 14 * DAY, first.state).plans)).toEqual([
      expect.objectContaining({ violationId: `lead_stale:${LEAD}:${base}w2` }),
    ]);
  });

  it('when no person ever touched a lead and only the robot wrote to it (amoCRM updated_at moved), then the silence runs from its creation', () => {
    const created = ms(T);
    // The robot moved the lead on day 6: amoCRM's updated_at says day 6, no person touched it.
    const robotOnly = freshLead(S.needs, { createdAt: created, updatedAt: created + 6 * DAY });
    expect(
      violations(stageRulesOnSweep(emptyStageState(), robotOnly, undefined, ctxAt(rules, created + 7 * DAY - 1)).plans),
    ).toHaveLength(0);
    const r = stageRulesOnSweep(emptyStageState(), robotOnly, undefined, ctxAt(rules, created + 7 * DAY));
    expect(violations(r.plans)).toEqual([
      expect.objectContaining({ type: 'lead_stale', violationId: `lead_stale:${LEAD}:${created}w1` }),
    ]);
  });

  it("when amoCRM's events show a person's touch, then the silence runs from it (positive control)", () => {
    const created = ms(T);
    const touched = freshLead(S.needs, {
      createdAt: created,
      updatedAt: created + 6 * DAY,
      lastPersonTouchAt: created + 5 * DAY,
    });
    const r = stageRulesOnSweep(emptyStageState(), touched, undefined, ctxAt(rules, created + 7 * DAY));
    expect(violations(r.plans)).toHaveLength(0);
    // Kept in the lead's state, so the next sweep does not read the events again.
    expect(r.plans.map((p) => (p.state?.stage as { lastTouchAt?: number } | undefined)?.lastTouchAt)).toEqual([
      created + 5 * DAY,
    ]);
  });

  it('when the lead is won or lost, then it is not checked', () => {
    const r = stageRulesOnSweep(
      { visit: 1, statusId: S.won, lastTouchAt: 0 },
      freshLead(S.won),
      undefined,
      ctxAt(rules, T),
    );
    expect(violations(r.plans)).toHaveLength(0);
  });
});
