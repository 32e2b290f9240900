/**
 * The webhook use case: verify, parse, enqueue (deduplicated atomically with the add), and say what happened as an
 * outcome union. Nothing slow runs here (no rule, no amoCRM call, one Redis round trip): amoCRM waits at most
 * 2 seconds for the answer.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { WebhookEvent } from '../rules/events.js';
import type { WebhookInbox } from '../store/webhook-inbox.js';
import { expandFormBody, FormBodyError } from './form-body.js';
import { isEmptyWebhook, normalizeWebhook } from './webhook-payload.js';

export type WebhookOutcome =
  | { kind: 'accepted'; deliveryId: string; enqueued: number; duplicates: number; rejected: number; ignored: string[] }
  | { kind: 'unknown_token' }
  | { kind: 'wrong_account'; subdomain: string }
  | { kind: 'bad_body'; error: string }
  | { kind: 'unavailable'; error: string };

export interface IncomingWebhook {
  token: string;
  body: string;
  contentType: 'form' | 'json';
  requestId?: string;
  userAgent?: string;
}

/** The token's digest: compared so that neither its length nor its content leaks through timing. */
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface WebhookReceiver {
  receive(input: IncomingWebhook): Promise<WebhookOutcome>;
}

function parseJsonBody(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new FormBodyError('invalid_json', `body is not valid JSON: ${(err as Error).message}`);
  }
}

export function createWebhookReceiver(deps: {
  token: string;
  subdomain: string | undefined;
  timeZone?: string;
  inbox: Pick<WebhookInbox, 'accept'>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}): WebhookReceiver {
  const expectedSubdomain = deps.subdomain?.toLowerCase();
  const expectedDigest = digest(deps.token);
  return {
    async receive(input) {
      if (!timingSafeEqual(digest(input.token), expectedDigest)) return { kind: 'unknown_token' };

      const receivedAt = deps.clock.now().toISOString();
      const deliveryId = createHash('sha256').update(input.body).digest('hex');
      let normalized;
      try {
        const tree = input.contentType === 'json' ? parseJsonBody(input.body) : expandFormBody(input.body);
        normalized = normalizeWebhook(tree, {
          deliveryId,
          receivedAt,
          ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
        });
      } catch (err) {
        if (err instanceof FormBodyError) return { kind: 'bad_body', error: err.message };
        throw err;
      }
      const subdomain = normalized.account?.subdomain.toLowerCase();
      if (subdomain === undefined) return { kind: 'bad_body', error: 'account[subdomain] is missing' };
      if (expectedSubdomain !== undefined && subdomain !== expectedSubdomain)
        return { kind: 'wrong_account', subdomain };
      if (isEmptyWebhook(normalized)) {
        return {
          kind: 'bad_body',
          error: 'no amoCRM event found in the body (expected leads[...], contacts[...], task[...] or unsorted[...])',
        };
      }

      // One logical change can arrive twice in one body (leads[update] and leads[status]): keep the first.
      const unique = new Map<string, WebhookEvent>();
      for (const e of normalized.events) if (!unique.has(e.dedupeKey)) unique.set(e.dedupeKey, e);
      const events = [...unique.values()];
      const deadLetters = normalized.rejected.map((r) => ({
        at: receivedAt,
        deliveryId,
        path: r.path,
        reason: r.reason,
        item: r.item,
      }));
      try {
        // One round trip: raw body, dead letters, and every event enqueued with its dedupe key in the same Lua call.
        const enqueued = await deps.inbox.accept({
          raw: {
            deliveryId,
            receivedAt,
            contentType: input.contentType,
            body: input.body,
            ...(input.requestId !== undefined ? { requestId: input.requestId } : {}),
            ...(input.userAgent !== undefined ? { userAgent: input.userAgent } : {}),
          },
          deadLetters,
          events,
        });
        if (deadLetters.length > 0) {
          deps.metrics.webhookItemsDeadLettered.inc(deadLetters.length);
          deps.logger.warn(
            { deliveryId, rejected: normalized.rejected.map((r) => ({ path: r.path, reason: r.reason })) },
            'webhook items dead-lettered',
          );
        }
        let fresh = 0;
        events.forEach((e, i) => {
          if (enqueued[i] === true) {
            fresh += 1;
            deps.metrics.eventsEnqueued.inc({ kind: e.kind });
          } else deps.metrics.eventsDuplicate.inc({ kind: e.kind });
        });
        return {
          kind: 'accepted',
          deliveryId,
          enqueued: fresh,
          duplicates: normalized.events.length - fresh,
          rejected: normalized.rejected.length,
          ignored: normalized.ignored,
        };
      } catch (err) {
        deps.logger.error({ err, deliveryId }, 'webhook could not be stored or enqueued');
        return { kind: 'unavailable', error: 'the event store is unavailable; amoCRM will retry the delivery' };
      }
    },
  };
}
