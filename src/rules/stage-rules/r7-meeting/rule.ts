/**
 * R7 — meeting set (seed 001, этап «Встреча назначена»: «обязательно укажите дату, время и место проведения встречи»;
 * seed 004 rule 3: «Если встреча назначена на этот же день - подтвердить встречу за 2-3 часа до встречи. Если встреча
 * назначена на следующий день или позже - подтвердить встречу с утра, а также за 2-3 часа до встречи»).
 *
 * The meeting date-time field must be filled within `fillWithin` (else a task and violation
 * `meeting_without_time`). Confirmation tasks follow the seed; they move when the meeting time changes and are
 * completed when the lead leaves the stage. The task text carries seed 004's confirmation SMS.
 */
import { DateTime } from 'luxon';
import type { Effect } from '../../../effects/types.js';
import { actionRecord, durationEn, durationText, formatLocal, hhmm, isIn, nameOf, parseFieldTime, violationEffects, type StageContext, type StageLead, type StageState } from '../common.js';
import type { CompiledStageRules } from '../config.js';
import { cancel, keyVisit, note, schedule, settle, type Step, type StageRule } from '../rule.js';
import { r7Text } from './templates.js';

export const R7_SEED = 'seed 001 «Встреча назначена»: «обязательно укажите дату, время»; seed 004 правило 3: «подтвердить встречу с утра, а также за 2-3 часа»';

export type ConfirmSlot = 'morning' | 'before';

/**
 * When to confirm a meeting, seed 004 rule 3. The "2-3 h before" task is due at `meeting - confirmTo` (or now, when
 * that has passed and the meeting has not); a meeting on a later local day also gets one that morning, due at
 * `morningAt` but never after the 2-3 h window opens. A meeting already past gets none.
 */
export function confirmationTimes(meetingAt: number, now: number, cfg: NonNullable<CompiledStageRules['meeting']>, zone: string): Array<{ slot: ConfirmSlot; dueAt: number }> {
  if (meetingAt <= now) return [];
  const before = Math.max(now, meetingAt - cfg.confirmToMs);
  const meetingDay = DateTime.fromMillis(meetingAt, { zone }).startOf('day');
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const out: Array<{ slot: ConfirmSlot; dueAt: number }> = [];
  if (meetingDay.toMillis() > today.toMillis()) {
    const morning = Math.min(meetingDay.plus({ minutes: cfg.morningMin }).toMillis(), meetingAt - cfg.confirmFromMs);
    if (morning >= meetingDay.toMillis() && morning < before) out.push({ slot: 'morning', dueAt: morning });
  }
  out.push({ slot: 'before', dueAt: before });
  return out;
}

const ref = (slot: ConfirmSlot, entered: number): string => `r7:confirm-${slot}:${entered}`;

function meetingOf(lead: StageLead, ctx: StageContext): number | undefined {
  const id = ctx.stage.meeting?.meetingTimeFieldId;
  return id === undefined ? undefined : parseFieldTime(lead.fields.get(id));
}

/** Creates, moves or completes the confirmation tasks so they match `meetingAt`. */
function plan(state: StageState, lead: StageLead, meetingAt: number, ctx: StageContext, why: string): Step {
  const cfg = ctx.stage.meeting!;
  const entered = state.enteredAt ?? 0;
  const zone = ctx.rules.timeZone;
  const wanted = confirmationTimes(meetingAt, ctx.now, cfg, zone);
  const live = new Set(state.r7?.refs ?? []);
  const effects: Effect[] = [];
  const meeting = formatLocal(meetingAt, zone);
  const time = hhmm(meetingAt, zone);
  const moved = state.r7?.meetingAt !== undefined;
  for (const w of wanted) {
    const r = ref(w.slot, entered);
    const text = r7Text.confirm({ slot: w.slot, meeting, time });
    if (live.has(r)) effects.push({ kind: 'update_task', leadId: lead.leadId, ref: r, dueAt: w.dueAt, text });
    else if (lead.responsibleUserId !== undefined) effects.push({ kind: 'create_task', leadId: lead.leadId, ref: r, userId: lead.responsibleUserId, text, dueAt: w.dueAt, taskTypeId: 1 });
  }
  const keep = new Set(wanted.map((w) => ref(w.slot, entered)));
  for (const r of live) if (!keep.has(r)) effects.push({ kind: 'complete_task', leadId: lead.leadId, ref: r, resultText: r7Text.dropped });
  const tasks = wanted.map((w) => `${w.slot === 'morning' ? 'с утра' : 'за 2-3 часа'} — ${formatLocal(w.dueAt, zone)}`).join(', ');
  effects.push(note(lead.leadId, moved ? r7Text.moved({ meeting, tasks }) : r7Text.scheduled({ meeting, tasks })));
  effects.push(cancel('R7', lead.leadId, `time:${entered}`));
  const reason = `${why}: meeting ${new Date(meetingAt).toISOString()}, confirmations ${wanted.map((w) => `${w.slot}@${new Date(w.dueAt).toISOString()}`).join(', ')}`;
  effects.push(actionRecord('R7', 'meeting_confirmation', lead, ctx, reason, `R7:${lead.leadId}:${entered}:${meetingAt}`, R7_SEED));
  return {
    state: { ...state, r7: { ...state.r7, meetingAt, refs: [...keep].filter((r) => live.has(r) || lead.responsibleUserId !== undefined) } },
    outcome: { rule: 'R7', key: `${entered}:meeting:${meetingAt}`, reason, effects },
  };
}

export const r7Meeting: StageRule = {
  rule: 'R7',
  onEnter(state, lead, ctx) {
    const cfg = ctx.stage.meeting;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    const fresh: StageState = { ...state, r7: { refs: [] } };
    const meetingAt = meetingOf(lead, ctx);
    if (meetingAt !== undefined) return plan(fresh, lead, meetingAt, ctx, `entered "${cfg.stage.name}"`);
    const due = state.enteredAt + cfg.fillWithinMs;
    return {
      state: fresh,
      outcome: { rule: 'R7', key: `${state.enteredAt}:enter`, reason: `entered "${cfg.stage.name}" without the meeting time; check at ${new Date(due).toISOString()}`, effects: [schedule('R7', lead.leadId, `time:${state.enteredAt}`, due)] },
    };
  },
  onEvent(state, lead, event, ctx) {
    const cfg = ctx.stage.meeting;
    if (!cfg || !isIn(cfg.stage, state) || !state.r7 || event.kind !== 'lead' || event.short) return { state };
    const meetingAt = meetingOf(lead, ctx);
    if (meetingAt === undefined || meetingAt === state.r7.meetingAt) return { state };
    return plan(state, lead, meetingAt, ctx, state.r7.meetingAt === undefined ? 'meeting time filled' : 'meeting time changed');
  },
  onLeave(state, lead, _to, ctx) {
    const cfg = ctx.stage.meeting;
    if (!cfg || !isIn(cfg.stage, state) || !state.r7 || state.enteredAt === undefined) return { state };
    const next = { ...state };
    delete next.r7;
    const effects: Effect[] = [cancel('R7', lead.leadId, `time:${state.enteredAt}`), ...state.r7.refs.map((r): Effect => ({ kind: 'complete_task', leadId: lead.leadId, ref: r, resultText: r7Text.left({ stage: cfg.stage.name }) }))];
    return { state: next, outcome: { rule: 'R7', key: `${state.enteredAt}:leave`, reason: `left "${cfg.stage.name}": confirmations cancelled`, effects } };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.meeting;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R7', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered || !state.r7) return settle('R7', state, lead.leadId, timer, `no longer in "${cfg.stage.name}"`);
    const meetingAt = meetingOf(lead, ctx);
    if (meetingAt !== undefined) return plan(state, lead, meetingAt, ctx, 'meeting time filled (seen at the check)');
    if (state.r7.meetingAt !== undefined) return settle('R7', state, lead.leadId, timer, 'meeting time known');
    const within = durationText(cfg.fillWithinMs);
    const reason = `no meeting time within ${durationEn(cfg.fillWithinMs)} of entering "${cfg.stage.name}"`;
    const user = lead.responsibleUserId;
    return {
      state: { ...state, r7: { ...state.r7, flagged: true } },
      outcome: {
        rule: 'R7',
        key: `${timer.key}:missing`,
        reason,
        effects: [
          ...(user !== undefined ? [{ kind: 'create_task' as const, leadId: lead.leadId, ref: `r7:fill-time:${entered}`, userId: user, text: r7Text.fillTask({ stage: cfg.stage.name }), dueAt: ctx.now + cfg.fillWithinMs }] : []),
          note(lead.leadId, r7Text.missing({ stage: cfg.stage.name, within, manager: nameOf(ctx.rules, user) })),
          ...violationEffects({ type: 'meeting_without_time', rule: 'R7', seed: R7_SEED, lead, ...(user !== undefined ? { userId: user } : {}), since: entered, window: String(entered), reason }, ctx),
          cancel('R7', lead.leadId, timer.key),
        ],
      },
    };
  },
};
