/**
 * The cadence of a lead as text for `lead:explain`: every step of its profile with the day it is planned for,
 * what happened to the steps done (attempt by attempt) and the task open now. Pure: from the saved cadence state and
 * the profile's phases; the CLI reads both.
 */
import { DateTime } from 'luxon';
import { cadenceSteps } from './plan.js';
import type { CadencePhase, CadenceState } from './types.js';

const OUTCOME: Record<string, string> = {
  no_answer: 'no answer',
  no_call: 'completed without a call',
  overdue: 'overdue (call_overdue), set again',
};

export function explainCadence(state: CadenceState, phases: CadencePhase[], zone: string): string[] {
  const entry = DateTime.fromMillis(state.entryAt, { zone });
  const fmt = (ms: number): string => DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd ccc HH:mm');
  const steps = cadenceSteps({ phases }, entry.weekday);
  const lines = [
    `cadence «${state.profile}» run ${state.run}: ${state.status}${state.stoppedBy ? ` (${state.stoppedBy})` : ''}; entered ${fmt(state.entryAt)}; manager ${state.userId ?? '-'}; ${steps.length} calls planned`,
  ];
  if (state.unreachedBy.length > 0) lines.push(`  managers in a row without contact: ${state.unreachedBy.join(', ')}`);
  for (const step of steps) {
    const day = entry.startOf('day').plus({ days: step.nominalDay });
    const done = state.attempts.filter((a) => a.step === step.index);
    const open = state.openTask?.step === step.index ? state.openTask : undefined;
    const what = [
      ...done.map((a) => `${OUTCOME[a.outcome] ?? a.outcome} at ${fmt(a.at)} (due ${fmt(a.dueAt)}, calls ${a.calls})`),
      ...(open
        ? [`OPEN task ${open.ref}, due ${fmt(open.dueAt)}${open.weekendMissed ? ' (no weekend slot left)' : ''}`]
        : []),
    ];
    const status = what.length > 0 ? what.join('; ') : step.index < state.step ? 'skipped' : 'planned';
    lines.push(
      `  ${String(step.index).padStart(2)}. phase ${step.phase + 1}, call ${step.inPhase}/${step.phaseTotal}, day ${step.nominalDay} (${day.toFormat('yyyy-MM-dd ccc')}${step.weekend ? ', weekend call' : ''}): ${status}`,
    );
  }
  if (state.status === 'waiting_end' && state.timerAt !== undefined)
    lines.push(`  ends at ${fmt(state.timerAt)} unless the client answers`);
  if (state.endedAt !== undefined) lines.push(`  ended at ${fmt(state.endedAt)}`);
  return lines;
}
