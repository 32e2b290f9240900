/**
 * The service installs its own account webhook, like an amoCRM integration: at start and then on a schedule it makes
 * sure `POST /api/v4/webhooks` has its destination with exactly the events the rules read, and notices when amoCRM
 * disabled it (over 100 invalid answers in two hours, amocrm.md §1): it registers it again and alerts the operator
 * once, because the deliveries that failed are lost and the sweeps have to catch up.
 */
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { AmoClient } from './api/client.js';

/** The events the rules read (src/amocrm/webhook-payload.ts): leads and their notes, and tasks. */
export const WEBHOOK_EVENTS = [
  'add_lead',
  'update_lead',
  'status_lead',
  'responsible_lead',
  'delete_lead',
  'restore_lead',
  'note_lead',
  'add_task',
  'update_task',
  'delete_task',
] as const;

/** How often the registration is checked (amoCRM may disable it at any time). */
export const WEBHOOK_CHECK_EVERY_MS = 10 * 60_000;

export const webhookDestination = (publicUrl: string, token: string): string =>
  `${publicUrl.replace(/\/+$/, '')}/webhooks/amocrm/${token}`;

export type WebhookOutcome = 'present' | 'created' | 'updated' | 're_enabled';

export async function ensureWebhook(deps: {
  amo: Pick<AmoClient, 'listWebhooks' | 'addWebhook' | 'deleteWebhook'>;
  destination: string;
  logger: Logger;
  metrics: Pick<Metrics, 'amoAlerts'>;
  /** Told when amoCRM had disabled the webhook, before it is registered again (the operator chat's incident). */
  onDisabled?: () => Promise<void>;
}): Promise<WebhookOutcome> {
  const log = deps.logger.child({ component: 'webhooks' });
  // The destination carries the token: logs name it by its host and path start only.
  const shown = deps.destination.replace(/\/webhooks\/amocrm\/.*$/, '/webhooks/amocrm/…');
  const found = (await deps.amo.listWebhooks()).find((w) => w.destination === deps.destination);
  const wanted = [...WEBHOOK_EVENTS];
  if (
    found &&
    !found.disabled &&
    wanted.every((e) => found.settings.includes(e)) &&
    found.settings.length === wanted.length
  ) {
    return 'present';
  }
  if (found?.disabled) {
    await deps.onDisabled?.();
    await deps.amo.deleteWebhook(deps.destination);
    await deps.amo.addWebhook(deps.destination, wanted);
    deps.metrics.amoAlerts.inc({ kind: 'webhook_disabled' });
    log.error(
      { alert: 'webhook_disabled', destination: shown },
      'ACTION NEEDED: amoCRM had disabled the account webhook after failed deliveries; it is registered again, but the deliveries that failed are lost (the sweeps catch up): check why this service answered them with errors',
    );
    return 're_enabled';
  }
  await deps.amo.addWebhook(deps.destination, wanted);
  log.info(
    { destination: shown, events: wanted, before: found?.settings },
    found ? 'account webhook events updated' : 'account webhook registered',
  );
  return found ? 'updated' : 'created';
}
