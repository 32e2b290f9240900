/**
 * R7 — meeting set (seed 001, этап «Встреча назначена»: «обязательно укажите дату, время и место проведения встречи»;
 * seed 004 rule 3: «Если встреча назначена на этот же день - подтвердить встречу за 2-3 часа до встречи. Если встреча
 * назначена на следующий день или позже - подтвердить встречу с утра, а также за 2-3 часа до встречи»).
 *
 * The meeting date-time field must be filled within `fillWithin` (else a task and violation
 * `meeting_without_time`). Confirmation tasks follow the seed; when the meeting time changes the old ones are
 * completed as replaced and new ones are set for the new time; they are completed when the lead leaves the stage.
 * The task text carries seed 004's confirmation SMS.
 *
 * Where the meeting time comes from (amocrm.md §1): an edit of the field arrives as `leads[update]`, a full body
 * with every filled custom field, so the time is read from the webhook itself; a late redelivery (older
 * `updated_at` than the view the time came from) is ignored. A Digital Pipeline body (`leads[status]`/`[add]` with
 * only ids) carries no fields at all: entering the stage by one schedules a read of the lead (`read:<entered>`, due
 * at once; the shell reads every due lead in one request) before R7 decides. A full body without the field while a
 * time was known is re-read the same way before the confirmations are cancelled.
 *
 * The tasks fall inside the responsible manager's working time (see `confirmationTimes`): a task due at 07:30 for a
 * manager whose shift starts at 09:00 would be overdue before anyone could see it.
 */
import { DateTime } from 'luxon';
import type { Effect } from '../../plan.js';
import {
  actionRecord,
  durationEn,
  durationText,
  formatLocal,
  hhmm,
  isIn,
  nameOf,
  parseFieldTime,
  violationEffects,
  type StageContext,
  type StageLead,
  type StageState,
} from '../common.js';
import type { CompiledStageRules } from '../config.js';
import { cancel, keyVisit, note, schedule, settle, type Step, type StageRule } from '../rule.js';
import { HORIZON_MS, managerIntervals, nextWorkingInstant, type Interval } from '../../schedule/shifts.js';
import { r7Text } from './templates.js';

export const R7_SEED =
  'seed 001 «Встреча назначена»: «обязательно укажите дату, время»; seed 004 правило 3: «подтвердить встречу с утра, а также за 2-3 часа»';

export type ConfirmSlot = 'morning' | 'before';

/**
 * When to confirm a meeting, seed 004 rule 3. The "2-3 h before" task is due at `meeting - confirmTo` (or now, when
 * that has passed and the meeting has not); a meeting on a later local day also gets one that morning, due at
 * `morningAt` but never after the 2-3 h window opens. A meeting already past gets none.
 *
 * With `working` (the responsible manager's shifts: schedule, holidays, absences), every task falls inside them:
 * - "before": the latest working minute inside the 2-3 h window; a meeting too early for the window to touch the
 *   shift (10:30 for a 09:00-21:00 shift) gets it on the previous working evening, an hour before that shift ends;
 *   when that evening has passed too, the first working minute before the meeting, else now;
 * - "morning": the first working minute from `morningAt` on the meeting's day, kept only when it comes before the
 *   meeting and outside the "before" window (which it would only repeat).
 */
export function confirmationTimes(
  meetingAt: number,
  now: number,
  cfg: NonNullable<CompiledStageRules['meeting']>,
  zone: string,
  working?: (from: number, to: number) => Interval[],
): Array<{ slot: ConfirmSlot; dueAt: number }> {
  if (meetingAt <= now) return [];
  const seedBefore = Math.max(now, meetingAt - cfg.confirmToMs);
  const meetingDay = DateTime.fromMillis(meetingAt, { zone }).startOf('day');
  const today = DateTime.fromMillis(now, { zone }).startOf('day');
  const laterDay = meetingDay.toMillis() > today.toMillis();
  const seedMorning = laterDay
    ? Math.min(meetingDay.plus({ minutes: cfg.morningMin }).toMillis(), meetingAt - cfg.confirmFromMs)
    : undefined;
  if (!working) {
    const out: Array<{ slot: ConfirmSlot; dueAt: number }> = [];
    if (seedMorning !== undefined && seedMorning >= meetingDay.toMillis() && seedMorning < seedBefore)
      out.push({ slot: 'morning', dueAt: seedMorning });
    out.push({ slot: 'before', dueAt: seedBefore });
    return out;
  }
  const shifts = working(Math.min(now, meetingAt - HORIZON_MS), meetingAt).sort((a, b) => a[0] - b[0]);
  const windowStart = Math.max(now, meetingAt - cfg.confirmFromMs);
  const before = fitBefore(shifts, windowStart, seedBefore, now, meetingAt);
  const out: Array<{ slot: ConfirmSlot; dueAt: number }> = [];
  if (seedMorning !== undefined) {
    const morning = nextWorkingInstant(Math.max(seedMorning, now), shifts);
    const inWindow = morning !== undefined && morning >= windowStart && morning <= before;
    if (
      morning !== undefined &&
      morning < meetingAt &&
      morning >= meetingDay.toMillis() &&
      !inWindow &&
      morning !== before
    )
      out.push({ slot: 'morning', dueAt: morning });
  }
  out.push({ slot: 'before', dueAt: before });
  return out.sort((a, b) => a.dueAt - b.dueAt);
}

/** How long before the end of the previous working evening's shift a task moved there is due. */
export const PREVIOUS_EVENING_BEFORE_END_MS = 3_600_000;
const MINUTE = 60_000;

function fitBefore(shifts: Interval[], windowStart: number, windowEnd: number, now: number, meetingAt: number): number {
  // The latest working minute inside the window.
  let inWindow: number | undefined;
  for (const [s, e] of shifts)
    if (s <= windowEnd && e > windowStart) inWindow = Math.max(s, windowStart, Math.min(windowEnd, e - MINUTE));
  if (inWindow !== undefined) return inWindow;
  // The previous working evening: the last shift that ended before the window opened.
  const previous = shifts.filter(([, e]) => e <= windowStart).at(-1);
  if (previous) {
    const evening = Math.max(previous[0], previous[1] - PREVIOUS_EVENING_BEFORE_END_MS);
    if (evening >= now) return evening;
    if (previous[1] - MINUTE >= now) return now;
  }
  const next = nextWorkingInstant(now, shifts);
  return next !== undefined && next < meetingAt ? next : now;
}

/** The responsible manager's working time, when the departments know them. */
function shiftsOf(
  ctx: StageContext,
  userId: number | undefined,
): ((from: number, to: number) => Interval[]) | undefined {
  const manager = ctx.rules.departments.flatMap((d) => d.managers).find((m) => m.userId === userId);
  return manager
    ? (from, to) => managerIntervals(manager, from, to, ctx.rules.calendar, ctx.rules.timeZone)
    : undefined;
}

/** A confirmation task is named by its slot, the visit and the meeting time: a moved meeting gets new tasks. */
const ref = (slot: ConfirmSlot, entered: number, meetingAt: number): string =>
  `r7:confirm-${slot}:${entered}:${Math.floor(meetingAt / 1000)}`;
const timeKey = (entered: number): string => `time:${entered}`;
/** The lead is re-read from amoCRM at this timer before R7 decides (a body without fields, a field that vanished). */
const readKey = (entered: number): string => `read:${entered}`;

function meetingOf(lead: StageLead, ctx: StageContext): number | undefined {
  const id = ctx.stage.meeting?.meetingTimeFieldId;
  return id === undefined ? undefined : parseFieldTime(lead.fields.get(id));
}

/** The newest amoCRM view the meeting time was taken from: a webhook older than it is a late redelivery. */
const seenAt = (state: StageState, lead: StageLead): number | undefined => {
  const known = state.r7?.seenAt;
  if (lead.updatedAt === undefined) return known;
  return known === undefined ? lead.updatedAt : Math.max(known, lead.updatedAt);
};

/**
 * Makes the confirmation tasks match `meetingAt`: tasks of an earlier meeting time are completed as replaced (the
 * manager may have completed one already; a new one is certain to be open), and the seed's tasks for the new time
 * are created. The same time again changes nothing.
 */
function plan(state: StageState, lead: StageLead, meetingAt: number, ctx: StageContext, why: string): Step {
  const cfg = ctx.stage.meeting!;
  const entered = state.enteredAt ?? 0;
  const zone = ctx.rules.timeZone;
  const wanted = confirmationTimes(meetingAt, ctx.now, cfg, zone, shiftsOf(ctx, lead.responsibleUserId));
  const live = new Set(state.r7?.refs ?? []);
  const effects: Effect[] = [];
  const meeting = formatLocal(meetingAt, zone);
  const time = hhmm(meetingAt, zone);
  const moved = state.r7?.meetingAt !== undefined;
  const window = r7Text.window({ fromMs: cfg.confirmFromMs, toMs: cfg.confirmToMs });
  const user = lead.responsibleUserId;
  const keep = new Set(user !== undefined ? wanted.map((w) => ref(w.slot, entered, meetingAt)) : []);
  for (const r of live)
    if (!keep.has(r))
      effects.push({ kind: 'complete_task', leadId: lead.leadId, ref: r, resultText: r7Text.replaced({ meeting }) });
  for (const w of wanted) {
    const r = ref(w.slot, entered, meetingAt);
    if (user !== undefined && !live.has(r))
      effects.push({
        kind: 'create_task',
        leadId: lead.leadId,
        ref: r,
        userId: user,
        text: r7Text.confirm({ slot: w.slot, meeting, time, window }),
        dueAt: w.dueAt,
        taskTypeId: 1,
      });
  }
  const tasks = wanted
    .map((w) => `${w.slot === 'morning' ? 'с утра' : window} — ${formatLocal(w.dueAt, zone)}`)
    .join(', ');
  effects.push(note(lead.leadId, moved ? r7Text.moved({ meeting, tasks }) : r7Text.scheduled({ meeting, tasks })));
  effects.push(cancel('R7', lead.leadId, timeKey(entered)), cancel('R7', lead.leadId, readKey(entered)));
  const reason = `${why}: meeting ${new Date(meetingAt).toISOString()}, confirmations ${wanted.map((w) => `${w.slot}@${new Date(w.dueAt).toISOString()}`).join(', ') || 'none (the meeting is past)'}${moved ? `; tasks for ${new Date(state.r7?.meetingAt ?? 0).toISOString()} replaced` : ''}`;
  effects.push(
    actionRecord(
      'R7',
      moved ? 'meeting_moved' : 'meeting_confirmation',
      lead,
      ctx,
      reason,
      `R7:${lead.leadId}:${entered}:${meetingAt}`,
      R7_SEED,
    ),
  );
  const seen = seenAt(state, lead);
  return {
    state: {
      ...state,
      r7: { ...state.r7, meetingAt, refs: [...keep], ...(seen !== undefined ? { seenAt: seen } : {}) },
    },
    outcome: { rule: 'R7', key: `${entered}:meeting:${meetingAt}`, reason, effects },
  };
}

/** The meeting time was emptied (seen on a fresh read): the confirmations go, and the fill check starts again. */
function cleared(state: StageState, lead: StageLead, ctx: StageContext): Step {
  const cfg = ctx.stage.meeting!;
  const entered = state.enteredAt ?? 0;
  const was = state.r7?.meetingAt ?? 0;
  const due = ctx.now + cfg.fillWithinMs;
  const reason = `meeting time ${new Date(was).toISOString()} removed from the lead: confirmations cancelled; check at ${new Date(due).toISOString()}`;
  const seen = seenAt(state, lead);
  return {
    state: {
      ...state,
      r7: {
        refs: [],
        ...(state.r7?.flagged ? { flagged: true } : {}),
        ...(seen !== undefined ? { seenAt: seen } : {}),
      },
    },
    outcome: {
      rule: 'R7',
      key: `${entered}:cleared:${was}`,
      reason,
      effects: [
        ...(state.r7?.refs ?? []).map((r): Effect => ({
          kind: 'complete_task',
          leadId: lead.leadId,
          ref: r,
          resultText: r7Text.clearedTask,
        })),
        note(
          lead.leadId,
          r7Text.cleared({ meeting: formatLocal(was, ctx.rules.timeZone), within: durationText(cfg.fillWithinMs) }),
        ),
        actionRecord(
          'R7',
          'meeting_cleared',
          lead,
          ctx,
          reason,
          `R7:${lead.leadId}:${entered}:cleared:${was}`,
          R7_SEED,
        ),
        cancel('R7', lead.leadId, readKey(entered)),
        schedule('R7', lead.leadId, timeKey(entered), due),
      ],
    },
  };
}

/** Asks for a fresh read of the lead before deciding: the shell reads all due leads in one request. */
function readFirst(state: StageState, lead: StageLead, ctx: StageContext, why: string, effects: Effect[] = []): Step {
  const entered = state.enteredAt ?? 0;
  return {
    state,
    outcome: {
      rule: 'R7',
      key: `${entered}:read:${lead.updatedAt ?? ctx.now}`,
      reason: `${why}; the lead is re-read from amoCRM before R7 decides`,
      effects: [...effects, schedule('R7', lead.leadId, readKey(entered), ctx.now)],
    },
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
    const check = schedule('R7', lead.leadId, timeKey(state.enteredAt), due);
    // A Digital Pipeline body names no fields: the meeting time may well be filled, so read the lead now.
    if (lead.fieldsKnown === false)
      return readFirst(fresh, lead, ctx, `entered "${cfg.stage.name}" by a webhook without custom fields`, [check]);
    return {
      state: fresh,
      outcome: {
        rule: 'R7',
        key: `${state.enteredAt}:enter`,
        reason: `entered "${cfg.stage.name}" without the meeting time; check at ${new Date(due).toISOString()}`,
        effects: [check],
      },
    };
  },
  onEvent(state, lead, event, ctx) {
    const cfg = ctx.stage.meeting;
    if (!cfg || !isIn(cfg.stage, state) || !state.r7 || event.kind !== 'lead' || lead.fieldsKnown === false)
      return { state };
    // amoCRM redelivers and reorders webhooks: a body older than the view the time came from says nothing new.
    if (lead.updatedAt !== undefined && state.r7.seenAt !== undefined && lead.updatedAt < state.r7.seenAt)
      return { state };
    const meetingAt = meetingOf(lead, ctx);
    if (meetingAt === undefined) {
      // A full body without the field: emptied, most likely. Check, then act: the tasks go only if amoCRM agrees.
      return state.r7.meetingAt !== undefined
        ? readFirst(state, lead, ctx, `the meeting time is missing from a lead ${event.action} webhook`)
        : { state };
    }
    if (meetingAt === state.r7.meetingAt)
      return {
        state: {
          ...state,
          r7: { ...state.r7, ...(seenAt(state, lead) !== undefined ? { seenAt: seenAt(state, lead)! } : {}) },
        },
      };
    return plan(
      state,
      lead,
      meetingAt,
      ctx,
      state.r7.meetingAt === undefined ? 'meeting time filled' : 'meeting time changed',
    );
  },
  onLeave(state, lead, _to, ctx) {
    const cfg = ctx.stage.meeting;
    if (!cfg || !isIn(cfg.stage, state) || !state.r7 || state.enteredAt === undefined) return { state };
    const next = { ...state };
    delete next.r7;
    const effects: Effect[] = [
      cancel('R7', lead.leadId, timeKey(state.enteredAt)),
      cancel('R7', lead.leadId, readKey(state.enteredAt)),
      ...state.r7.refs.map((r): Effect => ({
        kind: 'complete_task',
        leadId: lead.leadId,
        ref: r,
        resultText: r7Text.left({ stage: cfg.stage.name }),
      })),
    ];
    const reason = `left "${cfg.stage.name}": ${state.r7.refs.length} confirmation task(s) cancelled`;
    // lead:explain shows why the confirmations were closed; a visit without any has nothing to explain.
    if (state.r7.refs.length > 0)
      effects.push(
        actionRecord(
          'R7',
          'meeting_confirmations_cancelled',
          lead,
          ctx,
          reason,
          `R7:${lead.leadId}:${state.enteredAt}:leave`,
          R7_SEED,
        ),
      );
    return { state: next, outcome: { rule: 'R7', key: `${state.enteredAt}:leave`, reason, effects } };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.meeting;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R7', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered || !state.r7)
      return settle('R7', state, lead.leadId, timer, `no longer in "${cfg.stage.name}"`);
    const meetingAt = meetingOf(lead, ctx);
    if (timer.key.startsWith('read:')) {
      if (meetingAt !== undefined && meetingAt === state.r7.meetingAt)
        return settle('R7', state, lead.leadId, timer, 'meeting time unchanged (re-read)');
      if (meetingAt !== undefined)
        return plan(
          state,
          lead,
          meetingAt,
          ctx,
          state.r7.meetingAt === undefined ? 'meeting time filled (re-read)' : 'meeting time changed (re-read)',
        );
      if (state.r7.meetingAt !== undefined) return cleared(state, lead, ctx);
      return settle('R7', state, lead.leadId, timer, 'meeting time still empty (re-read); the fill check decides');
    }
    if (meetingAt !== undefined)
      return meetingAt === state.r7.meetingAt
        ? settle('R7', state, lead.leadId, timer, 'meeting time known')
        : plan(state, lead, meetingAt, ctx, 'meeting time filled (seen at the check)');
    if (state.r7.meetingAt !== undefined) return cleared(state, lead, ctx);
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
          ...(user !== undefined
            ? [
                {
                  kind: 'create_task' as const,
                  leadId: lead.leadId,
                  ref: `r7:fill-time:${entered}`,
                  userId: user,
                  text: r7Text.fillTask({ stage: cfg.stage.name }),
                  dueAt: ctx.now + cfg.fillWithinMs,
                },
              ]
            : []),
          note(lead.leadId, r7Text.missing({ stage: cfg.stage.name, within, manager: nameOf(ctx.rules, user) })),
          ...violationEffects(
            {
              type: 'meeting_without_time',
              rule: 'R7',
              seed: R7_SEED,
              lead,
              ...(user !== undefined ? { userId: user } : {}),
              since: entered,
              window: String(entered),
              reason,
            },
            ctx,
          ),
          cancel('R7', lead.leadId, timer.key),
        ],
      },
    };
  },
};
