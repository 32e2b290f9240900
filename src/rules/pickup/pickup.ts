/**
 * R1 — the 15-minute pickup (seed 001 "Передан в работу": «У вас есть 15 минут, чтобы взять клиента в работу.
 * Если этого не сделать, робот распределит клиента другому менеджеру»; seed 002 §2.7, §3.2).
 *
 * Pure: every function takes the lead's pickup state, what happened, and a context (compiled rules, now, loads)
 * and returns the next pickup state with the decisions to carry out. The atomic choice of a manager happens in
 * Redis between `planAssignment` (which asks for it) and `decideAfterPick` (which acts on the answer).
 */
import type { WebhookEvent } from '../events.js';
import type { LeadState } from '../lead-state.js';
import { eligibleCandidates } from '../distribution/distribution.js';
import { route } from '../distribution/routing.js';
import { addWorkingTime, departmentIntervals, HORIZON_MS, nextWorkingInstant } from '../schedule/shifts.js';
import type {
  AssignmentRequest,
  CompiledDepartment,
  CompiledRules,
  Decision,
  DistributionExplanation,
  LeadActivity,
  LeadSnapshot,
  PickupState,
  RuleContext,
  TakenSignal,
} from '../types.js';
import { explainChoice, fallbackReasons, formatTime, minutesText, notes, routingText, takenHow } from './templates.js';

export interface PickupResult {
  pickup: PickupState;
  decisions: Decision[];
}

const none = (pickup: PickupState): PickupResult => ({ pickup, decisions: [] });

const nameOf =
  (rules: CompiledRules) =>
  (id: number): string =>
    rules.userNames.get(id) ?? `пользователь ${id}`;

export function departmentOfManager(rules: CompiledRules, userId: number | undefined): CompiledDepartment | undefined {
  if (userId === undefined) return undefined;
  return rules.departments.find((d) => d.managers.some((m) => m.userId === userId));
}

/**
 * The department that owns a lead: the one it was already given to, its responsible's, or — for a new lead of a
 * pipeline several departments work — one chosen by lead id, so new leads spread evenly and a retry decides alike.
 */
export function departmentFor(
  rules: CompiledRules,
  lead: LeadSnapshot,
  pickup: PickupState,
): CompiledDepartment | undefined {
  const known =
    pickup.department !== undefined ? rules.departments.find((d) => d.name === pickup.department) : undefined;
  if (known) return known;
  const own = departmentOfManager(rules, lead.responsibleUserId);
  if (own) return own;
  const pipelineId = lead.pipelineId ?? rules.pickup.pipelineId;
  const candidates = rules.departments.filter((d) => d.pipelineIds.includes(pipelineId));
  return candidates[lead.leadId % Math.max(1, candidates.length)];
}

const inPickupStage = (
  rules: CompiledRules,
  lead: { statusId?: number | undefined; pipelineId?: number | undefined },
): boolean =>
  lead.statusId === rules.pickup.statusId &&
  (lead.pipelineId === undefined || lead.pipelineId === rules.pickup.pipelineId);

const isPinned = (rules: CompiledRules, tags: string[]): boolean =>
  tags.some((t) => t.trim().toLowerCase() === rules.pickup.pinTag.trim().toLowerCase());

const isRobot = (rules: CompiledRules, userId: number | undefined): boolean =>
  userId === undefined || rules.pickup.robotUserIds.has(userId);

const DAY_MS = 24 * 3600 * 1000;

function deadlineFor(dept: CompiledDepartment, start: number, ctx: RuleContext): number | undefined {
  const { rules } = ctx;
  if (!rules.pickup.clockRunsOnlyOnShift) return start + rules.pickup.timeoutMs;
  // Two days of shifts hold almost every deadline; the whole horizon (16 days of every manager's shifts, the
  // costliest step of a deadline burst) is computed only when they do not. Same answer either way: working time
  // counted within a shorter window ends at the same instant if it ends inside it.
  for (const horizon of [Math.min(HORIZON_MS, rules.pickup.timeoutMs + 2 * DAY_MS), HORIZON_MS]) {
    const intervals = departmentIntervals(
      dept,
      start,
      start + horizon,
      rules.calendar,
      rules.timeZone,
      rules.activeUserIds,
    );
    const deadline = addWorkingTime(start, rules.pickup.timeoutMs, intervals);
    if (deadline !== undefined || horizon === HORIZON_MS) return deadline;
  }
  return undefined;
}

function isActiveManager(rules: CompiledRules, userId: number | undefined): userId is number {
  return userId !== undefined && rules.activeUserIds.has(userId) && departmentOfManager(rules, userId) !== undefined;
}

/** Starts a clock for the lead's current responsible (a manager the lead was given to by a person or a robot). */
function startClockFor(
  pickup: PickupState,
  lead: LeadSnapshot,
  userId: number,
  dept: CompiledDepartment,
  ctx: RuleContext,
  why: string,
): PickupResult {
  const deadline = deadlineFor(dept, ctx.now, ctx);
  if (deadline === undefined) return fallback(pickup, lead, dept, ctx, fallbackReasons.nobodyWorks);
  const clock = pickup.clock + 1;
  const timeout = minutesText(ctx.rules.pickup.timeoutMs);
  return {
    pickup: {
      ...pickup,
      clock,
      phase: 'running',
      department: dept.name,
      assignedUserId: userId,
      assignedAt: ctx.now,
      deadlineAt: deadline,
    },
    decisions: [
      {
        kind: 'schedule_timer',
        timer: 'pickup_deadline',
        leadId: lead.leadId,
        clock,
        dueAt: deadline,
        reason: `${why}; pickup clock ${clock} runs until ${new Date(deadline).toISOString()}`,
      },
      {
        kind: 'add_note',
        leadId: lead.leadId,
        text: notes.clockStarted({
          manager: nameOf(ctx.rules)(userId),
          timeout,
          deadline: formatTime(deadline, ctx.rules.timeZone),
        }),
        reason: why,
      },
      { kind: 'record', record: 'pickup_started', leadId: lead.leadId, userId, at: ctx.now, reason: why },
    ],
  };
}

/** Asks for a manager (the shell picks atomically), waits for the shift, or falls back to the РОП. */
export function planAssignment(
  pickup: PickupState,
  lead: LeadSnapshot,
  ctx: RuleContext,
  cause: AssignmentRequest['cause'],
  missedUserId?: number,
): PickupResult {
  const { rules } = ctx;
  // Routing before rotation (R2, seed 003): the listing's owner or the contact's manager, when eligible now.
  const routed = cause === 'missed' ? { kind: 'rotation' as const } : route(lead, ctx, new Set(pickup.missedUserIds));
  if (routed.kind === 'routed') {
    const request: AssignmentRequest = {
      leadId: lead.leadId,
      department: routed.department.name,
      cause,
      eligible: [{ userId: routed.note.userId, weight: routed.weight, cap: routed.cap }],
      skipped: [],
      strategy: rules.pickup.strategy,
      clock: pickup.clock,
      routing: routed.note,
      ...(lead.responsibleUserId !== undefined ? { previousUserId: lead.responsibleUserId } : {}),
    };
    return {
      pickup: { ...pickup, department: routed.department.name },
      decisions: [
        { kind: 'assign', request, reason: `${cause}: routed to ${routed.note.userId} (${routed.note.kind})` },
      ],
    };
  }
  const dept = departmentFor(rules, lead, pickup);
  if (!dept) return none(pickup);
  const { eligible, skipped } = eligibleCandidates(dept, ctx, new Set(pickup.missedUserIds));
  if (eligible.length > 0) {
    const request: AssignmentRequest = {
      ...(routed.note ? { routing: routed.note } : {}),
      leadId: lead.leadId,
      department: dept.name,
      cause,
      eligible,
      skipped,
      strategy: rules.pickup.strategy,
      clock: pickup.clock,
      ...(missedUserId !== undefined ? { missedUserId } : {}),
      ...(lead.responsibleUserId !== undefined ? { previousUserId: lead.responsibleUserId } : {}),
    };
    return {
      pickup: { ...pickup, department: dept.name },
      decisions: [{ kind: 'assign', request, reason: `${cause}: ${eligible.length} eligible in ${dept.name}` }],
    };
  }
  // Nobody can take it. If that is because nobody works now, the lead waits for the shift (R1: the clock
  // counts only while someone is on shift); otherwise the РОП gets it.
  const onShiftButUnavailable = skipped.some((s) => s.reason === 'at_cap' || s.reason === 'missed_this_lead');
  if (!onShiftButUnavailable && pickup.phase !== 'waiting_shift') {
    const intervals = departmentIntervals(
      dept,
      ctx.now,
      ctx.now + HORIZON_MS,
      rules.calendar,
      rules.timeZone,
      rules.activeUserIds,
    );
    const start = nextWorkingInstant(ctx.now, intervals);
    const anyoneWorksLater = start !== undefined && start > ctx.now;
    if (anyoneWorksLater) {
      const clock = pickup.clock + 1;
      return {
        pickup: { ...pickup, clock, phase: 'waiting_shift', department: dept.name, deadlineAt: start },
        decisions: [
          {
            kind: 'schedule_timer',
            timer: 'pickup_deadline',
            leadId: lead.leadId,
            clock,
            dueAt: start,
            reason: `nobody in ${dept.name} is on shift; assignment waits for ${new Date(start).toISOString()}`,
          },
          {
            kind: 'add_note',
            leadId: lead.leadId,
            text: notes.waitingShift({ start: formatTime(start, rules.timeZone) }),
            reason: 'waiting for the shift',
          },
          {
            kind: 'record',
            record: 'pickup_waiting',
            leadId: lead.leadId,
            at: ctx.now,
            reason: `nobody on shift in ${dept.name}`,
          },
        ],
      };
    }
  }
  return fallback(pickup, lead, dept, ctx, fallbackReasons.nobodyEligible, skipped);
}

/** After the last miss, or with nobody eligible: the lead goes to the department's fallback user and the РОП is alerted. */
function fallback(
  pickup: PickupState,
  lead: LeadSnapshot,
  dept: CompiledDepartment,
  ctx: RuleContext,
  why: string,
  skipped: AssignmentRequest['skipped'] = [],
): PickupResult {
  const name = nameOf(ctx.rules);
  const missed = pickup.missedUserIds.map(name).join(', ');
  const decisions: Decision[] = [];
  if (lead.responsibleUserId !== dept.fallbackUserId) {
    decisions.push({
      kind: 'reassign',
      leadId: lead.leadId,
      toUserId: dept.fallbackUserId,
      ...(lead.responsibleUserId !== undefined ? { fromUserId: lead.responsibleUserId } : {}),
      reason: `fallback to ${name(dept.fallbackUserId)}: ${why}`,
    });
  }
  decisions.push(
    {
      kind: 'add_note',
      leadId: lead.leadId,
      text: notes.fallback({ fallback: name(dept.fallbackUserId), why, missed }),
      reason: `fallback: ${why}`,
    },
    {
      kind: 'alert',
      audience: {
        kind: 'department',
        department: dept.name,
        ...(dept.telegramChat !== undefined ? { chatId: dept.telegramChat } : {}),
      },
      template: pickup.misses >= ctx.rules.pickup.maxMisses ? 'pickup_fallback' : 'nobody_eligible',
      params: {
        leadId: lead.leadId,
        fallback: name(dept.fallbackUserId),
        why,
        missed,
        skipped: skipped.map((s) => `${name(s.userId)}: ${s.reason}`).join(', '),
        // The manager who had the lead last: their own message about it turns into "given to someone else".
        ...(pickup.missedUserIds.length > 0
          ? {
              lastMissed: name(pickup.missedUserIds[pickup.missedUserIds.length - 1]!),
              manager: name(dept.fallbackUserId),
              timeout: minutesText(ctx.rules.pickup.timeoutMs),
            }
          : {}),
      },
      leadId: lead.leadId,
      dedupeKey: `pickup-fallback:${lead.leadId}:${pickup.clock}`,
      reason: `fallback: ${why}`,
    },
    {
      kind: 'record',
      record: 'fallback',
      leadId: lead.leadId,
      userId: dept.fallbackUserId,
      ...(lead.responsibleUserId !== undefined ? { previousUserId: lead.responsibleUserId } : {}),
      at: ctx.now,
      reason: why,
    },
  );
  return {
    pickup: {
      ...pickup,
      clock: pickup.clock + 1,
      phase: 'fallback',
      department: dept.name,
      assignedUserId: dept.fallbackUserId,
      assignedAt: ctx.now,
    },
    decisions,
  };
}

/** The manager a lead is given to, with everything that follows: the write, the note, the messages, the record, a new clock. */
export function decideAfterPick(
  pickup: PickupState,
  lead: LeadSnapshot,
  request: AssignmentRequest,
  explanation: DistributionExplanation,
  ctx: RuleContext,
): PickupResult {
  const result = assignPicked(pickup, lead, request, explanation, ctx);
  // After a miss the clock is still the missed one: the hand-over's messages name that violation.
  return request.missedUserId !== undefined ? withMissedViolation(result, lead.leadId, pickup.clock) : result;
}

function assignPicked(
  pickup: PickupState,
  lead: LeadSnapshot,
  request: AssignmentRequest,
  explanation: DistributionExplanation,
  ctx: RuleContext,
): PickupResult {
  const { rules } = ctx;
  const dept = rules.departments.find((d) => d.name === request.department);
  if (!dept) return none(pickup);
  const winner = explanation.winner;
  if (winner === undefined) return fallback(pickup, lead, dept, ctx, fallbackReasons.nobodyEligible, request.skipped);
  const deadline = deadlineFor(dept, ctx.now, ctx);
  if (deadline === undefined) return fallback(pickup, lead, dept, ctx, fallbackReasons.nobodyWorks);
  const name = nameOf(rules);
  const clock = pickup.clock + 1;
  const routing = request.routing;
  if (routing) explanation = { ...explanation, routing };
  const why = routing ? routingText(routing, name, explainChoice(explanation, name)) : explainChoice(explanation, name);
  const timeout = minutesText(rules.pickup.timeoutMs);
  const deadlineText = formatTime(deadline, rules.timeZone);
  const missed = request.missedUserId;
  const byHead = request.cause === 'head_reassign';
  const head = byHead ? (request.requestedByUserId !== undefined ? name(request.requestedByUserId) : 'РОП') : undefined;
  const previous = request.previousUserId !== undefined ? name(request.previousUserId) : undefined;
  const text = byHead
    ? notes.reassignedByHead({
        head: head ?? '',
        previous,
        manager: name(winner),
        why,
        timeout,
        deadline: deadlineText,
      })
    : missed !== undefined
      ? notes.reassigned({
          missed: name(missed),
          manager: name(winner),
          why,
          timeout,
          deadline: deadlineText,
          misses: pickup.misses,
        })
      : notes.assigned({ manager: name(winner), why, timeout, deadline: deadlineText });
  const reason = byHead
    ? `reassigned by the head of sales (${request.requestedByUserId ?? 'unknown'}); ${name(winner)} chosen by ${explanation.strategy}`
    : missed !== undefined
      ? `${name(missed)} missed the pickup; ${name(winner)} chosen by ${explanation.strategy}`
      : `${request.cause}: ${name(winner)} chosen by ${explanation.strategy}`;
  const decisions: Decision[] = [
    {
      kind: 'reassign',
      leadId: lead.leadId,
      toUserId: winner,
      ...(lead.responsibleUserId !== undefined ? { fromUserId: lead.responsibleUserId } : {}),
      reason,
    },
    { kind: 'add_note', leadId: lead.leadId, text, reason },
    {
      kind: 'alert',
      audience: { kind: 'manager', userId: winner },
      template: 'lead_assigned',
      params: { leadId: lead.leadId, manager: name(winner), deadline: deadlineText, timeout },
      leadId: lead.leadId,
      dedupeKey: `lead-assigned:${lead.leadId}:${clock}`,
      reason,
    },
  ];
  if (byHead) {
    // The РОП's message about this lead (and the previous manager's) shows the hand-over; delivery starts none.
    decisions.push({
      kind: 'alert',
      audience: {
        kind: 'department',
        department: dept.name,
        ...(dept.telegramChat !== undefined ? { chatId: dept.telegramChat } : {}),
      },
      template: 'pickup_reassigned_by_head',
      params: {
        leadId: lead.leadId,
        head: head ?? 'РОП',
        manager: name(winner),
        ...(previous !== undefined ? { previous } : {}),
        timeout,
      },
      leadId: lead.leadId,
      dedupeKey: `pickup-head:${lead.leadId}:${pickup.clock}`,
      reason,
    });
  }
  if (missed !== undefined) {
    decisions.push({
      kind: 'alert',
      audience: {
        kind: 'department',
        department: dept.name,
        ...(dept.telegramChat !== undefined ? { chatId: dept.telegramChat } : {}),
      },
      template: 'pickup_missed',
      params: { leadId: lead.leadId, missed: name(missed), manager: name(winner), misses: pickup.misses, timeout },
      leadId: lead.leadId,
      dedupeKey: `pickup-missed:${lead.leadId}:${pickup.clock}`,
      reason,
    });
  }
  decisions.push(
    {
      kind: 'record',
      record: missed !== undefined || byHead ? 'reassignment' : 'assignment',
      leadId: lead.leadId,
      userId: winner,
      ...(lead.responsibleUserId !== undefined ? { previousUserId: lead.responsibleUserId } : {}),
      explanation,
      at: ctx.now,
      reason,
    },
    {
      kind: 'schedule_timer',
      timer: 'pickup_deadline',
      leadId: lead.leadId,
      clock,
      dueAt: deadline,
      reason: `pickup clock ${clock} for ${name(winner)}`,
    },
  );
  return {
    pickup: {
      ...pickup,
      clock,
      phase: 'running',
      department: dept.name,
      assignedUserId: winner,
      assignedAt: ctx.now,
      deadlineAt: deadline,
    },
    decisions,
  };
}

/** Why the РОП's «Переназначить» would change nothing, so the bot can say it instead of claiming a reassignment. */
export type HeadReassignRefusal = 'disabled' | 'not_in_stage' | 'pinned' | 'taken' | 'no_clock' | 'not_your_department';

/**
 * Why the РОП's «Переназначить» changes nothing, if it does not. `byUserId` given: only the head or fallback of the
 * lead's own department may press it.
 */
export function headReassignRefusal(
  pickup: PickupState,
  lead: LeadSnapshot,
  ctx: RuleContext,
  byUserId?: number,
): HeadReassignRefusal | undefined {
  const { rules } = ctx;
  if (!rules.pickup.enabled) return 'disabled';
  if (!inPickupStage(rules, lead)) return 'not_in_stage';
  if (isPinned(rules, lead.tags)) return 'pinned';
  const dept = departmentFor(rules, lead, pickup);
  if (
    byUserId !== undefined &&
    (dept === undefined || (dept.headUserId !== byUserId && dept.fallbackUserId !== byUserId))
  )
    return 'not_your_department';
  const clockLive = pickup.phase === 'running' || pickup.phase === 'waiting_shift';
  const withFallback =
    pickup.phase === 'fallback' || (dept !== undefined && lead.responsibleUserId === dept.fallbackUserId);
  if (clockLive || withFallback) return undefined;
  return pickup.phase === 'taken' ? 'taken' : 'no_clock';
}

/**
 * The РОП pressed «Переназначить» (the lead re-read from amoCRM): the current manager is released and excluded for
 * this lead — not a miss, not a violation — and the lead goes through the same assignment as a missed one, with the
 * РОП named in the note. A lead outside the pickup stage, pinned, or already taken is left alone.
 */
export function pickupReassignByHead(
  pickup: PickupState,
  lead: LeadSnapshot,
  ctx: RuleContext,
  byUserId: number | undefined,
): PickupResult {
  const { rules } = ctx;
  if (headReassignRefusal(pickup, lead, ctx, byUserId) !== undefined) return none(pickup);
  const dept = departmentFor(rules, lead, pickup);
  const clockLive = pickup.phase === 'running' || pickup.phase === 'waiting_shift';
  const reason = `reassignment requested by the head of sales (${byUserId ?? 'unknown'})`;
  const decisions: Decision[] = [];
  if (clockLive)
    decisions.push({
      kind: 'cancel_timer',
      timer: 'pickup_deadline',
      leadId: lead.leadId,
      clock: pickup.clock,
      reason,
    });
  const current = pickup.phase === 'running' ? pickup.assignedUserId : undefined;
  const excluded = [current, lead.responsibleUserId].filter(
    (id): id is number => id !== undefined && id !== 0 && (dept === undefined || id !== dept.fallbackUserId),
  );
  if (current !== undefined || lead.responsibleUserId !== undefined)
    decisions.push({
      kind: 'release_load',
      leadId: lead.leadId,
      userId: current ?? lead.responsibleUserId ?? 0,
      reason,
    });
  const next: PickupState = { ...pickup, missedUserIds: [...new Set([...pickup.missedUserIds, ...excluded])] };
  const planned = planAssignment(next, lead, ctx, 'head_reassign');
  const tagged = planned.decisions.map((d): Decision =>
    d.kind === 'assign' && byUserId !== undefined
      ? { ...d, request: { ...d.request, requestedByUserId: byUserId } }
      : d,
  );
  return { pickup: planned.pickup, decisions: [...decisions, ...tagged] };
}

/**
 * The lead is in the pickup stage and needs a clock: pinned, its manager's clock, or an assignment.
 * A lead that (re)enters the stage starts a new pickup; a responsible changed by a person within the same pickup
 * keeps its misses, so who already missed this lead never gets it back from the robot.
 */
function begin(
  pickup: PickupState,
  lead: LeadSnapshot,
  ctx: RuleContext,
  why: string,
  keepHistory = false,
): PickupResult {
  const { rules } = ctx;
  const fresh: PickupState = keepHistory ? { ...pickup } : { ...pickup, missedUserIds: [], misses: 0 };
  if (!keepHistory) delete fresh.department;
  if (isPinned(rules, lead.tags)) {
    return {
      pickup: { ...fresh, phase: 'pinned' },
      decisions: [
        {
          kind: 'record',
          record: 'pickup_started',
          leadId: lead.leadId,
          at: ctx.now,
          reason: `pinned by tag "${rules.pickup.pinTag}": no pickup clock`,
        },
      ],
    };
  }
  const responsible = lead.responsibleUserId;
  if (isActiveManager(rules, responsible)) {
    const dept = departmentOfManager(rules, responsible);
    if (dept) return startClockFor(fresh, lead, responsible, dept, ctx, why);
  }
  return planAssignment(
    fresh,
    lead,
    ctx,
    responsible === undefined || responsible === 0 ? 'new_lead' : 'non_manager_responsible',
  );
}

/**
 * The incident's last state (SPEC "Alerts": one message per incident, edited as it develops): the manager's
 * new-lead message and, when the РОП's chat already has a message about this lead, that one, turn into "taken".
 * Delivery never starts a new message for it.
 */
function takenAlerts(
  pickup: PickupState,
  leadId: number,
  userId: number,
  takenBy: NonNullable<PickupState['takenBy']>,
  ctx: RuleContext,
  reason: string,
): Decision[] {
  const how = takenBy === 'moved_by_other' ? undefined : takenHow[takenBy];
  const params = { leadId, manager: nameOf(ctx.rules)(userId), ...(how ? { how } : {}) };
  const dept =
    pickup.department !== undefined
      ? ctx.rules.departments.find((d) => d.name === pickup.department)
      : departmentOfManager(ctx.rules, userId);
  const out: Decision[] = [
    {
      kind: 'alert',
      audience: { kind: 'manager', userId },
      template: 'pickup_taken',
      params,
      leadId,
      dedupeKey: `pickup-taken:${leadId}:${pickup.clock}`,
      reason,
    },
  ];
  if (dept) {
    out.push({
      kind: 'alert',
      audience: {
        kind: 'department',
        department: dept.name,
        ...(dept.telegramChat !== undefined ? { chatId: dept.telegramChat } : {}),
      },
      template: 'pickup_taken',
      params,
      leadId,
      dedupeKey: `pickup-taken-dept:${leadId}:${pickup.clock}`,
      reason,
    });
  }
  return out;
}

function stopClock(
  pickup: PickupState,
  leadId: number,
  phase: PickupState['phase'],
  takenBy: NonNullable<PickupState['takenBy']>,
  ctx: RuleContext,
  reason: string,
): PickupResult {
  const decisions: Decision[] = [];
  if (pickup.phase === 'running' || pickup.phase === 'waiting_shift') {
    decisions.push({ kind: 'cancel_timer', timer: 'pickup_deadline', leadId, clock: pickup.clock, reason });
  }
  if (pickup.assignedUserId !== undefined && pickup.phase === 'running') {
    decisions.push({ kind: 'release_load', leadId, userId: pickup.assignedUserId, reason });
    if (phase === 'taken') {
      decisions.push({
        kind: 'record',
        record: 'pickup_taken',
        leadId,
        userId: pickup.assignedUserId,
        at: ctx.now,
        ...(pickup.assignedAt !== undefined ? { takenAfterMs: Math.max(0, ctx.now - pickup.assignedAt) } : {}),
        reason,
      });
      decisions.push(...takenAlerts(pickup, leadId, pickup.assignedUserId, takenBy, ctx, reason));
    }
  }
  return { pickup: { ...pickup, phase, takenAt: ctx.now, takenBy }, decisions };
}

/** What an event by the assigned manager tells about taking the lead, if anything. */
function takenSignalOf(event: WebhookEvent): { signal: TakenSignal; actor: number | undefined } | undefined {
  if (event.kind === 'note') {
    // Webhook note types: 4 common text, 11 outgoing call (10 incoming is the client calling, not a pickup).
    if (event.noteType === 11) return { signal: 'outgoing_call', actor: event.createdUserId };
    if (event.noteType === 4) return { signal: 'note', actor: event.createdUserId };
    return undefined;
  }
  if (event.kind === 'task' && event.isCompleted === true)
    return { signal: 'task_completed', actor: event.modifiedUserId ?? event.responsibleUserId };
  return undefined;
}

const actorOf = (event: WebhookEvent): number | undefined => {
  switch (event.kind) {
    case 'lead':
      return event.action === 'add' ? (event.createdUserId ?? event.modifiedUserId) : event.modifiedUserId;
    case 'note':
      return event.createdUserId;
    case 'task':
      return event.modifiedUserId ?? event.createdUserId;
    default:
      return undefined;
  }
};

const snapshot = (state: LeadState): LeadSnapshot => ({
  leadId: state.leadId,
  tags: state.tags,
  ...(state.pipelineId !== undefined ? { pipelineId: state.pipelineId } : {}),
  ...(state.statusId !== undefined ? { statusId: state.statusId } : {}),
  ...(state.responsibleUserId !== undefined ? { responsibleUserId: state.responsibleUserId } : {}),
});

/**
 * A webhook event arrived for a lead (its state already updated): start, stop or leave the clock. `known` is what
 * the shell read besides the event (the main contact's owner, the lead's fields) for R2 routing.
 */
export function pickupOnEvent(
  pickup: PickupState,
  before: LeadState | undefined,
  after: LeadState,
  event: WebhookEvent,
  ctx: RuleContext,
  known: Pick<LeadSnapshot, 'contactOwnerUserId' | 'fields'> = {},
): PickupResult {
  const { rules } = ctx;
  if (!rules.pickup.enabled || after.deleted) {
    if (after.deleted && (pickup.phase === 'running' || pickup.phase === 'waiting_shift'))
      return stopClock(pickup, after.leadId, 'idle', 'moved_by_other', ctx, 'lead deleted');
    return none(pickup);
  }
  const actor = actorOf(event);
  const robot = isRobot(rules, actor);
  const lead = { ...snapshot(after), ...known };
  const inStage = inPickupStage(rules, after);
  const clockLive = pickup.phase === 'running' || pickup.phase === 'waiting_shift';

  // Taken: the assigned manager acted on the lead after the assignment (R1: a call, a note, a completed task).
  if (pickup.phase === 'running' && pickup.assignedUserId !== undefined && !robot && actor === pickup.assignedUserId) {
    const taken = takenSignalOf(event);
    if (taken && rules.pickup.takenBy.has(taken.signal))
      return stopClock(pickup, lead.leadId, 'taken', taken.signal, ctx, `taken: ${taken.signal} by ${actor}`);
  }

  if (event.kind !== 'lead') return none(pickup);

  // Left the stage.
  if (clockLive && !inStage && before !== undefined && inPickupStage(rules, before)) {
    const byAssigned = !robot && actor === pickup.assignedUserId;
    if (byAssigned && rules.pickup.takenBy.has('left_stage') && !rules.pickup.stageMoveRequiresCall) {
      return stopClock(pickup, lead.leadId, 'taken', 'left_stage', ctx, `taken: moved out of the stage by ${actor}`);
    }
    // A drag by the assigned manager that must come with a call is judged at the deadline from amoCRM's events.
    if (byAssigned && rules.pickup.stageMoveRequiresCall) return none(pickup);
    // Moved by the РОП or a robot: the clock has nothing left to time.
    return stopClock(
      pickup,
      lead.leadId,
      'idle',
      'moved_by_other',
      ctx,
      `left the pickup stage (moved by ${actor ?? 'unknown'})`,
    );
  }

  if (!inStage) return none(pickup);

  // Pinned while the clock runs: the РОП agreed the lead stays with its manager.
  if (clockLive && isPinned(rules, lead.tags)) {
    const stopped = stopClock(
      pickup,
      lead.leadId,
      'pinned',
      'moved_by_other',
      ctx,
      `pinned by tag "${rules.pickup.pinTag}"`,
    );
    return stopped;
  }

  // Entering = created or restored in the stage, or moved into it. An event about a lead whose pickup already
  // started (the sweep found it first, or this is a late copy of the event) is not a new entry.
  const firstSight = event.action === 'add' || event.action === 'restore' || before === undefined;
  const entered = (firstSight && pickup.phase === 'idle') || (before !== undefined && !inPickupStage(rules, before));
  if (entered && !clockLive)
    return begin(pickup, lead, ctx, `entered the pickup stage (${event.action} by ${actor ?? 'unknown'})`);

  // A person changed the responsible while the lead is in the stage: the new responsible gets a fresh clock.
  const responsibleChanged = before !== undefined && before.responsibleUserId !== after.responsibleUserId;
  if (responsibleChanged && !robot && after.responsibleUserId !== pickup.assignedUserId) {
    if (clockLive) {
      const stopped = stopClock(pickup, lead.leadId, 'idle', 'moved_by_other', ctx, `responsible changed by ${actor}`);
      const started = begin(
        { ...stopped.pickup, missedUserIds: pickup.missedUserIds, misses: pickup.misses },
        lead,
        ctx,
        `responsible changed by ${actor}`,
        true,
      );
      return { pickup: started.pickup, decisions: [...stopped.decisions, ...started.decisions] };
    }
    return begin(pickup, lead, ctx, `responsible changed by ${actor} in the pickup stage`, true);
  }
  return none(pickup);
}

/** Maps amoCRM event types (GET /api/v4/events) to the activities the rules understand. */
export function activityFromEventType(type: string): LeadActivity['type'] | undefined {
  switch (type) {
    case 'outgoing_call':
      return 'outgoing_call';
    case 'incoming_call':
      return 'incoming_call';
    case 'common_note_added':
      return 'note';
    case 'task_completed':
      return 'task_completed';
    case 'lead_status_changed':
      return 'status_changed';
    case 'entity_responsible_changed':
      return 'responsible_changed';
    default:
      return undefined;
  }
}

/**
 * The deadline of a clock: the worker re-read the lead and its events from amoCRM. Acts only if the lead is
 * still untaken (SPEC "check then act"): a lost or late webhook never causes a wrong reassignment.
 */
export function pickupOnDeadline(
  pickup: PickupState,
  timerClock: number,
  fresh: { lead: LeadSnapshot | null; activity: LeadActivity[] },
  ctx: RuleContext,
): PickupResult {
  const { rules } = ctx;
  if (timerClock !== pickup.clock) return none(pickup);
  if (fresh.lead === null)
    return stopClock(pickup, pickup.leadId, 'idle', 'moved_by_other', ctx, 'lead no longer exists in amoCRM');
  const lead = fresh.lead;

  if (pickup.phase === 'waiting_shift') {
    if (!inPickupStage(rules, lead)) return { pickup: { ...pickup, phase: 'idle' }, decisions: [] };
    return planAssignment(
      pickup,
      lead,
      ctx,
      pickup.misses > 0 ? 'missed' : lead.responsibleUserId === undefined ? 'new_lead' : 'non_manager_responsible',
      pickup.missedUserIds.at(-1),
    );
  }
  if (pickup.phase !== 'running' || pickup.assignedUserId === undefined) return none(pickup);
  const assigned = pickup.assignedUserId;
  const since = pickup.assignedAt ?? 0;
  const by = fresh.activity.filter((a) => a.byUserId === assigned && a.at * 1000 >= since - 1000);
  const called = by.some((a) => a.type === 'outgoing_call');

  if (!inPickupStage(rules, lead)) {
    const movedByAssigned = by.some((a) => a.type === 'status_changed');
    if (movedByAssigned && rules.pickup.takenBy.has('left_stage') && (!rules.pickup.stageMoveRequiresCall || called)) {
      return stopClock(pickup, lead.leadId, 'taken', 'left_stage', ctx, 'taken: left the stage (seen at the deadline)');
    }
    if (!movedByAssigned)
      return stopClock(
        pickup,
        lead.leadId,
        'idle',
        'moved_by_other',
        ctx,
        'left the pickup stage (seen at the deadline)',
      );
  } else if (isPinned(rules, lead.tags)) {
    return stopClock(pickup, lead.leadId, 'pinned', 'moved_by_other', ctx, `pinned by tag "${rules.pickup.pinTag}"`);
  } else if (lead.responsibleUserId !== assigned) {
    // Reassigned by a person while the webhook was lost: treat it as a new responsible.
    const stopped = stopClock(
      pickup,
      lead.leadId,
      'idle',
      'moved_by_other',
      ctx,
      'responsible changed (seen at the deadline)',
    );
    const started = begin(
      { ...stopped.pickup, missedUserIds: pickup.missedUserIds, misses: pickup.misses },
      lead,
      ctx,
      'responsible changed (seen at the deadline)',
      true,
    );
    return { pickup: started.pickup, decisions: [...stopped.decisions, ...started.decisions] };
  }

  const signals: Array<[TakenSignal, boolean]> = [
    ['outgoing_call', called],
    ['note', by.some((a) => a.type === 'note')],
    ['task_completed', by.some((a) => a.type === 'task_completed')],
  ];
  const taken = signals.find(([signal, seen]) => seen && rules.pickup.takenBy.has(signal));
  if (taken) return stopClock(pickup, lead.leadId, 'taken', taken[0], ctx, `taken: ${taken[0]} (seen at the deadline)`);

  // The manager's time runs from when the assignment reached amoCRM. One that landed late (amoCRM was down, the
  // write waited for a retry) gets its full time from then: nobody is charged a miss for time they never had.
  const extended = extendForLateLanding(pickup, lead, assigned, since, fresh.activity, ctx);
  if (extended) return extended;

  // Missed (R1): violation for the manager, never back to them, a new manager or the РОП after the last miss.
  const name = nameOf(rules);
  const misses = pickup.misses + 1;
  const missed: PickupState = { ...pickup, misses, missedUserIds: [...pickup.missedUserIds, assigned] };
  const dept = departmentFor(rules, lead, pickup);
  const decisions: Decision[] = [
    { kind: 'release_load', leadId: lead.leadId, userId: assigned, reason: 'pickup missed' },
    {
      kind: 'record_violation',
      type: 'pickup_missed',
      leadId: lead.leadId,
      userId: assigned,
      ...(dept ? { department: dept.name } : {}),
      at: ctx.now,
      reason: `${name(assigned)} did not take the lead within ${minutesText(rules.pickup.timeoutMs)} (miss ${misses})`,
      evidence: {
        since: new Date(since).toISOString(),
        decidedAt: new Date(ctx.now).toISOString(),
        lead: {
          pipelineId: lead.pipelineId,
          statusId: lead.statusId,
          responsibleUserId: lead.responsibleUserId,
        },
        config: {
          timeoutMs: rules.pickup.timeoutMs,
          maxMisses: rules.pickup.maxMisses,
          takenBy: [...rules.pickup.takenBy],
        },
        events: [
          { what: `assigned to ${name(assigned)}`, at: new Date(since).toISOString() },
          ...by.map((a) => ({
            what: `${a.type} by the manager (not accepted as taken)`,
            at: new Date(a.at * 1000).toISOString(),
          })),
        ],
      },
    },
  ];
  const next =
    misses >= rules.pickup.maxMisses && dept
      ? fallback(missed, lead, dept, ctx, fallbackReasons.maxMisses(misses))
      : planAssignment(missed, lead, ctx, 'missed', assigned);
  const handed = withMissedViolation(next, lead.leadId, pickup.clock);
  return { pickup: handed.pickup, decisions: [...decisions, ...handed.decisions] };
}

const MISS_ALERTS = new Set(['pickup_missed', 'pickup_fallback', 'nobody_eligible']);

/** The hand-over's alerts carry the missed clock's violation id: the manager who missed contests it from their message. */
function withMissedViolation(result: PickupResult, leadId: number, clock: number): PickupResult {
  const violationId = pickupViolationId(leadId, clock);
  return {
    ...result,
    decisions: result.decisions.map((d): Decision =>
      d.kind === 'alert' && MISS_ALERTS.has(d.template) ? { ...d, params: { ...d.params, violationId } } : d,
    ),
  };
}

/** The id of the violation a missed pickup clock records: one per lead and clock. */
export const pickupViolationId = (leadId: number, clock: number): string => `pickup_missed:${leadId}:${clock}`;

/** A deadline this close to the one the landing time gives is kept: amoCRM's event times are whole seconds. */
export const LATE_LANDING_TOLERANCE_MS = 2_000;

function extendForLateLanding(
  pickup: PickupState,
  lead: LeadSnapshot,
  assigned: number,
  since: number,
  activity: LeadActivity[],
  ctx: RuleContext,
): PickupResult | undefined {
  const landings = activity
    .filter((a) => a.type === 'responsible_changed' && a.toUserId === assigned && a.at * 1000 >= since - 1000)
    .map((a) => a.at * 1000);
  if (landings.length === 0) return undefined;
  const landed = Math.max(...landings);
  const dept = departmentFor(ctx.rules, lead, pickup);
  const due = dept ? deadlineFor(dept, landed, ctx) : undefined;
  if (
    due === undefined ||
    due - ctx.now <= LATE_LANDING_TOLERANCE_MS ||
    due <= (pickup.deadlineAt ?? 0) + LATE_LANDING_TOLERANCE_MS
  )
    return undefined;
  const { rules } = ctx;
  const reason = `the assignment reached amoCRM ${Math.round((landed - since) / 1000)} s after it was decided; the clock runs from then`;
  return {
    pickup: { ...pickup, deadlineAt: due },
    decisions: [
      {
        kind: 'schedule_timer',
        timer: 'pickup_deadline',
        leadId: lead.leadId,
        clock: pickup.clock,
        dueAt: due,
        reason: `${reason}, until ${new Date(due).toISOString()}`,
      },
      {
        kind: 'add_note',
        leadId: lead.leadId,
        text: notes.clockExtended({
          manager: nameOf(rules)(assigned),
          landed: formatTime(landed, rules.timeZone),
          timeout: minutesText(rules.pickup.timeoutMs),
          deadline: formatTime(due, rules.timeZone),
        }),
        reason,
      },
    ],
  };
}

/** The safety sweep found the lead in the pickup stage with no live clock (a webhook never came). */
export function pickupOnSweep(pickup: PickupState, lead: LeadSnapshot, ctx: RuleContext): PickupResult {
  if (!ctx.rules.pickup.enabled || !inPickupStage(ctx.rules, lead)) return none(pickup);
  if (
    pickup.phase === 'running' ||
    pickup.phase === 'waiting_shift' ||
    pickup.phase === 'pinned' ||
    pickup.phase === 'fallback' ||
    pickup.phase === 'taken'
  )
    return none(pickup);
  return begin(pickup, lead, ctx, 'found in the pickup stage by the safety sweep');
}
