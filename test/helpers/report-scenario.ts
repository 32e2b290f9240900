/**
 * A working day of "Отдел продаж 1" (demo rules, seed account) whose report numbers are counted by hand below.
 * Activity comes through the real recorder (webhook events → records); assignments, pickups and violations are
 * the records the pickup rule and other rules write. The day is 24 November 2026, Moscow time (UTC+3).
 */
import type { CustomField, LeadEvent, NoteEvent, WebhookEvent } from '../../src/rules/events.js';
import { applyEvent, emptyLeadState, type LeadState } from '../../src/rules/lead-state.js';
import { activityRecords, type ActivityRecord } from '../../src/reports/activity.js';
import type { CompiledRules } from '../../src/rules/types.js';
import type { RobotRecord } from '../../src/store/record-store.js';

export const DAY = '2026-11-24';
export const DEPT = 'Отдел продаж 1';
export const ANNA = 9101;
export const BORIS = 9102;
export const VIKTOR = 9103;
export const GALINA = 9104;
export const LEONID = 9901;
export const ELENA = 9201; // Отдел продаж 2

const PIPELINE = 7000001;
export const STATUS = { pickup: 7100005, meetingSet: 7100011, meetingHeld: 7100012, offerSent: 7100013 } as const;

/** Moscow wall time of the day → ISO instant. */
export const msk = (hhmm: string, date = DAY): string => new Date(`${date}T${hhmm}:00+03:00`).toISOString();

/**
 * The hand count for the day (see the events below):
 *
 * | manager | recv | taken | missed | calls | ans | unans | contacted | set | held | offers | viol | open |
 * | Анна    |  4   |  3    |  0     |  5    |  2  |  2    |  3        |  2  |  1   |  1     |  0   |  0   |
 * | Борис   |  2   |  1    |  1     |  2    |  2  |  0    |  1        |  0  |  0   |  0     |  3   |  1   |
 * | Виктор  |  0   |  0    |  0     |  0    |  0  |  0    |  0        |  0  |  0   |  0     |  0   |  0   |
 * | Галина  |  1   |  1    |  0     |  0    |  0  |  0    |  0        |  0  |  1   |  0     |  0   |  0   |
 * | Леонид  |  0 (inactive, still listed)                                                             |
 * Анна: unanswered 2/4 = 50% > 19% → flagged; meetings 2/3 = 67% ≥ 30%; conversion 1/4 = 25%.
 * Борис: unanswered 0/2 = 0%; meetings 0/1 = 0% < 30% → flagged; conversion 0/2 = 0%.
 * Галина: conversion 1/1 = 100%; no calls, no contacts → no yardstick shown.
 * Department: received 7, taken 5, missed 1, calls 7 (4 answered, 2 unanswered), contacted 4, set 2, held 2,
 * offers 1, violations 3 (1 open); unanswered 2/6 = 33%, meetings 2/4 = 50%, conversion 2/7 = 29%.
 * Sources of the department's new leads: Авито 2, Циан 1, Другое 1, Не указан 1.
 */
export const EXPECTED = {
  [ANNA]: {
    received: 4,
    takenInTime: 3,
    missedPickups: 0,
    calls: 5,
    callsAnswered: 2,
    callsUnanswered: 2,
    contacted: 3,
    meetingsSet: 2,
    meetingsHeld: 1,
    offersSent: 1,
    violations: 0,
    openViolations: 0,
    disputedViolations: 0,
    withdrawnViolations: 0,
  },
  [BORIS]: {
    received: 2,
    takenInTime: 1,
    missedPickups: 1,
    calls: 2,
    callsAnswered: 2,
    callsUnanswered: 0,
    contacted: 1,
    meetingsSet: 0,
    meetingsHeld: 0,
    offersSent: 0,
    violations: 3,
    openViolations: 1,
    disputedViolations: 0,
    withdrawnViolations: 0,
  },
  [VIKTOR]: {
    received: 0,
    takenInTime: 0,
    missedPickups: 0,
    calls: 0,
    callsAnswered: 0,
    callsUnanswered: 0,
    contacted: 0,
    meetingsSet: 0,
    meetingsHeld: 0,
    offersSent: 0,
    violations: 0,
    openViolations: 0,
    disputedViolations: 0,
    withdrawnViolations: 0,
  },
  [GALINA]: {
    received: 1,
    takenInTime: 1,
    missedPickups: 0,
    calls: 0,
    callsAnswered: 0,
    callsUnanswered: 0,
    contacted: 0,
    meetingsSet: 0,
    meetingsHeld: 1,
    offersSent: 0,
    violations: 0,
    openViolations: 0,
    disputedViolations: 0,
    withdrawnViolations: 0,
  },
  [LEONID]: {
    received: 0,
    takenInTime: 0,
    missedPickups: 0,
    calls: 0,
    callsAnswered: 0,
    callsUnanswered: 0,
    contacted: 0,
    meetingsSet: 0,
    meetingsHeld: 0,
    offersSent: 0,
    violations: 0,
    openViolations: 0,
    disputedViolations: 0,
    withdrawnViolations: 0,
  },
} as const;
export const EXPECTED_TOTAL = {
  received: 7,
  takenInTime: 5,
  missedPickups: 1,
  calls: 7,
  callsAnswered: 4,
  callsUnanswered: 2,
  contacted: 4,
  meetingsSet: 2,
  meetingsHeld: 2,
  offersSent: 1,
  violations: 3,
  openViolations: 1,
  disputedViolations: 0,
  withdrawnViolations: 0,
} as const;
export const EXPECTED_SOURCES = [
  { source: 'Авито', leads: 2 },
  { source: 'Циан', leads: 1 },
  { source: 'Другое', leads: 1 },
  { source: 'Не указан', leads: 1 },
];

let seq = 0;
const base = () => ({ deliveryId: 'd', account: { subdomain: 'demo-realty' }, dedupeKey: `k${(seq += 1)}` });
const field = (value: string): CustomField[] => [{ id: 501, name: 'Источник', values: [{ value }] }];

const added = (leadId: number, at: string, over: Partial<LeadEvent> = {}): LeadEvent => ({
  ...base(),
  receivedAt: at,
  kind: 'lead',
  action: 'add',
  leadId,
  short: false,
  tags: [],
  customFields: [],
  pipelineId: PIPELINE,
  statusId: STATUS.pickup,
  responsibleUserId: 0,
  createdUserId: 0,
  createdAt: at,
  updatedAt: at,
  ...over,
});
const moved = (leadId: number, at: string, statusId: number, responsibleUserId: number): LeadEvent => ({
  ...base(),
  receivedAt: at,
  kind: 'lead',
  action: 'status',
  leadId,
  short: false,
  tags: [],
  customFields: [],
  pipelineId: PIPELINE,
  statusId,
  responsibleUserId,
  modifiedUserId: responsibleUserId,
  updatedAt: at,
});
let noteId = 7000;
const call = (leadId: number, at: string, by: number, text: string, noteType = 11): NoteEvent => ({
  ...base(),
  receivedAt: at,
  kind: 'note',
  entityType: 'lead',
  entityId: leadId,
  noteId: (noteId += 1),
  noteType,
  text,
  createdUserId: by,
  createdAt: at,
});

/** Records the pickup rule, distribution and other rules write (not through the recorder). */
function ruleRecords(): ActivityRecord[] {
  const r = (record: RobotRecord, dedupeId: string): ActivityRecord => ({ record, dedupeId });
  const expl = (department: string) => ({
    department,
    strategy: 'smooth_weighted_round_robin',
    candidates: [],
    skipped: [],
    scores: {},
  });
  return [
    r(
      {
        kind: 'assignment',
        at: msk('09:01'),
        leadId: 1,
        userId: ANNA,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a1',
    ),
    r({ kind: 'pickup_taken', at: msk('09:05'), leadId: 1, userId: ANNA, rule: 'R1', reason: 'outgoing call' }, 't1'),
    r(
      {
        kind: 'assignment',
        at: msk('10:01'),
        leadId: 2,
        userId: ANNA,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a2',
    ),
    r({ kind: 'pickup_taken', at: msk('10:10'), leadId: 2, userId: ANNA, rule: 'R1', reason: 'outgoing call' }, 't2'),
    r(
      {
        kind: 'assignment',
        at: msk('11:01'),
        leadId: 3,
        userId: ANNA,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a3',
    ),
    r({ kind: 'pickup_taken', at: msk('11:03'), leadId: 3, userId: ANNA, rule: 'R1', reason: 'note' }, 't3'),
    // Lead 4: Борис misses it, Анна gets it and never takes it (no pickup_taken).
    r(
      {
        kind: 'assignment',
        at: msk('12:00'),
        leadId: 4,
        userId: BORIS,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a4',
    ),
    r(
      {
        kind: 'violation',
        type: 'pickup_missed',
        at: msk('12:15'),
        leadId: 4,
        userId: BORIS,
        rule: 'R1',
        reason: 'missed',
      },
      'v4',
    ),
    r(
      {
        kind: 'reassignment',
        at: msk('12:15'),
        leadId: 4,
        userId: ANNA,
        previousUserId: BORIS,
        rule: 'R2',
        reason: 'missed',
        explanation: expl(DEPT),
      },
      'r4',
    ),
    r(
      {
        kind: 'assignment',
        at: msk('13:00'),
        leadId: 5,
        userId: BORIS,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a5',
    ),
    r({ kind: 'pickup_taken', at: msk('13:04'), leadId: 5, userId: BORIS, rule: 'R1', reason: 'outgoing call' }, 't5'),
    r(
      {
        kind: 'violation',
        type: 'call_overdue',
        violationId: 'call_overdue:5:1',
        at: msk('15:00'),
        leadId: 5,
        userId: BORIS,
        rule: 'R3',
        reason: 'overdue',
      },
      'v5a',
    ),
    r(
      {
        kind: 'violation',
        type: 'handoff_stale',
        violationId: 'handoff_stale:5:1',
        at: msk('16:00'),
        leadId: 5,
        userId: BORIS,
        rule: 'R4',
        reason: 'stale',
      },
      'v5b',
    ),
    r(
      {
        kind: 'action',
        type: 'violation_resolved',
        violationId: 'handoff_stale:5:1',
        at: msk('17:00'),
        leadId: 5,
        userId: BORIS,
        rule: 'R4',
        reason: 'handed over',
      },
      'v5b-ok',
    ),
    // Lead 6 was created on Галина: the clock started on her, no assignment.
    r(
      {
        kind: 'pickup_started',
        at: msk('14:00'),
        leadId: 6,
        userId: GALINA,
        rule: 'R1',
        reason: 'clock on responsible',
      },
      's6',
    ),
    r({ kind: 'pickup_taken', at: msk('14:02'), leadId: 6, userId: GALINA, rule: 'R1', reason: 'note' }, 't6'),
    // Another department, and records just outside the day: none of these count for Отдел продаж 1 on the 24th.
    r(
      {
        kind: 'assignment',
        at: msk('12:00'),
        leadId: 7,
        userId: ELENA,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl('Отдел продаж 2'),
      },
      'a7',
    ),
    r(
      {
        kind: 'assignment',
        at: msk('23:59', '2026-11-23'),
        leadId: 8,
        userId: ANNA,
        rule: 'R2',
        reason: 'new lead',
        explanation: expl(DEPT),
      },
      'a8',
    ),
    r(
      {
        kind: 'violation',
        type: 'pickup_missed',
        at: msk('00:00', '2026-11-25'),
        leadId: 8,
        userId: BORIS,
        rule: 'R1',
        reason: 'missed',
      },
      'v8',
    ),
  ];
}

/** Webhook events of the day, in order. */
export function dayEvents(): WebhookEvent[] {
  return [
    added(1, msk('09:00'), { customFields: field('Авито') }),
    added(2, msk('10:00'), { tags: [{ name: 'cian' }] }),
    added(3, msk('11:00'), { customFields: field('Радио') }),
    added(5, msk('13:00'), { customFields: field('avito.ru') }),
    added(6, msk('14:00'), { responsibleUserId: GALINA, createdUserId: GALINA }),
    added(7, msk('12:00'), { responsibleUserId: ELENA, customFields: field('Циан') }),
    call(1, msk('09:04'), ANNA, '{"UNIQ":"a","DURATION":45,"PHONE":"+7900"}'),
    call(1, msk('09:30'), ANNA, '{"UNIQ":"b","DURATION":0}'),
    call(2, msk('10:05'), ANNA, '{"call_status":4,"duration":120}'),
    call(3, msk('11:02'), ANNA, '{"call_status":3}'),
    call(4, msk('12:20'), ANNA, 'Исходящий звонок'),
    call(5, msk('13:03'), BORIS, '{"DURATION":60}'),
    call(5, msk('13:40'), BORIS, '{"DURATION":30}', 10),
    call(8, msk('23:50', '2026-11-23'), ANNA, '{"DURATION":0}'),
    moved(1, msk('09:40'), STATUS.meetingSet, ANNA),
    moved(2, msk('10:20'), STATUS.meetingSet, ANNA),
    moved(1, msk('16:00'), STATUS.meetingHeld, ANNA),
    moved(1, msk('17:00'), STATUS.offerSent, ANNA),
    moved(6, msk('18:00'), STATUS.meetingHeld, GALINA),
  ];
}

/** Every record of the day: the recorder's from the events (folded through the lead state as the worker does), and the rules'. */
export function dayRecords(rules: CompiledRules): ActivityRecord[] {
  const states = new Map<number, LeadState>();
  const out: ActivityRecord[] = [];
  for (const event of dayEvents()) {
    const leadId = event.kind === 'lead' ? event.leadId : event.kind === 'note' ? event.entityId : 0;
    const before = states.get(leadId);
    const after = applyEvent(before ?? emptyLeadState(leadId), event, event.receivedAt);
    states.set(leadId, after);
    out.push(...activityRecords(event, before, after, rules));
  }
  return [...out, ...ruleRecords()];
}
