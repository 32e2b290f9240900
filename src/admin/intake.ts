/**
 * R2 pause and resume of intake from the admin area (seed 002 §2.13, §3.10): the state listing and the check of a
 * target before the store pauses it. A pause lives in one of two places: the rules config (`paused:` of a manager or
 * a department, changed by editing the config) or the run-time store (src/store/intake-store.ts, changed here and
 * from Telegram). The listing shows both side by side, so an admin sees why somebody gets no leads.
 */
import type { IntakeTarget } from '../store/intake-store.js';
import { pauseKey, type CompiledRules, type IntakePause } from '../rules/types.js';

export interface PauseView {
  /** `config`: the rules file (edit it to resume); `runtime`: paused from the admin area or Telegram. */
  source: 'config' | 'runtime';
  reason: string;
  by?: string;
  byUserId?: number;
  at?: string;
}

export interface IntakeManagerView {
  userId: number;
  name: string;
  pauses: PauseView[];
  /** False when the manager or the department is paused, or the user is inactive in amoCRM: rotation skips them. */
  receiving: boolean;
  /** The user is active in amoCRM (an inactive one gets no leads, whatever the pauses say). */
  active: boolean;
}

export interface IntakeDepartmentView {
  name: string;
  pauses: PauseView[];
  managers: IntakeManagerView[];
}

const runtime = (p: IntakePause | undefined): PauseView[] =>
  p
    ? [
        {
          source: 'runtime',
          reason: p.reason,
          by: p.by,
          ...(p.byUserId !== undefined ? { byUserId: p.byUserId } : {}),
          at: new Date(p.at).toISOString(),
        },
      ]
    : [];
const configured = (reason: string | undefined): PauseView[] =>
  reason !== undefined ? [{ source: 'config', reason }] : [];

/** Every department and manager with the pauses in force on them. */
export function intakeView(rules: CompiledRules, paused: ReadonlyMap<string, IntakePause>): IntakeDepartmentView[] {
  return rules.departments.map((d) => {
    const deptPauses = [
      ...configured(d.paused),
      ...runtime(paused.get(pauseKey({ kind: 'department', name: d.name }))),
    ];
    return {
      name: d.name,
      pauses: deptPauses,
      managers: d.managers.map((m) => {
        const pauses = [
          ...configured(m.paused),
          ...runtime(paused.get(pauseKey({ kind: 'manager', userId: m.userId }))),
        ];
        const active = rules.activeUserIds.has(m.userId);
        return {
          userId: m.userId,
          name: m.name,
          pauses,
          active,
          receiving: active && pauses.length === 0 && deptPauses.length === 0,
        };
      }),
    };
  });
}

export type TargetCheck = { ok: true; label: string } | { ok: false; message: string };

/** Only a manager of some department, or a department, can be paused: anything else is a mistake to report. */
export function checkTarget(rules: CompiledRules, target: IntakeTarget): TargetCheck {
  if (target.kind === 'department') {
    if (rules.departments.some((d) => d.name === target.name))
      return { ok: true, label: `department "${target.name}"` };
    return {
      ok: false,
      message: `no department "${target.name}" in the running config (departments: ${rules.departments.map((d) => `"${d.name}"`).join(', ')})`,
    };
  }
  const m = rules.departments.flatMap((d) => d.managers).find((x) => x.userId === target.userId);
  if (m) return { ok: true, label: `manager ${m.name} (${m.userId})` };
  return { ok: false, message: `user ${target.userId} is not a manager of any department in the running config` };
}

/** A pause written in the rules config cannot be lifted at run time: the config would pause them again. */
export function configPause(rules: CompiledRules, target: IntakeTarget): string | undefined {
  if (target.kind === 'department') return rules.departments.find((d) => d.name === target.name)?.paused;
  return rules.departments.flatMap((d) => d.managers).find((m) => m.userId === target.userId)?.paused;
}
