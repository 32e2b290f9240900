/**
 * Drives the pure cadence rule over fake time, the way the shell would: plans are "executed" into an in-memory
 * account (open tasks by ref, the rule timer, moves, notes, records), a simulated manager completes tasks (or not)
 * and the timer fires when due. Nothing here computes what the rule should do; tests check the trace against
 * the seeds and hand-made tables.
 */
import type { Effect, Plan } from '../../src/rules/plan.js';
import { cadenceOnDue, cadenceOnLeadEvent, TIMER_KEY } from '../../src/rules/cadence/cadence.js';
import type { CadenceState } from '../../src/rules/cadence/types.js';
import type { LeadEvent, NoteEvent, TaskEvent } from '../../src/rules/events.js';
import { applyEvent, emptyLeadState, type LeadState } from '../../src/rules/lead-state.js';
import type { CompiledRules } from '../../src/rules/types.js';

export const CADENCE_STAGE = 7100007; // Не дозвонились
export const CLOSING_STAGE = 7100008; // На закрытие
export const PIPELINE_ID = 7000001;

export interface CreatedTask {
  ref: string;
  text: string;
  dueAt: number;
  createdAt: number;
  userId: number;
  completedAt?: number;
  closedByRobot?: boolean;
}

export interface Trace {
  tasks: CreatedTask[];
  /** Most call tasks open at once at any point. */
  maxOpenCalls: number;
  moves: Array<{ at: number; statusId: number }>;
  notes: Array<{ at: number; text: string }>;
  records: Array<{ at: number; record: Extract<Effect, { kind: 'record' }>['record'] }>;
  messages: Array<Extract<Effect, { kind: 'message' }>>;
  plans: Plan[];
  state: CadenceState | undefined;
}

const base = { deliveryId: 'd', receivedAt: '2026-01-01T00:00:00.000Z', account: { subdomain: 'demo-realty' } };
let seq = 0;

export function enterEvent(
  leadId: number,
  at: number,
  userId: number,
  statusId = CADENCE_STAGE,
  oldStatusId = 7100005,
): LeadEvent {
  return {
    ...base,
    kind: 'lead',
    action: 'status',
    leadId,
    short: false,
    tags: [],
    customFields: [],
    pipelineId: PIPELINE_ID,
    statusId,
    oldStatusId,
    responsibleUserId: userId,
    modifiedUserId: userId,
    updatedAt: new Date(at).toISOString(),
    dedupeKey: `e${seq++}`,
  };
}

export function taskDoneEvent(leadId: number, taskId: number, at: number, userId: number): TaskEvent {
  return {
    ...base,
    kind: 'task',
    action: 'update',
    taskId,
    entityType: 'lead',
    entityId: leadId,
    isCompleted: true,
    modifiedUserId: userId,
    updatedAt: new Date(at).toISOString(),
    dedupeKey: `t${seq++}`,
  };
}

export function callNoteEvent(
  leadId: number,
  at: number,
  userId: number,
  durationSec: number,
  status: number,
  direction: 'in' | 'out' = 'out',
): NoteEvent {
  return {
    ...base,
    kind: 'note',
    entityType: 'lead',
    entityId: leadId,
    noteId: seq++,
    noteType: direction === 'out' ? 11 : 10,
    text: JSON.stringify({
      UNIQ: `u${seq}`,
      DURATION: durationSec,
      SRC: 'test',
      PHONE: '+70000000000',
      call_status: String(status),
    }),
    createdUserId: userId,
    createdAt: new Date(at).toISOString(),
    dedupeKey: `n${seq}`,
  };
}

/** What the simulated manager does with a call task: complete it `afterMs` after it was created, call first or not. */
export type ManagerMove =
  | { kind: 'complete'; afterMs: number; fromDue?: boolean; call?: { durationSec: number; status: number } }
  | { kind: 'ignore' };

export interface DriveOptions {
  rules: CompiledRules;
  leadId?: number;
  userId: number;
  entryAt: number;
  /** The manager's move for the n-th call task (cycled). */
  moves: ManagerMove[];
  /** Stop driving after this long (ms) of fake time. */
  untilMs?: number;
  maxEvents?: number;
}

export function drive(o: DriveOptions): Trace {
  const leadId = o.leadId ?? 42;
  const trace: Trace = {
    tasks: [],
    maxOpenCalls: 0,
    moves: [],
    notes: [],
    records: [],
    messages: [],
    plans: [],
    state: undefined,
  };
  let lead: LeadState = emptyLeadState(leadId);
  let state: CadenceState | undefined;
  let timer: number | undefined;
  const taskIds = new Map<string, number>();
  const open = new Map<string, CreatedTask>();
  let nextTaskId = 1;
  let n = 0;
  const pending: Array<{ at: number; kind: 'complete'; ref: string; call?: { durationSec: number; status: number } }> =
    [];

  const apply = (plans: Plan[], now: number): void => {
    for (const plan of plans) {
      trace.plans.push(plan);
      if (plan.state && 'cadence' in plan.state) state = plan.state.cadence as CadenceState;
      for (const e of plan.effects) {
        switch (e.kind) {
          case 'create_task': {
            const task: CreatedTask = { ref: e.ref, text: e.text, dueAt: e.dueAt, createdAt: now, userId: e.userId };
            trace.tasks.push(task);
            const id = nextTaskId++;
            taskIds.set(e.ref, id);
            open.set(e.ref, task);
            if (!e.ref.endsWith(':msg')) {
              const move = o.moves[n++ % o.moves.length] ?? { kind: 'ignore' };
              if (move.kind === 'complete')
                pending.push({
                  at: (move.fromDue ? e.dueAt : now) + move.afterMs,
                  kind: 'complete',
                  ref: e.ref,
                  ...(move.call ? { call: move.call } : {}),
                });
            }
            break;
          }
          case 'complete_task': {
            const task = open.get(e.ref);
            if (task) {
              task.completedAt = now;
              task.closedByRobot = true;
              open.delete(e.ref);
            }
            break;
          }
          case 'schedule_timer':
            if (e.key === TIMER_KEY) timer = e.dueAt;
            break;
          case 'cancel_timer':
            timer = undefined;
            break;
          case 'move_lead':
            trace.moves.push({ at: now, statusId: e.statusId });
            lead = applyEvent(
              lead,
              enterEvent(leadId, now, o.userId, e.statusId, lead.statusId),
              new Date(now).toISOString(),
            );
            break;
          case 'add_note':
            trace.notes.push({ at: now, text: e.text });
            break;
          case 'record':
            trace.records.push({ at: now, record: e.record });
            break;
          case 'message':
            trace.messages.push(e);
            break;
          default:
            break;
        }
      }
      const openCalls = [...open.keys()].filter((r) => !r.endsWith(':msg')).length;
      trace.maxOpenCalls = Math.max(trace.maxOpenCalls, openCalls);
    }
  };

  const event = (e: LeadEvent | TaskEvent | NoteEvent, now: number, taskRef?: string): void => {
    const before = lead;
    lead = applyEvent(lead, e, new Date(now).toISOString());
    apply(
      cadenceOnLeadEvent({
        before,
        after: lead,
        event: e,
        state,
        ...(taskRef !== undefined ? { taskRef } : {}),
        ctx: { rules: o.rules, now },
      }),
      now,
    );
  };

  // The lead enters the stage with its manager.
  const first = enterEvent(leadId, o.entryAt, o.userId);
  lead = applyEvent(
    lead,
    { ...first, statusId: 7100005, oldStatusId: 7100004 },
    new Date(o.entryAt - 1000).toISOString(),
  );
  event(first, o.entryAt);

  const until = o.entryAt + (o.untilMs ?? 120 * 24 * 3600 * 1000);
  for (let i = 0; i < (o.maxEvents ?? 2000); i++) {
    if (state === undefined || !['running', 'waiting_end', 'waiting_slot'].includes(state.status)) break;
    pending.sort((a, b) => a.at - b.at);
    const nextDone = pending[0];
    const nextAt = Math.min(nextDone?.at ?? Infinity, timer ?? Infinity);
    if (!Number.isFinite(nextAt) || nextAt > until) break;
    if (nextDone && nextDone.at === nextAt) {
      pending.shift();
      const task = open.get(nextDone.ref);
      if (!task) continue; // the robot closed it already (overdue or stopped)
      if (nextDone.call)
        event(
          callNoteEvent(leadId, nextAt - 60_000, o.userId, nextDone.call.durationSec, nextDone.call.status),
          nextAt - 60_000,
        );
      if (!open.has(nextDone.ref)) continue;
      task.completedAt = nextAt;
      open.delete(nextDone.ref);
      event(taskDoneEvent(leadId, taskIds.get(nextDone.ref) ?? 0, nextAt, o.userId), nextAt, nextDone.ref);
    } else {
      const at = timer as number;
      timer = undefined;
      apply(cadenceOnDue({ leadId, state, ctx: { rules: o.rules, now: at } }), at);
    }
  }
  trace.state = state;
  return trace;
}
