/**
 * The chaos suite's judge: compares what the simulator accepted (its audit log of writes and its final leads) with
 * the course every lead of the workload must take, known in advance from the workload and the chaos rules:
 *
 * - an untaken lead: assigned to a manager A, then at each missed deadline to another manager of the same
 *   department (B, C), then after the third miss to the department's fallback user: exactly 4 responsible
 *   changes, A, B, C distinct, one robot note per change;
 * - a taken lead (the manager calls as soon as it is theirs): exactly 1 responsible change, then nothing;
 * - a poisoned lead (amoCRM answers 400 to every PATCH carrying it): no change is accepted, and it must not stop
 *   the others.
 *
 * Pure: no I/O, the harness passes the facts in.
 */
import type { AuditEntry } from '../sim/audit.js';

export type LeadKind = 'taken' | 'untaken' | 'poison';

export interface PlannedLead {
  leadId: number;
  kind: LeadKind;
}

export interface Department {
  name: string;
  managers: number[];
  fallback: number;
}

export interface VerdictInput {
  plan: PlannedLead[];
  departments: Department[];
  audit: AuditEntry[];
  /** Final responsible of each lead in the simulator. */
  finalResponsible: Map<number, number>;
  /** When the workload's manager called each taken lead (epoch ms). */
  calls: Map<number, { userId: number; at: number }>;
  maxMisses: number;
}

export type Problem =
  | { kind: 'lost'; leadId: number; detail: string }
  | { kind: 'doubled'; leadId: number; detail: string }
  | { kind: 'returned_to_misser'; leadId: number; detail: string }
  | { kind: 'wrong'; leadId: number; detail: string }
  | { kind: 'invalid'; leadId: number; detail: string };

export interface LeadCourse {
  leadId: number;
  kind: LeadKind;
  /** Responsible users the simulator accepted from the robot, in order. */
  changes: number[];
  notes: number;
}

export interface Verdict {
  leads: number;
  /** Leads with at least one problem of each kind. */
  lost: number;
  doubled: number;
  returnedToMisser: number;
  /** Robot actions on a lead its manager had already taken. */
  wrong: number;
  /** The workload itself went off its plan (e.g. a manager reacted after the deadline): the case proves nothing for it. */
  invalid: number;
  /** Writes that set a field to the value it already had (wasted, not harmful). */
  redundantWrites: number;
  problems: Problem[];
  courses: LeadCourse[];
}

export function judge(input: VerdictInput): Verdict {
  const problems: Problem[] = [];
  const courses: LeadCourse[] = [];
  const byLead = new Map<number, AuditEntry[]>();
  for (const e of input.audit) byLead.set(e.leadId, [...(byLead.get(e.leadId) ?? []), e]);
  const deptOf = (userId: number): Department | undefined => input.departments.find((d) => d.managers.includes(userId));
  const redundantWrites = input.audit.filter((e) => !e.changed).length;

  for (const { leadId, kind } of input.plan) {
    const entries = byLead.get(leadId) ?? [];
    const responsible = entries.filter((e) => e.field === 'responsible_user_id' && e.changed);
    const changes = responsible.map((e) => Number(e.after));
    const notes = entries.filter((e) => e.field === 'note' && e.noteType === 'common');
    const tasks = entries.filter((e) => e.field === 'task');
    courses.push({ leadId, kind, changes, notes: notes.length });
    const add = (p: Problem): void => void problems.push(p);

    // The same robot note twice, two tasks for one step: doubled whatever the kind of lead.
    const texts = new Map<string, number>();
    for (const n of notes) texts.set(n.noteText ?? '', (texts.get(n.noteText ?? '') ?? 0) + 1);
    for (const [text, n] of texts)
      if (n > 1) add({ kind: 'doubled', leadId, detail: `the same note ${n} times: «${text.slice(0, 80)}»` });
    const taskKeys = new Map<string, number>();
    for (const t of tasks)
      taskKeys.set(`${t.taskText}|${String(t.after)}`, (taskKeys.get(`${t.taskText}|${String(t.after)}`) ?? 0) + 1);
    for (const [key, n] of taskKeys)
      if (n > 1) add({ kind: 'doubled', leadId, detail: `the same task ${n} times: ${key}` });

    // Handed back: the robot gave the lead to someone it had already taken it from (a misser).
    const missers = new Set<number>();
    for (let i = 0; i < changes.length; i++) {
      const to = changes[i]!;
      if (missers.has(to))
        add({
          kind: 'returned_to_misser',
          leadId,
          detail: `change ${i + 1} gave it back to ${to}, who missed it before (course ${changes.join(' → ')})`,
        });
      if (i > 0) missers.add(changes[i - 1]!);
    }

    if (kind === 'poison') {
      if (changes.length > 0)
        add({
          kind: 'invalid',
          leadId,
          detail: `a responsible change was accepted for the poisoned lead (${changes.join(' → ')})`,
        });
      continue;
    }
    if (changes.length === 0) {
      add({ kind: 'lost', leadId, detail: 'never assigned: its lead-added event produced no decision' });
      continue;
    }
    const dept = deptOf(changes[0]!);
    if (!dept) {
      add({ kind: 'wrong', leadId, detail: `first assigned to ${changes[0]}, who is no manager of any department` });
      continue;
    }

    if (kind === 'taken') {
      const call = input.calls.get(leadId);
      if (!call) {
        add({ kind: 'invalid', leadId, detail: 'the workload never called it' });
        continue;
      }
      const after = responsible.slice(1).filter((e) => e.at > call.at);
      const before = responsible.slice(1).filter((e) => e.at <= call.at);
      if (before.length > 0)
        add({
          kind: 'invalid',
          leadId,
          detail: `the manager called after the deadline (reassigned ${before.length} time(s) before the call)`,
        });
      if (after.length > 0)
        add({
          kind: 'wrong',
          leadId,
          detail: `reassigned ${after.length} time(s) after ${call.userId} took it by a call (course ${changes.join(' → ')})`,
        });
      continue;
    }

    // Untaken: A, B, C (distinct managers of one department), then the fallback; nothing after.
    const expected = input.maxMisses + 1;
    const final = input.finalResponsible.get(leadId);
    if (changes.length > expected)
      add({
        kind: 'doubled',
        leadId,
        detail: `${changes.length} responsible changes, ${expected} expected (course ${changes.join(' → ')})`,
      });
    const body = changes.at(-1) === dept.fallback ? changes.slice(0, -1) : changes;
    const outside = body.slice(0, input.maxMisses).filter((u) => !dept.managers.includes(u));
    if (outside.length > 0) {
      add({
        kind: 'wrong',
        leadId,
        detail: `given to ${outside.join(', ')} outside ${dept.name} before the last miss (course ${changes.join(' → ')})`,
      });
    }
    if (final !== dept.fallback || changes.at(-1) !== dept.fallback) {
      const last = responsible.at(-1)!;
      add({
        kind: 'lost',
        leadId,
        detail: `stuck with ${final} since ${new Date(last.at).toISOString()} after ${changes.length} of ${expected} changes; the deadline passed long ago and nobody acted (course ${changes.join(' → ')})`,
      });
    } else if (changes.length < expected) {
      // Reached the fallback early: a miss was skipped or someone eligible was passed over.
      add({
        kind: 'wrong',
        leadId,
        detail: `reached the fallback after ${changes.length - 1} manager(s), ${input.maxMisses} expected (course ${changes.join(' → ')})`,
      });
    }
  }

  const leadsWith = (k: Problem['kind']): number =>
    new Set(problems.filter((p) => p.kind === k).map((p) => p.leadId)).size;
  return {
    leads: input.plan.length,
    lost: leadsWith('lost'),
    doubled: leadsWith('doubled'),
    returnedToMisser: leadsWith('returned_to_misser'),
    wrong: leadsWith('wrong'),
    invalid: leadsWith('invalid'),
    redundantWrites,
    problems,
    courses,
  };
}
