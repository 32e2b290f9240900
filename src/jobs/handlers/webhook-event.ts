/**
 * Use case: one amoCRM event arrives at the worker. Under the lead's lock: finish what an earlier attempt left
 * (intents of a crashed worker), fold the event into the lead's state, let the rules plan, and commit the new
 * state together with the rules' plans in one atomic step. The effects are carried out after the lock is released.
 * A retried job therefore either finds nothing committed (and decides from the same `before`) or finds the event
 * already applied and its plans committed (and decides nothing new): the same decisions either way.
 */
import { createHash } from 'node:crypto';
import type { Effects } from '../../effects/index.js';
import type { Plan } from '../../rules/plan.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { applyEvent, emptyLeadState, leadIdOf, type LeadState } from '../../rules/lead-state.js';
import type { WebhookEvent } from '../../rules/events.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import type { WebhookArchive } from '../../store/webhook-inbox.js';
import type { WebhookEventJob } from '../catalog.js';
import { RetryLaterError } from '../../lib/retry-later.js';

/** Called with the lead's lock held; returns the plans of every rule for this event (nothing is written here). */
export type OnLeadEvent = (input: LeadEventInput) => Promise<Plan[]>;

/** One applied event: the lead's state before and after it, and the event. */
export interface LeadEventInput {
  before: LeadState | undefined;
  after: LeadState;
  event: WebhookEvent;
}

export const LEAD_STATE_FIELD = 'state';
/** The lead's last applied events (short hashes of their dedupe keys): a redelivered job finds its event here. */
export const APPLIED_EVENTS_FIELD = 'events';
export const APPLIED_EVENTS_KEPT = 32;

export function createWebhookEventHandler(deps: {
  leads: LeadStore;
  clock: Clock;
  logger: Logger;
  effects?: Effects;
  onLeadEvent?: OnLeadEvent;
  /** Compacts the delivery's raw body the intake kept plain (see src/store/webhook-inbox.ts). */
  archive?: Pick<WebhookArchive, 'compactRaw'>;
}) {
  return async ({
    event,
    compactRaw,
  }: WebhookEventJob): Promise<{ leadId?: number; changed: boolean; plans: number }> => {
    if (compactRaw && deps.archive) {
      // Housekeeping of the audit copy: a failure here leaves the body plain until it expires, never fails the event.
      await deps.archive.compactRaw(event.deliveryId).catch((err: unknown) => {
        deps.logger.warn(
          { err: { message: (err as Error).message }, deliveryId: event.deliveryId },
          'raw body left uncompacted',
        );
      });
    }
    const leadId = leadIdOf(event);
    if (leadId === undefined) {
      deps.logger.debug({ kind: event.kind, dedupeKey: event.dedupeKey }, 'event not about a lead, nothing to track');
      return { changed: false, plans: 0 };
    }
    try {
      const eventHash = createHash('sha256').update(event.dedupeKey).digest('hex').slice(0, 16);
      const { changed, committed } = await deps.leads.withLock(leadId, async () => {
        if (deps.effects) await deps.effects.executor.resume([leadId]);
        // A job redelivered after its commit (a killed worker, a Redis restart) must not decide again on today's state.
        const applied = deps.effects
          ? (((await deps.effects.executor.store.readState(leadId, [APPLIED_EVENTS_FIELD]))[APPLIED_EVENTS_FIELD] as
              string[] | undefined) ?? [])
          : [];
        if (applied.includes(eventHash)) {
          deps.logger.info(
            { leadId, kind: event.kind, dedupeKey: event.dedupeKey },
            'event already applied to this lead; not deciding again',
          );
          return { changed: false, committed: [] };
        }
        const before = await deps.leads.get(leadId);
        const after = applyEvent(before ?? emptyLeadState(leadId), event, deps.clock.now().toISOString());
        const changed = JSON.stringify(before) !== JSON.stringify(after);
        const plans = deps.onLeadEvent ? await deps.onLeadEvent({ before, after, event }) : [];
        deps.logger.info(
          {
            leadId,
            kind: event.kind,
            action: 'action' in event ? event.action : undefined,
            statusId: after.statusId,
            responsibleUserId: after.responsibleUserId,
            changed,
            plans: plans.map((p) => p.id),
          },
          'lead event applied',
        );
        if (!deps.effects) {
          if (changed) await deps.leads.put(after);
          return { changed, committed: [] };
        }
        const statePlan: Plan = {
          id: `event:${eventHash}`,
          rule: 'lead-state',
          leadId,
          reason: 'webhook event applied',
          state: {
            ...(changed ? { [LEAD_STATE_FIELD]: after } : {}),
            [APPLIED_EVENTS_FIELD]: [...applied, eventHash].slice(-APPLIED_EVENTS_KEPT),
          },
          effects: [],
        };
        return { changed, committed: await deps.effects.executor.commit([statePlan, ...plans]) };
      });
      if (deps.effects && committed.length > 0) await deps.effects.executor.drain(committed);
      return { leadId, changed, plans: committed.length };
    } catch (err) {
      if (err instanceof LeadLockedError) throw new RetryLaterError(err.message, 200 + Math.floor(Math.random() * 300));
      throw err;
    }
  };
}
