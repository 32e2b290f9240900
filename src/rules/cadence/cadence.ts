/**
 * R3 call cadences, pure (seed 001 "Не дозвонились"; seed 004 rule 1; seed 002 §3.3; seed 000). A lead in a bound
 * stage keeps exactly one open call task, created just in time: when the previous one is completed (or went a day
 * overdue) the next one is set in the next call window of the manager's working time. An answered call, a meeting
 * or leaving the stage stops the cadence; at the end without contact the lead moves on with a note listing every
 * attempt. Inputs are the lead state, the event, the cadence state and `now`; the output is `Plan`s for the
 * shared executor. One rule timer per lead (`R3`, key `step`) carries the overdue check, the end and retries.
 */
import { DateTime } from 'luxon';
import type { Effect, Plan } from '../plan.js';
import type { LeadState } from '../lead-state.js';
import type { WebhookEvent } from '../events.js';
import type { CompiledRules, LeadSnapshot } from '../types.js';
import { callFromNoteEvent, isConversation } from './calls.js';
import { availability, cadenceSteps, endInstant, nextSlot, type CadenceStep } from './plan.js';
import * as t from './templates.js';
import { R3 } from './definition.js';
import type { AttemptOutcome, CadenceState, CallNote, CompiledCadence } from './types.js';

export const RULE = R3.id;
export const TIMER_KEY = 'step';
/** amoCRM's standard task type "Встреча" (2): a meeting set on the lead stops the cadence. */
export const MEETING_TASK_TYPE = 2;
const HOUR = 3600_000;

export interface CadenceContext {
  rules: CompiledRules;
  now: number;
}

type RecordEffect = Extract<Effect, { kind: 'record' }>;
type Why = 'left_stage' | 'answered_call' | 'meeting_set' | 'profile_off';

const ACTIVE = new Set<CadenceState['status']>(['running', 'waiting_end', 'waiting_slot']);
export const isActive = (s: CadenceState | undefined): boolean => s !== undefined && ACTIVE.has(s.status);
const activeState = (s: CadenceState | undefined): CadenceState | undefined =>
  s !== undefined && ACTIVE.has(s.status) ? s : undefined;

export function bindingFor(
  rules: CompiledRules,
  pipelineId: number | undefined,
  statusId: number | undefined,
): CompiledCadence | undefined {
  if (pipelineId === undefined || statusId === undefined) return undefined;
  return rules.cadences.bindings.find((b) => b.pipelineId === pipelineId && b.statusId === statusId);
}

/** The steps of a run: the weekend pattern depends on the weekday the lead entered. */
export function stepsOf(cadence: CompiledCadence, entryAt: number, zone: string): CadenceStep[] {
  return cadenceSteps(cadence, DateTime.fromMillis(entryAt, { zone }).weekday);
}

const iso = (ms: number): string => new Date(ms).toISOString();
const unanswered = (s: CadenceState): number => s.attempts.filter((a) => a.outcome !== 'overdue').length;
const refOf = (s: CadenceState): string => `cadence:${s.run}:${s.step}${s.reissue > 0 ? `:r${s.reissue}` : ''}`;

function departmentOf(rules: CompiledRules, userId: number | undefined, pipelineId: number) {
  return (
    rules.departments.find((d) => userId !== undefined && d.managers.some((m) => m.userId === userId)) ??
    rules.departments.find((d) => d.pipelineIds.includes(pipelineId))
  );
}

function record(
  leadId: number,
  dedupeId: string,
  at: number,
  type: string,
  reason: string,
  cadence: CompiledCadence,
  extra: Partial<RecordEffect['record']> = {},
): RecordEffect {
  return {
    kind: 'record',
    leadId,
    dedupeId,
    record: { kind: 'action', type, at: iso(at), leadId, rule: RULE, seed: cadence.seed, reason, ...extra },
  };
}

/** A plan that only saves state (a call note seen, nothing to do yet). */
const stateOnly = (id: string, leadId: number, state: CadenceState, reason: string): Plan => ({
  id,
  rule: RULE,
  leadId,
  reason,
  state: { cadence: state },
  effects: [],
});

interface Issued {
  state: CadenceState;
  effects: Effect[];
}

/**
 * Sets the task of `state.step` in the next slot not before `notBefore`; with no working slot in the horizon the
 * cadence waits a day and tries again (the РОП is told once).
 */
function issue(
  leadId: number,
  cadence: CompiledCadence,
  state: CadenceState,
  notBefore: number,
  ctx: CadenceContext,
): Issued {
  const { rules, now } = ctx;
  const steps = stepsOf(cadence, state.entryAt, rules.timeZone);
  const step = steps[state.step - 1];
  if (!step) throw new Error(`cadence ${cadence.profile} has no step ${state.step}`);
  const slot = nextSlot({
    cadence,
    step,
    entryAt: state.entryAt,
    notBefore,
    slots: state.slots,
    calendar: rules.calendar,
    zone: rules.timeZone,
    works: availability(rules, state.userId, cadence.pipelineId),
  });
  if (!slot) {
    const retryAt = now + 24 * HOUR;
    const effects: Effect[] = [{ kind: 'schedule_timer', rule: RULE, leadId, key: TIMER_KEY, dueAt: retryAt }];
    if (state.status !== 'waiting_slot') {
      effects.push({ kind: 'add_note', leadId, text: t.noSlotNote(cadence) });
      effects.push(
        record(
          leadId,
          `R3:${leadId}:${state.run}:${state.step}:noslot`,
          now,
          'cadence_waiting',
          `no working slot of user ${state.userId ?? '-'} in the call windows within the horizon`,
          cadence,
          state.userId !== undefined ? { userId: state.userId } : {},
        ),
      );
    }
    const { openTask: _drop, ...rest } = state;
    return { state: { ...rest, status: 'waiting_slot', timerAt: retryAt }, effects };
  }
  const ref = refOf(state);
  const text = t.callTaskText({
    cadence,
    step,
    totalSteps: steps.length,
    unanswered: unanswered(state),
    windowStart: slot.windowStart,
    dueAt: slot.dueAt,
    zone: rules.timeZone,
    weekend: slot.weekendDay,
    reissue: state.reissue,
  });
  const timerAt = slot.dueAt + cadence.overdueAfterMs;
  const next: CadenceState = {
    ...state,
    status: 'running',
    openTask: {
      ref,
      step: step.index,
      dueAt: slot.dueAt,
      window: slot.window,
      day: slot.day,
      createdAt: now,
      text,
      ...(slot.weekendMissed ? { weekendMissed: true } : {}),
    },
    timerAt,
    calls: [],
    slots: [...state.slots, { step: step.index, day: slot.day, window: slot.window }].slice(-20),
  };
  const effects: Effect[] = [];
  if (state.userId !== undefined)
    effects.push({ kind: 'create_task', leadId, ref, userId: state.userId, text, dueAt: slot.dueAt, taskTypeId: 1 });
  effects.push(
    { kind: 'schedule_timer', rule: RULE, leadId, key: TIMER_KEY, dueAt: timerAt },
    record(
      leadId,
      `R3:${leadId}:${ref}:task`,
      now,
      'cadence_task',
      `step ${step.index}/${steps.length} (phase ${step.phase + 1}, call ${step.inPhase}/${step.phaseTotal}) due ${iso(slot.dueAt)} in window ${slot.window}${slot.weekendMissed ? '; no weekend slot left in the block' : ''}`,
      cadence,
      {
        ...(state.userId !== undefined ? { userId: state.userId } : {}),
        explanation: {
          ref,
          step: step.index,
          totalSteps: steps.length,
          phase: step.phase + 1,
          inPhase: step.inPhase,
          phaseTotal: step.phaseTotal,
          nominalDay: step.nominalDay,
          dueAt: iso(slot.dueAt),
          window: slot.window,
          weekend: slot.weekendDay,
          text,
        },
      },
    ),
  );
  return { state: next, effects };
}

function startPlan(
  leadId: number,
  cadence: CompiledCadence,
  prev: CadenceState | undefined,
  userId: number | undefined,
  entryAt: number,
  cause: string,
  ctx: CadenceContext,
): Plan {
  const run = (prev?.run ?? 0) + 1;
  const base: CadenceState = {
    run,
    status: 'running',
    profile: cadence.profile,
    pipelineId: cadence.pipelineId,
    statusId: cadence.statusId,
    entryAt,
    ...(userId !== undefined ? { userId } : {}),
    step: 1,
    reissue: 0,
    attempts: [],
    calls: [],
    slots: [],
    unreachedBy: prev?.unreachedBy ?? [],
  };
  const issued = issue(leadId, cadence, base, ctx.now, ctx);
  const steps = stepsOf(cadence, entryAt, ctx.rules.timeZone);
  const firstDue = issued.state.openTask?.dueAt;
  const effects: Effect[] = [
    ...(firstDue !== undefined
      ? [{ kind: 'add_note' as const, leadId, text: t.startNote(cadence, steps.length, firstDue, ctx.rules.timeZone) }]
      : []),
    record(
      leadId,
      `R3:${leadId}:${run}:start`,
      ctx.now,
      'cadence_started',
      `lead in stage ${cadence.stageName} (${cause}): cadence ${cadence.profile}, ${steps.length} calls`,
      cadence,
      userId !== undefined ? { userId } : {},
    ),
    ...issued.effects,
  ];
  return {
    id: `R3:${leadId}:${run}:start`,
    rule: RULE,
    leadId,
    reason: `cadence ${cadence.profile} started (${cause})`,
    state: { cadence: issued.state },
    effects,
  };
}

function stopPlan(
  leadId: number,
  cadence: CompiledCadence | undefined,
  state: CadenceState,
  why: Why,
  ctx: CadenceContext,
): Plan {
  const effects: Effect[] = [{ kind: 'cancel_timer', rule: RULE, leadId, key: TIMER_KEY }];
  if (state.openTask)
    effects.push({ kind: 'complete_task', leadId, ref: state.openTask.ref, resultText: t.stopTaskResult(why) });
  if (cadence) {
    effects.push({ kind: 'add_note', leadId, text: t.stopNote(cadence, why, state) });
    effects.push(
      record(
        leadId,
        `R3:${leadId}:${state.run}:stop`,
        ctx.now,
        'cadence_stopped',
        `cadence ${state.profile} stopped: ${why}`,
        cadence,
        state.userId !== undefined ? { userId: state.userId } : {},
      ),
    );
  }
  const { openTask: _o, timerAt: _t, ...rest } = state;
  const next: CadenceState = {
    ...rest,
    status: 'stopped',
    stoppedBy: why,
    ...(why === 'answered_call' ? { unreachedBy: [] } : {}),
  };
  return {
    id: `R3:${leadId}:${state.run}:stop`,
    rule: RULE,
    leadId,
    reason: `cadence ${state.profile} stopped: ${why}`,
    state: { cadence: next },
    effects,
  };
}

function endEffects(
  leadId: number,
  cadence: CompiledCadence,
  state: CadenceState,
  why: 'finished' | 'third_manager',
  ctx: CadenceContext,
): { state: CadenceState; effects: Effect[] } {
  const { openTask, timerAt: _t, ...rest } = state;
  const next: CadenceState = { ...rest, status: 'ended', endedAt: ctx.now };
  const effects: Effect[] = [{ kind: 'cancel_timer', rule: RULE, leadId, key: TIMER_KEY }];
  if (openTask)
    effects.push({
      kind: 'complete_task',
      leadId,
      ref: openTask.ref,
      resultText: 'Закрыто роботом: каденция завершена.',
    });
  if (cadence.end.kind === 'move')
    effects.push({ kind: 'move_lead', leadId, pipelineId: cadence.end.pipelineId, statusId: cadence.end.statusId });
  const note = t.endNote(cadence, next, ctx.rules.timeZone, why);
  effects.push({ kind: 'add_note', leadId, text: note });
  const reason = `cadence ${cadence.profile} ended without contact (${why}) after ${state.attempts.length} steps${cadence.end.kind === 'move' ? `; moved to ${cadence.end.stageName}` : ''}`;
  effects.push(
    record(leadId, `R3:${leadId}:${state.run}:end`, ctx.now, 'cadence_end', reason, cadence, {
      ...(state.userId !== undefined ? { userId: state.userId } : {}),
      explanation: {
        attempts: state.attempts.map((a) => ({ ...a, at: iso(a.at), dueAt: iso(a.dueAt) })),
        why,
        end: cadence.end,
      },
    }),
  );
  if (cadence.end.kind === 'alert') {
    const dept = departmentOf(ctx.rules, state.userId, cadence.pipelineId);
    if (dept) {
      effects.push({
        kind: 'message',
        leadId,
        dedupeId: `R3:${leadId}:${state.run}:end`,
        message: {
          at: iso(ctx.now),
          audience: {
            kind: 'department',
            department: dept.name,
            ...(dept.telegramChat ? { chatId: dept.telegramChat } : {}),
          },
          template: 'cadence_ended',
          params: {
            leadId,
            profile: cadence.profile,
            stage: cadence.stageName,
            attempts: state.attempts.length,
            userId: state.userId ?? 0,
          },
          leadId,
          reason,
        },
      });
    }
  }
  return { state: next, effects };
}

/** The open task is done (completed, or gone a day overdue): record the attempt, then the next step or the end. */
function consume(
  leadId: number,
  cadence: CompiledCadence,
  state: CadenceState,
  outcome: AttemptOutcome,
  ctx: CadenceContext,
  planId: string,
): Plan {
  const open = state.openTask;
  const steps = stepsOf(cadence, state.entryAt, ctx.rules.timeZone);
  const step = steps[state.step - 1];
  const attempt = {
    step: state.step,
    outcome,
    at: ctx.now,
    dueAt: open?.dueAt ?? ctx.now,
    ...(state.userId !== undefined ? { userId: state.userId } : {}),
    calls: state.calls.length,
  };
  let next: CadenceState = { ...state, attempts: [...state.attempts, attempt] };
  const effects: Effect[] = [];
  if (outcome !== 'overdue' && state.userId !== undefined && !next.unreachedBy.includes(state.userId))
    next = { ...next, unreachedBy: [...next.unreachedBy, state.userId] };
  // seed 004 rule 2 / seed 001 week 1: after an unanswered call, a messenger or SMS task.
  const phase = step ? cadence.phases[step.phase] : undefined;
  if (outcome !== 'overdue' && phase?.messengerText && step && state.userId !== undefined) {
    effects.push({
      kind: 'create_task',
      leadId,
      ref: `${open?.ref ?? refOf(state)}:msg`,
      userId: state.userId,
      text: t.messengerTaskText(cadence, step, phase.messengerText),
      dueAt: messengerDue(ctx, state.userId, cadence),
      taskTypeId: 1,
    });
  }
  if (outcome !== 'overdue' && cadence.thirdManager !== undefined && next.unreachedBy.length >= cadence.thirdManager) {
    const ended = endEffects(leadId, cadence, { ...next, openTask: undefined } as CadenceState, 'third_manager', ctx);
    return {
      id: planId,
      rule: RULE,
      leadId,
      reason: `third manager without contact: cadence ${cadence.profile} ends`,
      state: { cadence: ended.state },
      effects: [...effects, ...ended.effects],
    };
  }
  if (outcome === 'overdue') {
    next = { ...next, reissue: next.reissue + 1 };
  } else {
    next = { ...next, step: next.step + 1, reissue: 0 };
  }
  const { openTask: _o, ...withoutTask } = next;
  next = withoutTask;
  if (next.step > steps.length) {
    const at = endInstant(cadence, next.entryAt, ctx.now, ctx.rules.timeZone);
    if (at <= ctx.now) {
      const ended = endEffects(leadId, cadence, next, 'finished', ctx);
      return {
        id: planId,
        rule: RULE,
        leadId,
        reason: `last step done: cadence ${cadence.profile} ends`,
        state: { cadence: ended.state },
        effects: [...effects, ...ended.effects],
      };
    }
    effects.push({ kind: 'schedule_timer', rule: RULE, leadId, key: TIMER_KEY, dueAt: at });
    return {
      id: planId,
      rule: RULE,
      leadId,
      reason: `last step done: cadence ${cadence.profile} ends at ${iso(at)}`,
      state: { cadence: { ...next, status: 'waiting_end', timerAt: at } },
      effects,
    };
  }
  const issued = issue(leadId, cadence, next, ctx.now, ctx);
  return {
    id: planId,
    rule: RULE,
    leadId,
    reason: `step ${state.step} ${outcome}: next call set`,
    state: { cadence: issued.state },
    effects: [...effects, ...issued.effects],
  };
}

function messengerDue(ctx: CadenceContext, userId: number, cadence: CompiledCadence): number {
  const works = availability(ctx.rules, userId, cadence.pipelineId)(ctx.now, ctx.now + 14 * 24 * HOUR);
  const first = works.find(([, e]) => e > ctx.now);
  if (!first) return ctx.now + 2 * HOUR;
  const start = Math.max(first[0], ctx.now);
  return Math.min(first[1], start + 2 * HOUR);
}

export interface CadenceEventInput {
  before: LeadState | undefined;
  after: LeadState;
  event: WebhookEvent;
  state: CadenceState | undefined;
  /** The ref under which the executor created the task this event is about (task events only). */
  taskRef?: string;
  ctx: CadenceContext;
}

/** A webhook event on a lead: entering or leaving a bound stage, a call note, a task completed, a meeting set. */
export function cadenceOnLeadEvent({ before, after, event, state, taskRef, ctx }: CadenceEventInput): Plan[] {
  const leadId = after.leadId;
  const { rules } = ctx;
  const active = activeState(state);
  const cadence = active ? bindingFor(rules, active.pipelineId, active.statusId) : undefined;
  const here = bindingFor(rules, after.pipelineId, after.statusId);

  if (event.kind === 'lead') {
    const plans: Plan[] = [];
    let current = state;
    const left =
      active && (after.deleted || after.pipelineId !== active.pipelineId || after.statusId !== active.statusId);
    if (active && left) {
      const stop = stopPlan(leadId, cadence, active, 'left_stage', ctx);
      plans.push(stop);
      current = stop.state?.cadence as CadenceState;
    }
    const entered =
      before === undefined || before.statusId !== after.statusId || before.pipelineId !== after.pipelineId;
    if (here && !after.deleted && entered && (!isActive(current) || left)) {
      const entryAt = after.statusSince !== undefined ? Date.parse(after.statusSince) : ctx.now;
      // A late redelivery of an old entry starts the clock from now, never in the past.
      plans.push(
        startPlan(
          leadId,
          here,
          current,
          after.responsibleUserId,
          Math.min(ctx.now, Math.max(entryAt, ctx.now - 24 * HOUR)),
          'entered the stage',
          ctx,
        ),
      );
      return plans;
    }
    if (active && !left && after.responsibleUserId !== undefined && after.responsibleUserId !== active.userId) {
      // The open task follows the lead to its new manager; the one who leaves counts as not having reached the client.
      const effects: Effect[] = active.openTask
        ? [{ kind: 'update_task', leadId, ref: active.openTask.ref, userId: after.responsibleUserId }]
        : [];
      const unreached =
        active.userId !== undefined &&
        active.attempts.some((a) => a.userId === active.userId && a.outcome !== 'overdue') &&
        !active.unreachedBy.includes(active.userId)
          ? [...active.unreachedBy, active.userId]
          : active.unreachedBy;
      plans.push({
        id: `R3:${leadId}:${active.run}:resp:${after.responsibleUserId}:${after.responsibleSince ?? ''}`,
        rule: RULE,
        leadId,
        reason: `responsible changed to ${after.responsibleUserId}: the cadence task follows`,
        state: { cadence: { ...active, userId: after.responsibleUserId, unreachedBy: unreached } },
        effects,
      });
    }
    return plans;
  }

  if (!active || !cadence) return [];

  if (event.kind === 'note') {
    const call = callFromNoteEvent(event, ctx.now);
    if (!call) return [];
    if (isConversation(call, cadence.answeredMinDurationSec) && cadence.stopOn.has('answered_call'))
      return [stopPlan(leadId, cadence, active, 'answered_call', ctx)];
    const entry = {
      at: call.at,
      answered: false,
      durationSec: call.durationSec,
      direction: call.direction,
      ...(call.status !== undefined ? { status: call.status } : {}),
    };
    // A note delivered after the task it belongs to was completed (webhooks of one body run in any order, a locked
    // lead retries later) counts for the attempt whose completion it precedes.
    const belongs = active.attempts.findIndex((a) => call.at <= a.at);
    const attempt = belongs >= 0 ? active.attempts[belongs] : undefined;
    if (attempt && attempt.outcome !== 'overdue') {
      const attempts = active.attempts.map((a, i) =>
        i === belongs ? { ...a, outcome: 'no_answer' as const, calls: a.calls + 1 } : a,
      );
      return [
        stateOnly(
          `R3:${leadId}:${active.run}:call:${event.noteId}`,
          leadId,
          { ...active, attempts },
          `late call note of step ${attempt.step}: counted there`,
        ),
      ];
    }
    return [
      stateOnly(
        `R3:${leadId}:${active.run}:call:${event.noteId}`,
        leadId,
        { ...active, calls: [...active.calls, entry] },
        `call note without conversation (${call.durationSec}s, status ${call.status ?? '-'})`,
      ),
    ];
  }

  if (event.kind === 'task') {
    if (
      event.action === 'add' &&
      event.taskTypeId === MEETING_TASK_TYPE &&
      cadence.stopOn.has('meeting_set') &&
      (event.createdUserId ?? 0) > 0
    ) {
      return [stopPlan(leadId, cadence, active, 'meeting_set', ctx)];
    }
    const open = active.openTask;
    // The task's amoCRM id is stored once its create request returned; a completion racing it is known by its text.
    const ours =
      open !== undefined &&
      (taskRef === open.ref || (taskRef === undefined && open.text !== undefined && event.text === open.text));
    if (!open || !ours) return [];
    if ((event.action === 'update' && event.isCompleted === true) || event.action === 'delete') {
      return [
        consume(
          leadId,
          cadence,
          active,
          active.calls.length > 0 ? 'no_answer' : 'no_call',
          ctx,
          `R3:${leadId}:${open.ref}:done`,
        ),
      ];
    }
  }
  return [];
}

export interface CadenceDueInput {
  leadId: number;
  state: CadenceState | undefined;
  /** A fresh read at the timer: the open task as amoCRM has it now (undefined when not read), and calls since it was set. */
  fresh?: { taskCompleted?: boolean; calls?: CallNote[]; lead?: LeadSnapshot | null };
  ctx: CadenceContext;
}

/** The rule's timer fired: an overdue task, the end of the cadence, or a retry to find a working slot. */
export function cadenceOnDue({ leadId, state, fresh, ctx }: CadenceDueInput): Plan[] {
  state = activeState(state);
  if (!state)
    return [
      {
        id: `R3:${leadId}:idle:${ctx.now}`,
        rule: RULE,
        leadId,
        reason: 'timer of a cadence no longer running',
        effects: [{ kind: 'cancel_timer', rule: RULE, leadId, key: TIMER_KEY }],
      },
    ];
  const cadence = bindingFor(ctx.rules, state.pipelineId, state.statusId);
  if (!cadence || cadence.profile !== state.profile) return [stopPlan(leadId, cadence, state, 'profile_off', ctx)];
  if (
    fresh?.lead === null ||
    (fresh?.lead && (fresh.lead.statusId !== state.statusId || fresh.lead.pipelineId !== state.pipelineId))
  ) {
    return [stopPlan(leadId, cadence, state, 'left_stage', ctx)]; // check, then act: the webhook of the move never came
  }
  if (state.timerAt !== undefined && ctx.now < state.timerAt) {
    return [
      {
        id: `R3:${leadId}:${state.run}:early:${state.timerAt}`,
        rule: RULE,
        leadId,
        reason: 'timer fired early; moved to its time',
        effects: [{ kind: 'schedule_timer', rule: RULE, leadId, key: TIMER_KEY, dueAt: state.timerAt }],
      },
    ];
  }
  const freshCalls = fresh?.calls ?? [];
  if (freshCalls.some((c) => isConversation(c, cadence.answeredMinDurationSec)) && cadence.stopOn.has('answered_call'))
    return [stopPlan(leadId, cadence, state, 'answered_call', ctx)];
  const withCalls: CadenceState =
    freshCalls.length > state.calls.length
      ? {
          ...state,
          calls: freshCalls.map((c) => ({
            at: c.at,
            answered: false,
            durationSec: c.durationSec,
            direction: c.direction,
            ...(c.status !== undefined ? { status: c.status } : {}),
          })),
        }
      : state;

  switch (state.status) {
    case 'waiting_end': {
      const ended = endEffects(leadId, cadence, withCalls, 'finished', ctx);
      return [
        {
          id: `R3:${leadId}:${state.run}:end`,
          rule: RULE,
          leadId,
          reason: `cadence ${cadence.profile} ends without contact`,
          state: { cadence: ended.state },
          effects: ended.effects,
        },
      ];
    }
    case 'waiting_slot': {
      const issued = issue(leadId, cadence, withCalls, ctx.now, ctx);
      return [
        {
          id: `R3:${leadId}:${state.run}:${state.step}:retry:${ctx.now}`,
          rule: RULE,
          leadId,
          reason: 'looking again for a working slot',
          state: { cadence: issued.state },
          effects: issued.effects,
        },
      ];
    }
    case 'running': {
      const open = withCalls.openTask;
      if (!open) {
        const issued = issue(leadId, cadence, withCalls, ctx.now, ctx);
        return [
          {
            id: `R3:${leadId}:${state.run}:${state.step}:reissue:${ctx.now}`,
            rule: RULE,
            leadId,
            reason: 'no open task: setting the step again',
            state: { cadence: issued.state },
            effects: issued.effects,
          },
        ];
      }
      if (fresh?.taskCompleted)
        return [
          consume(
            leadId,
            cadence,
            withCalls,
            withCalls.calls.length > 0 ? 'no_answer' : 'no_call',
            ctx,
            `R3:${leadId}:${open.ref}:done`,
          ),
        ];
      return [overduePlan(leadId, cadence, withCalls, ctx)];
    }
    default:
      return [];
  }
}

/** seed 001 / R3: a cadence task left undone a day past due is call_overdue: recorded, the РОП told, the call set again. */
function overduePlan(leadId: number, cadence: CompiledCadence, state: CadenceState, ctx: CadenceContext): Plan {
  const open = state.openTask;
  if (!open) throw new Error('overduePlan needs an open task');
  const steps = stepsOf(cadence, state.entryAt, ctx.rules.timeZone);
  const step = steps[open.step - 1] ?? steps[0];
  const violationId = `call_overdue:${leadId}:${open.ref.replace(/^cadence:/, '')}`;
  const dept = departmentOf(ctx.rules, state.userId, cadence.pipelineId);
  const reason = `cadence task ${open.ref} (step ${open.step}) undone ${Math.round((ctx.now - open.dueAt) / HOUR)} h past its due ${iso(open.dueAt)}`;
  const effects: Effect[] = [
    { kind: 'complete_task', leadId, ref: open.ref, resultText: t.overdueTaskResult },
    { kind: 'add_note', leadId, text: step ? t.overdueNote(cadence, step, open.dueAt, ctx.rules.timeZone) : reason },
    {
      kind: 'record',
      leadId,
      dedupeId: violationId,
      record: {
        kind: 'violation',
        type: 'call_overdue',
        at: iso(ctx.now),
        leadId,
        rule: RULE,
        seed: cadence.seed,
        violationId,
        reason,
        ...(state.userId !== undefined ? { userId: state.userId } : {}),
        ...(dept ? { department: dept.name } : {}),
        evidence: {
          since: iso(open.dueAt),
          decidedAt: iso(ctx.now),
          lead: { pipelineId: cadence.pipelineId, responsibleUserId: state.userId },
          config: { profile: cadence.profile, stage: cadence.stageName, step: open.step, task: open.ref },
          events: [
            ...(state.entryAt !== undefined
              ? [{ what: 'cadence started (stage entered)', at: iso(state.entryAt) }]
              : []),
            { what: `task ${open.ref} due`, at: iso(open.dueAt) },
          ],
        },
      },
    },
  ];
  if (dept) {
    effects.push({
      kind: 'message',
      leadId,
      dedupeId: violationId,
      message: {
        at: iso(ctx.now),
        audience: {
          kind: 'department',
          department: dept.name,
          ...(dept.telegramChat ? { chatId: dept.telegramChat } : {}),
        },
        template: 'violation',
        params: {
          type: 'call_overdue',
          rule: RULE,
          seed: cadence.seed,
          leadId,
          userId: state.userId ?? 0,
          since: iso(open.dueAt),
          violationId,
        },
        leadId,
        reason,
      },
    });
  }
  const consumed = consume(leadId, cadence, state, 'overdue', ctx, `R3:${leadId}:${open.ref}:overdue`);
  return { ...consumed, reason, effects: [...effects, ...consumed.effects] };
}

/** The sweep found a lead sitting in a bound stage: it joins the cadence from now. */
export function cadenceOnSweep({
  lead,
  state,
  ctx,
}: {
  lead: LeadSnapshot;
  state: CadenceState | undefined;
  ctx: CadenceContext;
}): Plan[] {
  const here = bindingFor(ctx.rules, lead.pipelineId, lead.statusId);
  const active = activeState(state);
  if (active) {
    const state = active;
    if (state.pipelineId === lead.pipelineId && state.statusId === lead.statusId) return [];
    const cadence = bindingFor(ctx.rules, state.pipelineId, state.statusId);
    return [stopPlan(lead.leadId, cadence, state, 'left_stage', ctx)];
  }
  if (!here || !here.joinExisting) return [];
  // A cadence that ended or stopped in this very stage (answered, alert-only end) is not restarted by the sweep.
  if (state && state.pipelineId === lead.pipelineId && state.statusId === lead.statusId) return [];
  return [startPlan(lead.leadId, here, state, lead.responsibleUserId, ctx.now, 'found in the stage by the sweep', ctx)];
}
