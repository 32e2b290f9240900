/**
 * What the dry run replays: the raw webhook bodies the receiver kept (`RAW_BODY_RETENTION`, `<prefix>:{<prefix>}:webhook:raw:*`), parsed
 * again by the same parser into domain events, and the record's figures of the same window.
 */
import type { Redis } from 'ioredis';
import { expandFormBody } from '../amocrm/form-body.js';
import { normalizeWebhook } from '../amocrm/webhook-payload.js';
import { scanKeys } from '../lib/redis.js';
import type { WebhookEvent } from '../rules/events.js';
import type { Keys } from '../store/keys.js';
import type { RecordStore } from '../store/record-store.js';
import type { RawDelivery, WebhookInbox } from '../store/webhook-inbox.js';

export interface KeptEvents {
  deliveries: number;
  events: WebhookEvent[];
  unreadable: number;
}

/** Every kept delivery received in [from, to], as events (deduplicated as the receiver does). */
export async function keptEvents(
  redis: Redis,
  keys: Keys,
  inbox: Pick<WebhookInbox, 'getRaw'>,
  window: { from: number; to: number },
  timeZone?: string,
): Promise<KeptEvents> {
  const prefix = keys.raw('');
  const ids = (await scanKeys(redis, `${prefix}*`)).map((k) => k.slice(prefix.length));
  const deliveries: RawDelivery[] = [];
  for (const id of ids) {
    const d = await inbox.getRaw(id);
    const at = d ? Date.parse(d.receivedAt) : NaN;
    if (d && at >= window.from && at <= window.to) deliveries.push(d);
  }
  deliveries.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  const seen = new Set<string>();
  const events: WebhookEvent[] = [];
  let unreadable = 0;
  for (const d of deliveries) {
    try {
      const tree: unknown = d.contentType === 'json' ? JSON.parse(d.body) : expandFormBody(d.body);
      const normalized = normalizeWebhook(tree, {
        deliveryId: d.deliveryId,
        receivedAt: d.receivedAt,
        ...(timeZone ? { timeZone } : {}),
      });
      for (const e of normalized.events) {
        if (seen.has(e.dedupeKey)) continue;
        seen.add(e.dedupeKey);
        events.push(e);
      }
    } catch {
      unreadable += 1;
    }
  }
  return { deliveries: deliveries.length, events, unreadable };
}

/** Per user: leads the robot really gave them, and violations really recorded, in the window. */
export async function recordedCounts(
  records: Pick<RecordStore, 'range'>,
  window: { from: number; to: number },
): Promise<Map<number, { assigned: number; violations: number }>> {
  const out = new Map<number, { assigned: number; violations: number }>();
  for (const r of await records.range(
    new Date(window.from).toISOString(),
    new Date(window.to).toISOString(),
    100_000,
  )) {
    if (r.userId === undefined) continue;
    const c = out.get(r.userId) ?? { assigned: 0, violations: 0 };
    if (r.kind === 'assignment' || r.kind === 'reassignment' || r.kind === 'fallback') c.assigned += 1;
    if (r.kind === 'violation') c.violations += 1;
    out.set(r.userId, c);
  }
  return out;
}
