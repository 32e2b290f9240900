/**
 * Use case: one amoCRM event arrives at the worker. Fold it into the lead's state, then let the rules react.
 */
import type { Logger } from '../../lib/logger.js';
import type { Clock } from '../../lib/clock.js';
import { applyEvent, emptyLeadState, leadIdOf, type LeadState } from '../../rules/lead-state.js';
import type { WebhookEvent } from '../../rules/events.js';
import { LeadLockedError, type LeadStore } from '../../store/lead-store.js';
import type { WebhookEventJob } from '../catalog.js';
import { RetryLaterError } from '../worker.js';

/** Called after the state is saved, still holding the lead's lock; the rule engine plugs in here. */
export type OnLeadEvent = (input: { before: LeadState | undefined; after: LeadState; event: WebhookEvent }) => Promise<void>;

export function createWebhookEventHandler(deps: { leads: LeadStore; clock: Clock; logger: Logger; onLeadEvent?: OnLeadEvent }) {
  return async ({ event }: WebhookEventJob): Promise<{ leadId?: number; changed: boolean }> => {
    const leadId = leadIdOf(event);
    if (leadId === undefined) {
      deps.logger.debug({ kind: event.kind, dedupeKey: event.dedupeKey }, 'event not about a lead, nothing to track');
      return { changed: false };
    }
    try {
      return await deps.leads.withLock(leadId, async () => {
        const before = await deps.leads.get(leadId);
        const after = applyEvent(before ?? emptyLeadState(leadId), event, deps.clock.now().toISOString());
        const changed = JSON.stringify(before) !== JSON.stringify(after);
        if (changed) await deps.leads.put(after);
        deps.logger.info(
          { leadId, kind: event.kind, action: 'action' in event ? event.action : undefined, statusId: after.statusId, responsibleUserId: after.responsibleUserId, changed },
          'lead event applied',
        );
        if (deps.onLeadEvent) await deps.onLeadEvent({ before, after, event });
        return { leadId, changed };
      });
    } catch (err) {
      if (err instanceof LeadLockedError) throw new RetryLaterError(err.message, 200 + Math.floor(Math.random() * 300));
      throw err;
    }
  };
}
