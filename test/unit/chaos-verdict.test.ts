import { describe, expect, it } from '@jest/globals';
import type { AuditEntry } from '../../sim/audit.js';
import { judge, type PlannedLead } from '../../chaos/verdict.js';
import { DEPARTMENTS } from '../../chaos/workload.js';

let seq = 0;
const patch = (leadId: number, before: number, after: number, at: number): AuditEntry => ({
  seq: ++seq,
  at,
  endpoint: 'PATCH /api/v4/leads',
  leadId,
  field: 'responsible_user_id',
  before,
  after,
  changed: before !== after,
});
const note = (leadId: number, text: string, at: number): AuditEntry => ({
  seq: ++seq,
  at,
  endpoint: 'POST /api/v4/leads/notes',
  leadId,
  field: 'note',
  changed: true,
  noteType: 'common',
  noteText: text,
});

/** A lead's course as the simulator would log it: each robot change with its note. */
const course = (leadId: number, users: number[], t0 = 1_000): AuditEntry[] =>
  users.flatMap((u, i) => [
    patch(leadId, i === 0 ? 9001 : users[i - 1]!, u, t0 + i * 5_000),
    note(leadId, `step ${i + 1} → ${u}`, t0 + i * 5_000 + 10),
  ]);

const run = (
  plan: PlannedLead[],
  audit: AuditEntry[],
  final: Array<[number, number]>,
  calls: Array<[number, { userId: number; at: number }]> = [],
) =>
  judge({
    plan,
    departments: DEPARTMENTS,
    audit,
    finalResponsible: new Map(final),
    calls: new Map(calls),
    maxMisses: 3,
  });

describe('chaos verdict (the expected course of every lead, by hand)', () => {
  it('when every lead followed its course, then nothing is counted (positive control for the cases below)', () => {
    const v = run(
      [
        { leadId: 1, kind: 'untaken' },
        { leadId: 2, kind: 'taken' },
        { leadId: 3, kind: 'poison' },
      ],
      [...course(1, [9101, 9102, 9103, 9100]), ...course(2, [9201])],
      [
        [1, 9100],
        [2, 9201],
        [3, 9001],
      ],
      [[2, { userId: 9201, at: 2_000 }]],
    );
    expect(v).toMatchObject({ leads: 3, lost: 0, doubled: 0, returnedToMisser: 0, wrong: 0, invalid: 0 });
    expect(v.courses.map((c) => c.changes)).toEqual([[9101, 9102, 9103, 9100], [9201], []]);
  });

  it('when an untaken lead stopped after two managers, then it is lost; when one was never assigned, then it is lost too', () => {
    const v = run(
      [
        { leadId: 1, kind: 'untaken' },
        { leadId: 2, kind: 'untaken' },
      ],
      course(1, [9101, 9102]),
      [
        [1, 9102],
        [2, 9001],
      ],
    );
    expect(v.lost).toBe(2);
    expect(v.problems.map((p) => [p.kind, p.leadId])).toEqual([
      ['lost', 1],
      ['lost', 2],
    ]);
  });

  it('when a miss produced two reassignments and the same note was posted twice, then the lead is doubled once', () => {
    const audit = [...course(1, [9101, 9102, 9103, 9104, 9100]), note(1, 'step 1 → 9101', 99_000)];
    const v = run([{ leadId: 1, kind: 'untaken' }], audit, [[1, 9100]]);
    expect(v.doubled).toBe(1);
    expect(v.problems.filter((p) => p.kind === 'doubled')).toHaveLength(2);
  });

  it('when the lead went back to a manager who had missed it, then it is returned to a misser', () => {
    const v = run([{ leadId: 1, kind: 'untaken' }], course(1, [9101, 9102, 9101, 9100]), [[1, 9100]]);
    expect(v.returnedToMisser).toBe(1);
    expect(v.problems[0]).toMatchObject({ kind: 'returned_to_misser', leadId: 1 });
  });

  it('when a taken lead is reassigned after the call, then it is wrong; before the call, the workload was late (invalid)', () => {
    const v = run(
      [
        { leadId: 1, kind: 'taken' },
        { leadId: 2, kind: 'taken' },
      ],
      [...course(1, [9101, 9102], 1_000), ...course(2, [9201, 9202], 1_000)],
      [
        [1, 9102],
        [2, 9202],
      ],
      [
        [1, { userId: 9101, at: 2_000 }],
        [2, { userId: 9202, at: 7_000 }],
      ],
    );
    expect(v.problems.map((p) => [p.kind, p.leadId])).toEqual([
      ['wrong', 1],
      ['invalid', 2],
    ]);
  });

  it('when amoCRM accepted a change for the poisoned lead, then the case is invalid for it', () => {
    const v = run([{ leadId: 1, kind: 'poison' }], course(1, [9101]), [[1, 9101]]);
    expect(v.invalid).toBe(1);
  });
});
