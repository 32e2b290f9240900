import { beforeAll, describe, expect, it } from '@jest/globals';
import type { LeadEvent, NoteEvent, TaskEvent, WebhookEvent } from '../../../src/rules/events.js';
import { applyEvent, emptyLeadState, type LeadState } from '../../../src/rules/lead-state.js';
import {
  decideAfterPick,
  headReassignRefusal,
  pickupOnDeadline,
  pickupOnEvent,
  pickupOnSweep,
  pickupReassignByHead,
  pickupViolationId,
} from '../../../src/rules/pickup/pickup.js';
import { smoothWeightedRoundRobin } from '../../../src/rules/distribution/distribution.js';
import {
  emptyPickupState,
  type AssignmentRequest,
  type CompiledRules,
  type Decision,
  type DistributionExplanation,
  type PickupState,
} from '../../../src/rules/types.js';
import { ADMIN, ctxAt, demoRules, PIPELINE, STAGE } from '../../helpers/rules.js';

const NOW = '2026-11-24T10:00:00.000Z';
const base = { deliveryId: 'd', receivedAt: NOW, account: { subdomain: 'demo-realty' } };
const leadEvent = (over: Partial<LeadEvent>): LeadEvent => ({
  ...base,
  kind: 'lead',
  action: 'status',
  leadId: 42,
  short: false,
  tags: [],
  customFields: [],
  pipelineId: PIPELINE,
  statusId: STAGE,
  responsibleUserId: ADMIN,
  modifiedUserId: 0,
  updatedAt: NOW,
  dedupeKey: `k${Math.random()}`,
  ...over,
});
const note = (by: number, noteType: number): NoteEvent => ({
  ...base,
  kind: 'note',
  entityType: 'lead',
  entityId: 42,
  noteId: 1,
  noteType,
  createdUserId: by,
  dedupeKey: 'n',
});
const taskDone = (by: number): TaskEvent => ({
  ...base,
  kind: 'task',
  action: 'update',
  taskId: 5,
  entityType: 'lead',
  entityId: 42,
  isCompleted: true,
  modifiedUserId: by,
  dedupeKey: 't',
});

const kinds = (ds: Decision[]): string[] => ds.map((d) => d.kind);
/** How each signal reads in the "taken" message. */
const TAKEN_HOW: Record<string, string> = {
  outgoing_call: 'исходящий звонок',
  note: 'примечание в сделке',
  task_completed: 'выполнена задача',
  left_stage: 'сделка переведена дальше по воронке',
};

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

/** Runs an event through the reducer and the rule, as the worker does. */
function step(
  pickup: PickupState,
  before: LeadState | undefined,
  event: WebhookEvent,
  now = NOW,
  loads: Record<number, number> = {},
) {
  const after = applyEvent(before ?? emptyLeadState(42), event, now);
  return { after, ...pickupOnEvent(pickup, before, after, event, ctxAt(rules, now, loads)) };
}

/** Completes an assignment request the way the shell does, with the pure SWRR standing in for Redis. */
function pick(pickup: PickupState, lead: LeadState, decisions: Decision[], now = NOW) {
  const assign = decisions.find((d): d is Extract<Decision, { kind: 'assign' }> => d.kind === 'assign');
  if (!assign) throw new Error(`no assign in ${kinds(decisions).join(',')}`);
  const request: AssignmentRequest = assign.request;
  const { winner, next } = smoothWeightedRoundRobin({}, request.eligible);
  const explanation: DistributionExplanation = {
    department: request.department,
    strategy: request.strategy,
    candidates: request.eligible,
    skipped: request.skipped,
    scores: next,
    ...(winner !== undefined ? { winner } : {}),
  };
  const snapshot = {
    leadId: lead.leadId,
    tags: lead.tags,
    statusId: lead.statusId ?? STAGE,
    pipelineId: PIPELINE,
    ...(lead.responsibleUserId !== undefined ? { responsibleUserId: lead.responsibleUserId } : {}),
  };
  return { winner, request, ...decideAfterPick(pickup, snapshot, request, explanation, ctxAt(rules, now)) };
}

describe('R1 pickup (pure)', () => {
  it('when a lead is created in the stage with the admin responsible, then an assignment is requested among active managers', () => {
    const { decisions } = step(emptyPickupState(42), undefined, leadEvent({ action: 'add', createdUserId: 0 }));
    expect(kinds(decisions)).toEqual(['assign']);
    const request = (decisions[0] as Extract<Decision, { kind: 'assign' }>).request;
    expect(request.cause).toBe('non_manager_responsible');
    expect(request.department).toBe('Отдел продаж 1'); // lead 42 is even: first of the two departments
    expect(request.eligible.map((c) => c.userId)).toEqual([9101, 9102, 9103, 9104]);
    expect(request.skipped).toEqual([{ userId: 9901, reason: 'inactive' }]);
  });

  it('when the pick returns a manager, then the lead is reassigned with a Russian note, a notification, a record and a clock', () => {
    const first = step(emptyPickupState(42), undefined, leadEvent({ action: 'add' }));
    const res = pick(first.pickup, first.after, first.decisions);
    expect(res.winner).toBe(9101); // weight 2 goes first
    expect(kinds(res.decisions)).toEqual(['reassign', 'add_note', 'alert', 'record', 'schedule_timer']);
    const noteText = (res.decisions[1] as Extract<Decision, { kind: 'add_note' }>).text;
    expect(noteText).toContain('Робот назначил ответственным: Анна Смирнова');
    expect(noteText).toContain('пропущены: Леонид Уволенный — неактивен в amoCRM');
    const timer = res.decisions[4] as Extract<Decision, { kind: 'schedule_timer' }>;
    expect(timer).toMatchObject({ clock: 1, dueAt: Date.parse(NOW) + 15_000 });
    expect(res.pickup).toMatchObject({
      phase: 'running',
      assignedUserId: 9101,
      clock: 1,
      department: 'Отдел продаж 1',
    });
  });

  it('when our own write comes back as a webhook, then no clock restarts and nothing counts as taken', () => {
    const first = step(emptyPickupState(42), undefined, leadEvent({ action: 'add' }));
    const assigned = pick(first.pickup, first.after, first.decisions);
    const echo = step(
      assigned.pickup,
      first.after,
      leadEvent({ action: 'responsible', responsibleUserId: 9101, oldResponsibleUserId: ADMIN, modifiedUserId: ADMIN }),
    );
    expect(echo.decisions).toEqual([]);
    expect(echo.pickup).toEqual(assigned.pickup);
  });

  const running = (): { pickup: PickupState; lead: LeadState } => {
    const first = step(emptyPickupState(42), undefined, leadEvent({ action: 'add' }));
    const assigned = pick(first.pickup, first.after, first.decisions);
    const lead = applyEvent(
      first.after,
      leadEvent({ action: 'responsible', responsibleUserId: 9101, modifiedUserId: ADMIN }),
      NOW,
    );
    return { pickup: assigned.pickup, lead };
  };

  it.each([
    ['an outgoing call', note(9101, 11), 'outgoing_call'],
    ['a note', note(9101, 4), 'note'],
    ['a completed task', taskDone(9101), 'task_completed'],
    [
      'a move out of the stage',
      leadEvent({
        action: 'status',
        statusId: 7100010,
        oldStatusId: STAGE,
        responsibleUserId: 9101,
        modifiedUserId: 9101,
        updatedAt: '2026-11-24T10:00:05.000Z',
      }),
      'left_stage',
    ],
  ])('when the assigned manager makes %s, then the clock stops as taken', (_label, event, signal) => {
    const { pickup, lead } = running();
    const res = step(pickup, lead, event as WebhookEvent, '2026-11-24T10:00:05.000Z');
    expect(res.pickup).toMatchObject({ phase: 'taken', takenBy: signal });
    expect(kinds(res.decisions)).toEqual(['cancel_timer', 'release_load', 'record', 'alert', 'alert']);
    // The incident's messages turn into "taken": the manager's and, if it has one, the РОП's.
    const alerts = res.decisions.filter((d): d is Extract<Decision, { kind: 'alert' }> => d.kind === 'alert');
    expect(alerts.map((a) => [a.template, a.audience])).toEqual([
      ['pickup_taken', { kind: 'manager', userId: 9101 }],
      ['pickup_taken', { kind: 'department', department: 'Отдел продаж 1', chatId: '-1001000000001' }],
    ]);
    expect(alerts[0]!.params).toEqual({ leadId: 42, manager: 'Анна Смирнова', how: TAKEN_HOW[signal as string] });
  });

  it('when a person hands a lead that was already missed to another manager, then the miss history stays and the misser is still excluded', () => {
    const { pickup, lead } = running();
    const missed = pickupOnDeadline(
      pickup,
      pickup.clock,
      { lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: 9101, tags: [] }, activity: [] },
      ctxAt(rules, '2026-11-24T10:00:15.000Z'),
    );
    const second = pick(
      missed.pickup,
      { ...lead, responsibleUserId: 9101 },
      missed.decisions,
      '2026-11-24T10:00:15.000Z',
    );
    const afterRobot = applyEvent(
      lead,
      leadEvent({
        action: 'responsible',
        responsibleUserId: second.winner!,
        oldResponsibleUserId: 9101,
        modifiedUserId: ADMIN,
        updatedAt: '2026-11-24T10:00:16.000Z',
      }),
      NOW,
    );
    // The РОП (9100, not a robot) gives the lead to 9103 by hand.
    const manual = step(
      second.pickup,
      afterRobot,
      leadEvent({
        action: 'responsible',
        responsibleUserId: 9103,
        oldResponsibleUserId: second.winner!,
        modifiedUserId: 9100,
        updatedAt: '2026-11-24T10:00:20.000Z',
      }),
      '2026-11-24T10:00:20.000Z',
    );
    expect(manual.pickup).toMatchObject({ phase: 'running', assignedUserId: 9103, misses: 1, missedUserIds: [9101] });
    // Positive control: a lead that re-enters the stage starts a new pickup with a clean history.
    const left = step(
      manual.pickup,
      manual.after,
      leadEvent({
        action: 'status',
        statusId: 7100010,
        oldStatusId: STAGE,
        responsibleUserId: 9103,
        modifiedUserId: 9100,
        updatedAt: '2026-11-24T10:00:30.000Z',
      }),
      '2026-11-24T10:00:30.000Z',
    );
    const back = step(
      left.pickup,
      left.after,
      leadEvent({
        action: 'status',
        statusId: STAGE,
        oldStatusId: 7100010,
        responsibleUserId: 9103,
        modifiedUserId: 9100,
        updatedAt: '2026-11-24T10:00:40.000Z',
      }),
      '2026-11-24T10:00:40.000Z',
    );
    expect(back.pickup).toMatchObject({ phase: 'running', misses: 0, missedUserIds: [] });
  });

  it('when someone else calls, then the clock keeps running', () => {
    const { pickup, lead } = running();
    expect(step(pickup, lead, note(9102, 11)).decisions).toEqual([]);
  });

  it('when the deadline comes and amoCRM shows no action, then the miss is recorded and another manager is requested, never the one who missed', () => {
    const { pickup, lead } = running();
    const fresh = {
      lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: 9101, tags: [] },
      activity: [],
    };
    const res = pickupOnDeadline(pickup, pickup.clock, fresh, ctxAt(rules, '2026-11-24T10:00:15.000Z'));
    expect(kinds(res.decisions)).toEqual(['release_load', 'record_violation', 'assign']);
    const request = (res.decisions[2] as Extract<Decision, { kind: 'assign' }>).request;
    expect(request.eligible.map((c) => c.userId)).not.toContain(9101);
    expect(request.skipped).toContainEqual({ userId: 9101, reason: 'missed_this_lead' });
    expect(res.pickup).toMatchObject({ misses: 1, missedUserIds: [9101] });
    const next = pick(res.pickup, { ...lead, responsibleUserId: 9101 }, res.decisions, '2026-11-24T10:00:15.000Z');
    const text = (next.decisions[1] as Extract<Decision, { kind: 'add_note' }>).text;
    expect(text).toMatch(/^Анна Смирнова не взял\(а\) клиента в работу за 15 сек\. Робот передал клиента: /);
    expect(kinds(next.decisions)).toContain('alert');
    expect(
      next.decisions.filter((d) => d.kind === 'alert').map((d) => (d as Extract<Decision, { kind: 'alert' }>).template),
    ).toEqual(['lead_assigned', 'pickup_missed']);
    // The hand-over names the missed clock's violation, the one the shell records, so its manager can contest it.
    const missedAlert = next.decisions.find((d) => d.kind === 'alert' && d.template === 'pickup_missed') as Extract<
      Decision,
      { kind: 'alert' }
    >;
    expect(missedAlert.params.violationId).toBe(pickupViolationId(42, pickup.clock));
    expect(
      (next.decisions.find((d) => d.kind === 'alert' && d.template === 'lead_assigned') as { params: object }).params,
    ).not.toHaveProperty('violationId');
  });

  it('when amoCRM shows an outgoing call by the manager at the deadline, then nothing is reassigned', () => {
    const { pickup } = running();
    const fresh = {
      lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: 9101, tags: [] },
      activity: [{ type: 'outgoing_call' as const, byUserId: 9101, at: Date.parse('2026-11-24T10:00:08Z') / 1000 }],
    };
    const res = pickupOnDeadline(pickup, pickup.clock, fresh, ctxAt(rules, '2026-11-24T10:00:15.000Z'));
    expect(res.pickup.phase).toBe('taken');
    expect(kinds(res.decisions)).not.toContain('reassign');
  });

  describe('when the assignment reached amoCRM late', () => {
    const fresh = (
      activity: Array<{
        type: 'responsible_changed' | 'outgoing_call';
        byUserId: number;
        at: string;
        toUserId?: number;
      }>,
    ) => ({
      lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: 9101, tags: [] },
      activity: activity.map((a) => ({ ...a, at: Date.parse(a.at) / 1000 })),
    });
    const landed = (at: string) => ({ type: 'responsible_changed' as const, byUserId: ADMIN, toUserId: 9101, at });

    it('then the manager gets the full time from the landing, with a note saying so, and is not charged a miss', () => {
      const { pickup } = running();
      const res = pickupOnDeadline(
        pickup,
        pickup.clock,
        fresh([landed('2026-11-24T10:00:09Z')]),
        ctxAt(rules, '2026-11-24T10:00:15.000Z'),
      );
      expect(kinds(res.decisions)).toEqual(['schedule_timer', 'add_note']);
      expect(res.pickup).toMatchObject({
        phase: 'running',
        clock: pickup.clock,
        misses: 0,
        deadlineAt: Date.parse('2026-11-24T10:00:24Z'),
      });
      expect(res.decisions[0]).toMatchObject({
        timer: 'pickup_deadline',
        clock: pickup.clock,
        dueAt: Date.parse('2026-11-24T10:00:24Z'),
      });
      expect((res.decisions[1] as Extract<Decision, { kind: 'add_note' }>).text).toMatch(
        /^Назначение дошло до amoCRM с опозданием \(в 24 ноября 13:00:09\)\. Анна Смирнова, у вас по-прежнему 15 сек.*до 24 ноября 13:00:24\.$/,
      );
      // At the new deadline: a call since the landing counts as taken; none is a miss as usual.
      const called = pickupOnDeadline(
        res.pickup,
        res.pickup.clock,
        fresh([landed('2026-11-24T10:00:09Z'), { type: 'outgoing_call', byUserId: 9101, at: '2026-11-24T10:00:20Z' }]),
        ctxAt(rules, '2026-11-24T10:00:24.000Z'),
      );
      expect(called.pickup.phase).toBe('taken');
      const missed = pickupOnDeadline(
        res.pickup,
        res.pickup.clock,
        fresh([landed('2026-11-24T10:00:09Z')]),
        ctxAt(rules, '2026-11-24T10:00:24.000Z'),
      );
      expect(kinds(missed.decisions)).toEqual(['release_load', 'record_violation', 'assign']);
    });

    it('then a landing within the tolerance of the deadline changes nothing (amoCRM counts whole seconds)', () => {
      const { pickup } = running();
      // Lands at +2 s: the new deadline would be 2 s away, within the tolerance, so the deadline stands.
      expect(
        kinds(
          pickupOnDeadline(
            pickup,
            pickup.clock,
            fresh([landed('2026-11-24T10:00:02Z')]),
            ctxAt(rules, '2026-11-24T10:00:15.000Z'),
          ).decisions,
        ),
      ).toEqual(['release_load', 'record_violation', 'assign']);
      // Lands at +3 s: 3 s more is owed.
      expect(
        kinds(
          pickupOnDeadline(
            pickup,
            pickup.clock,
            fresh([landed('2026-11-24T10:00:03Z')]),
            ctxAt(rules, '2026-11-24T10:00:15.000Z'),
          ).decisions,
        ),
      ).toEqual(['schedule_timer', 'add_note']);
    });

    it('then a change to someone else, or one before the clock started, is no landing', () => {
      const { pickup } = running();
      const other = {
        type: 'responsible_changed' as const,
        byUserId: ADMIN,
        toUserId: 9102,
        at: '2026-11-24T10:00:09Z',
      };
      expect(
        kinds(
          pickupOnDeadline(pickup, pickup.clock, fresh([other]), ctxAt(rules, '2026-11-24T10:00:15.000Z')).decisions,
        ),
      ).toEqual(['release_load', 'record_violation', 'assign']);
      expect(
        kinds(
          pickupOnDeadline(
            pickup,
            pickup.clock,
            fresh([landed('2026-11-24T09:59:50Z')]),
            ctxAt(rules, '2026-11-24T10:00:15.000Z'),
          ).decisions,
        ),
      ).toEqual(['release_load', 'record_violation', 'assign']);
    });
  });

  it('when a timer of an older clock fires, then it does nothing', () => {
    const { pickup } = running();
    const res = pickupOnDeadline(
      pickup,
      pickup.clock - 1,
      { lead: { leadId: 42, statusId: STAGE, tags: [] }, activity: [] },
      ctxAt(rules, NOW),
    );
    expect(res.decisions).toEqual([]);
  });

  it('when three managers miss in a row, then the lead goes to the РОП with an alert', () => {
    let { pickup } = running();
    let responsible = 9101;
    for (let miss = 1; miss <= 3; miss++) {
      const now = Date.parse(NOW) + miss * 15_000;
      const res = pickupOnDeadline(
        pickup,
        pickup.clock,
        {
          lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: responsible, tags: [] },
          activity: [],
        },
        ctxAt(rules, now),
      );
      if (miss < 3) {
        const next = pick(
          res.pickup,
          { ...emptyLeadState(42), statusId: STAGE, responsibleUserId: responsible },
          res.decisions,
          new Date(now).toISOString(),
        );
        responsible = next.winner!;
        pickup = next.pickup;
      } else {
        expect(kinds(res.decisions)).toEqual([
          'release_load',
          'record_violation',
          'reassign',
          'add_note',
          'alert',
          'record',
        ]);
        expect(res.decisions[2]).toMatchObject({ kind: 'reassign', toUserId: 9100 });
        expect(res.decisions[4]).toMatchObject({
          kind: 'alert',
          template: 'pickup_fallback',
          audience: { kind: 'department', department: 'Отдел продаж 1' },
        });
        expect(res.pickup).toMatchObject({ phase: 'fallback', misses: 3 });
        expect(new Set(res.pickup.missedUserIds).size).toBe(3);
      }
    }
  });

  it('when everyone on shift is at their cap, then the РОП gets the lead and is alerted', () => {
    const res = step(emptyPickupState(42), undefined, leadEvent({ action: 'add' }), NOW, {
      9101: 20,
      9102: 20,
      9103: 20,
      9104: 20,
    });
    expect(kinds(res.decisions)).toEqual(['reassign', 'add_note', 'alert', 'record']);
    expect(res.decisions[2]).toMatchObject({ template: 'nobody_eligible' });
  });

  it('when the lead carries the tag «СОГЛАСОВАНО РОПом», then no clock starts', () => {
    const res = step(
      emptyPickupState(42),
      undefined,
      leadEvent({ action: 'add', tags: [{ name: 'СОГЛАСОВАНО РОПом' }] }),
    );
    expect(res.pickup.phase).toBe('pinned');
    expect(kinds(res.decisions)).toEqual(['record']);
  });

  it('when a person hands the lead to a manager in the stage, then that manager gets a fresh clock without a reassignment', () => {
    const res = step(
      emptyPickupState(42),
      undefined,
      leadEvent({ action: 'add', responsibleUserId: 9103, createdUserId: 9100, modifiedUserId: 9100 }),
    );
    expect(kinds(res.decisions)).toEqual(['schedule_timer', 'add_note', 'record']);
    expect(res.pickup).toMatchObject({ phase: 'running', assignedUserId: 9103 });
  });

  it('when the same event is delivered again, then the rule decides the same way', () => {
    const e = leadEvent({ action: 'add' });
    const a = step(emptyPickupState(42), undefined, e);
    const b = step(emptyPickupState(42), undefined, e);
    expect(b).toEqual(a);
  });

  it('when no manager works at night, then the lead waits for the shift instead of falling back', async () => {
    const dayRules = await demoRules((c) => {
      for (const d of c.departments)
        d.schedule = {
          kind: 'weekly',
          followHolidays: true,
          days: { mon: ['09:00-21:00'], tue: ['09:00-21:00'], wed: ['09:00-21:00'] },
        };
    });
    const night = '2026-11-24T20:40:00.000Z'; // 23:40 in Moscow
    const after = applyEvent(emptyLeadState(42), leadEvent({ action: 'add' }), night);
    const res = pickupOnEvent(
      emptyPickupState(42),
      undefined,
      after,
      leadEvent({ action: 'add' }),
      ctxAt(dayRules, night),
    );
    expect(res.pickup.phase).toBe('waiting_shift');
    expect(res.decisions[0]).toMatchObject({ kind: 'schedule_timer', dueAt: Date.parse('2026-11-25T06:00:00.000Z') });
    const morning = pickupOnDeadline(
      res.pickup,
      res.pickup.clock,
      { lead: { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: ADMIN, tags: [] }, activity: [] },
      ctxAt(dayRules, '2026-11-25T06:00:00.000Z'),
    );
    expect(kinds(morning.decisions)).toEqual(['assign']);
  });

  it('when twelve leads wait overnight, then at the morning shift they are spread by weight, not dumped on the first manager', async () => {
    const dayRules = await demoRules((c) => {
      for (const d of c.departments)
        d.schedule = { kind: 'weekly', followHolidays: true, days: { tue: ['09:00-21:00'], wed: ['09:00-21:00'] } };
    });
    const morning = '2026-11-25T06:00:00.000Z';
    let swrr: Record<string, number> = {};
    const given = new Map<number, number>();
    for (let i = 0; i < 12; i++) {
      const leadId = 1000 + i * 2; // even ids: department 1
      const night = new Date(Date.parse('2026-11-24T20:30:00.000Z') + i * 60_000).toISOString();
      const add = leadEvent({ action: 'add', leadId });
      const waiting = pickupOnEvent(
        emptyPickupState(leadId),
        undefined,
        applyEvent(emptyLeadState(leadId), add, night),
        add,
        ctxAt(dayRules, night),
      );
      expect(waiting.pickup.phase).toBe('waiting_shift');
      const loads = Object.fromEntries([...given.entries()].map(([k, v]) => [k, v]));
      const atShift = pickupOnDeadline(
        waiting.pickup,
        waiting.pickup.clock,
        { lead: { leadId, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: ADMIN, tags: [] }, activity: [] },
        ctxAt(dayRules, morning, loads),
      );
      const request = (atShift.decisions[0] as Extract<Decision, { kind: 'assign' }>).request;
      const r = smoothWeightedRoundRobin(swrr, request.eligible);
      swrr = r.next;
      given.set(r.winner!, (given.get(r.winner!) ?? 0) + 1);
    }
    expect(Object.fromEntries(given)).toEqual({ 9101: 5, 9102: 3, 9103: 2, 9104: 2 });
  });

  it('when the sweep finds a lead in the stage with no clock, then it starts one', () => {
    const res = pickupOnSweep(
      emptyPickupState(42),
      { leadId: 42, statusId: STAGE, pipelineId: PIPELINE, responsibleUserId: 9102, tags: [] },
      ctxAt(rules, NOW),
    );
    expect(res.pickup).toMatchObject({ phase: 'running', assignedUserId: 9102 });
    expect(pickupOnSweep(res.pickup, { leadId: 42, statusId: STAGE, tags: [] }, ctxAt(rules, NOW)).decisions).toEqual(
      [],
    );
  });
});

describe('R2 smooth weighted round-robin (pure)', () => {
  it('when 10,000 leads are distributed with weights 2:1:1:1, then shares are within 1% of 40/20/20/20', () => {
    const candidates = [9101, 9102, 9103, 9104].map((userId, i) => ({ userId, weight: i === 0 ? 2 : 1, cap: 1e9 }));
    let current: Record<string, number> = {};
    const counts = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      const { winner, next } = smoothWeightedRoundRobin(current, candidates);
      current = next;
      counts.set(winner!, (counts.get(winner!) ?? 0) + 1);
    }
    expect(Math.abs((counts.get(9101) ?? 0) / 10_000 - 0.4)).toBeLessThan(0.01);
    for (const id of [9102, 9103, 9104]) expect(Math.abs((counts.get(id) ?? 0) / 10_000 - 0.2)).toBeLessThan(0.01);
  });

  it('when the heavy manager has weight 2, then their turns are spread, not back to back', () => {
    const candidates = [1, 2, 3].map((userId) => ({ userId, weight: userId === 1 ? 2 : 1, cap: 9 }));
    let current: Record<string, number> = {};
    const order: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = smoothWeightedRoundRobin(current, candidates);
      current = r.next;
      order.push(r.winner!);
    }
    expect(order).toEqual([1, 2, 3, 1, 1, 2, 3, 1]);
  });
});

describe('R1 reassignment by the head of sales (pure)', () => {
  const HEAD = 9100; // Дмитрий Лебедев, РОП of «Отдел продаж 1»
  const AT = '2026-11-24T10:00:05.000Z';
  const freshLead = (over: Partial<{ responsibleUserId: number; statusId: number; tags: string[] }> = {}) => ({
    leadId: 42,
    statusId: STAGE,
    pipelineId: PIPELINE,
    responsibleUserId: 9101,
    tags: [] as string[],
    ...over,
  });

  /** A clock running for Анна Смирнова (9101), as the robot assigned it. */
  const running = (): { pickup: PickupState; lead: LeadState } => {
    const first = step(emptyPickupState(42), undefined, leadEvent({ action: 'add' }));
    const assigned = pick(first.pickup, first.after, first.decisions);
    const lead = applyEvent(
      first.after,
      leadEvent({ action: 'responsible', responsibleUserId: 9101, modifiedUserId: ADMIN }),
      NOW,
    );
    return { pickup: assigned.pickup, lead };
  };

  it('when the РОП reassigns a lead whose clock runs, then the manager is released and excluded, another is requested, and no miss or violation is counted', () => {
    const { pickup } = running();
    expect(pickup).toMatchObject({ phase: 'running', assignedUserId: 9101, clock: 1, misses: 0, missedUserIds: [] });
    const res = pickupReassignByHead(pickup, freshLead(), ctxAt(rules, AT), HEAD);
    expect(kinds(res.decisions)).toEqual(['cancel_timer', 'release_load', 'assign']);
    expect(res.decisions[1]).toMatchObject({ kind: 'release_load', userId: 9101 });
    const request = (res.decisions[2] as Extract<Decision, { kind: 'assign' }>).request;
    expect(request).toMatchObject({ cause: 'head_reassign', requestedByUserId: HEAD, previousUserId: 9101, clock: 1 });
    expect(request.eligible.map((c) => c.userId)).toEqual([9102, 9103, 9104]);
    expect(request.skipped).toContainEqual({ userId: 9101, reason: 'missed_this_lead' });
    expect(res.pickup).toMatchObject({ misses: 0, missedUserIds: [9101] });
  });

  it("when the РОП of another department presses «Переназначить», then nothing is decided; the lead's own РОП can (control)", () => {
    const { pickup } = running();
    expect(headReassignRefusal(pickup, freshLead(), ctxAt(rules, AT), 9200)).toBe('not_your_department');
    expect(pickupReassignByHead(pickup, freshLead(), ctxAt(rules, AT), 9200).decisions).toEqual([]);
    expect(headReassignRefusal(pickup, freshLead(), ctxAt(rules, AT), HEAD)).toBeUndefined();
  });

  it('when the pick completes, then the lead goes to another manager with a note naming the РОП, a reassignment record and a new clock', () => {
    const { pickup, lead } = running();
    const res = pickupReassignByHead(pickup, freshLead(), ctxAt(rules, AT), HEAD);
    // Without the exclusion the weight-2 manager 9101 would win again from fresh scores (see the assignment test above).
    const next = pick(res.pickup, { ...lead, responsibleUserId: 9101 }, res.decisions, AT);
    expect(next.winner).toBe(9102);
    expect(kinds(next.decisions)).toEqual(['reassign', 'add_note', 'alert', 'alert', 'record', 'schedule_timer']);
    expect(next.decisions[0]).toMatchObject({ kind: 'reassign', toUserId: 9102, fromUserId: 9101 });
    const text = (next.decisions[1] as Extract<Decision, { kind: 'add_note' }>).text;
    expect(text).toMatch(
      /^РОП Дмитрий Лебедев переназначил\(а\) клиента \(был\(а\) ответственным: Анна Смирнова\)\. Робот передал клиента: Борис Кузнецов\. Почему: /,
    );
    expect(text).toContain('пропущены: Анна Смирнова — уже не взял(а) этого клиента');
    expect(text).not.toContain('не взял(а) клиента в работу за');
    const alerts = next.decisions.filter((d): d is Extract<Decision, { kind: 'alert' }> => d.kind === 'alert');
    expect(alerts.map((a) => a.template)).toEqual(['lead_assigned', 'pickup_reassigned_by_head']);
    expect(alerts[1]!.params).toEqual({
      leadId: 42,
      head: 'Дмитрий Лебедев',
      previous: 'Анна Смирнова',
      manager: 'Борис Кузнецов',
      timeout: '15 сек',
    });
    expect(next.decisions[4]).toMatchObject({
      kind: 'record',
      record: 'reassignment',
      userId: 9102,
      previousUserId: 9101,
    });
    expect(next.decisions.some((d) => d.kind === 'record_violation')).toBe(false);
    expect(next.pickup).toMatchObject({
      phase: 'running',
      assignedUserId: 9102,
      clock: 2,
      misses: 0,
      missedUserIds: [9101],
      deadlineAt: Date.parse(AT) + 15_000,
    });
  });

  it('when the lead sits with the РОП after a fallback, then it is handed to a manager', () => {
    const pickup: PickupState = {
      ...emptyPickupState(42),
      clock: 4,
      phase: 'fallback',
      department: 'Отдел продаж 1',
      assignedUserId: HEAD,
      missedUserIds: [9101, 9102],
      misses: 3,
    };
    const res = pickupReassignByHead(pickup, freshLead({ responsibleUserId: HEAD }), ctxAt(rules, AT), HEAD);
    expect(kinds(res.decisions)).toEqual(['release_load', 'assign']);
    const request = (res.decisions[1] as Extract<Decision, { kind: 'assign' }>).request;
    expect(request.eligible.map((c) => c.userId)).toEqual([9103, 9104]);
    expect(res.pickup).toMatchObject({ misses: 3, missedUserIds: [9101, 9102] });
  });

  it.each([
    ['out of the pickup stage', freshLead({ statusId: 7100010 })],
    ['pinned by the РОП tag', freshLead({ tags: ['СОГЛАСОВАНО РОПом'] })],
  ])('when the lead is %s, then nothing is decided', (_label, lead) => {
    const { pickup } = running();
    const res = pickupReassignByHead(pickup, lead, ctxAt(rules, AT), HEAD);
    expect(res.decisions).toEqual([]);
    expect(res.pickup).toEqual(pickup);
  });

  it('when the lead was already taken, then nothing is decided', () => {
    const pickup: PickupState = {
      ...emptyPickupState(42),
      clock: 1,
      phase: 'taken',
      assignedUserId: 9101,
      takenBy: 'outgoing_call',
    };
    expect(pickupReassignByHead(pickup, freshLead(), ctxAt(rules, AT), HEAD).decisions).toEqual([]);
  });
});
