/**
 * Per-lead state the worker keeps, and the pure reducer that folds webhook events into it.
 * The store (src/store/lead-store.ts) persists it; the rules read it.
 */
import { z } from 'zod';
import { InstantSchema, type WebhookEvent } from './events.js';

export const HISTORY_LIMIT = 50;

export const StageChangeSchema = z.object({
  at: InstantSchema,
  pipelineId: z.number().int().optional(),
  statusId: z.number().int().optional(),
  fromStatusId: z.number().int().optional(),
  byUserId: z.number().int().optional(),
});
export type StageChange = z.infer<typeof StageChangeSchema>;

export const LeadStateSchema = z.object({
  leadId: z.number().int(),
  pipelineId: z.number().int().optional(),
  statusId: z.number().int().optional(),
  statusSince: InstantSchema.optional(),
  responsibleUserId: z.number().int().optional(),
  responsibleSince: InstantSchema.optional(),
  /** Last action on the lead by a person (not the robot): a change, note, call or task. */
  lastActivityAt: InstantSchema.optional(),
  lastActivityByUserId: z.number().int().optional(),
  tags: z.array(z.string()),
  deleted: z.boolean(),
  /** Instant of the newest change applied; older redeliveries do not move the state back. */
  updatedAt: InstantSchema.optional(),
  history: z.array(StageChangeSchema),
});
export type LeadState = z.infer<typeof LeadStateSchema>;

export function emptyLeadState(leadId: number): LeadState {
  return { leadId, tags: [], deleted: false, history: [] };
}

/** The lead this event is about, if any (a task or note on a lead counts). */
export function leadIdOf(event: WebhookEvent): number | undefined {
  switch (event.kind) {
    case 'lead':
      return event.leadId;
    case 'note':
      return event.entityType === 'lead' ? event.entityId : undefined;
    case 'task':
      return event.entityType === 'lead' ? event.entityId : undefined;
    case 'unsorted':
      return event.decision === 'accept' ? event.leadId : undefined;
    case 'contact':
      return undefined;
  }
}

const isPerson = (userId: number | undefined): userId is number => userId !== undefined && userId > 0;

const later = (a: string | undefined, b: string): string => (a !== undefined && a > b ? a : b);

/**
 * Folds one event into the lead state. Pure; `now` stands in for events that carry no time of their own
 * (Digital Pipeline short bodies). A lead event older than the state it would overwrite is ignored for the
 * snapshot fields, so an out-of-order redelivery cannot move a lead back.
 */
export function applyEvent(state: LeadState, event: WebhookEvent, now: string): LeadState {
  switch (event.kind) {
    case 'lead': {
      const at = event.updatedAt ?? event.createdAt ?? now;
      if (event.action === 'delete') return { ...state, deleted: true, updatedAt: later(state.updatedAt, at) };
      if (state.updatedAt !== undefined && at < state.updatedAt) return state;
      const next: LeadState = { ...state, deleted: false, updatedAt: at };
      if (event.pipelineId !== undefined) next.pipelineId = event.pipelineId;
      if (event.statusId !== undefined && event.statusId !== state.statusId) {
        next.statusId = event.statusId;
        next.statusSince = at;
        const change: StageChange = { at, statusId: event.statusId };
        if (event.pipelineId !== undefined) change.pipelineId = event.pipelineId;
        const from = event.oldStatusId ?? state.statusId;
        if (from !== undefined) change.fromStatusId = from;
        if (event.modifiedUserId !== undefined) change.byUserId = event.modifiedUserId;
        next.history = [...state.history, change].slice(-HISTORY_LIMIT);
      }
      if (event.responsibleUserId !== undefined && event.responsibleUserId !== state.responsibleUserId) {
        next.responsibleUserId = event.responsibleUserId;
        next.responsibleSince = at;
      }
      if (!event.short) next.tags = event.tags.map((t) => t.name);
      const actor = event.action === 'add' ? (event.createdUserId ?? event.modifiedUserId) : event.modifiedUserId;
      if (isPerson(actor) && event.action !== 'add') {
        next.lastActivityAt = at;
        next.lastActivityByUserId = actor;
      }
      return next;
    }
    case 'note': {
      const at = event.createdAt ?? now;
      if (!isPerson(event.createdUserId)) return state;
      return { ...state, lastActivityAt: later(state.lastActivityAt, at), lastActivityByUserId: event.createdUserId };
    }
    case 'task': {
      const at = event.updatedAt ?? now;
      const actor = event.modifiedUserId ?? event.createdUserId;
      if (!isPerson(actor)) return state;
      return { ...state, lastActivityAt: later(state.lastActivityAt, at), lastActivityByUserId: actor };
    }
    case 'unsorted':
    case 'contact':
      return state;
  }
}
