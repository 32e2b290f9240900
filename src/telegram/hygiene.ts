/**
 * The bot's manners, as pure functions of (message, settings, now): quiet hours per chat, one alert per lead per
 * violation type per window, bursts grouped into one digest, silent sends for low priority. The delivery shell
 * keeps the state (when a chat was last alerted about what) in Redis and asks these functions what to do.
 */
import { DateTime } from 'luxon';
import type { CompiledTelegram, ShiftSpan } from '../rules/types.js';
import type { OutboxEntry, OutboxMessage } from '../store/outbox.js';

export const DEFAULT_TELEGRAM: CompiledTelegram = {
  quietByChat: new Map(),
  quietByDepartment: new Map(),
  quietByUserId: new Map(),
  alertWindowMs: 4 * 3600_000,
  burstThreshold: 5,
  escalateAfterMs: 30 * 60_000,
  escalateAtOnce: new Set(),
  silentTemplates: new Set(['pickup_taken', 'report_daily', 'digest']),
  linkCodeTtlMs: 24 * 3600_000,
  sweepIntervalMs: 30_000,
};

/** Who a chat belongs to, for picking its quiet hours. */
export type ChatOwner = { kind: 'department'; department: string } | { kind: 'manager'; userId: number };

/** Quiet hours of a chat: its own entry, else its department's or manager's, else the default; none when "off". */
export function quietHoursFor(t: CompiledTelegram, chatId: string, owner: ChatOwner): ShiftSpan | undefined {
  const own = t.quietByChat.get(chatId);
  if (own !== undefined) return own ?? undefined;
  const byOwner =
    owner.kind === 'department' ? t.quietByDepartment.get(owner.department) : t.quietByUserId.get(owner.userId);
  if (byOwner !== undefined) return byOwner ?? undefined;
  return t.quietHours;
}

/**
 * When the quiet hours that `now` falls in end (epoch ms), or undefined when `now` is outside them. Spans are local
 * minutes; an overnight span ("21:00-09:00") has its end past 1440 and covers the early hours of the next day too.
 */
export function quietUntil(span: ShiftSpan | undefined, now: number, zone: string): number | undefined {
  if (!span) return undefined;
  const local = DateTime.fromMillis(now, { zone });
  const minute = local.hour * 60 + local.minute;
  const midnight = local.startOf('day');
  // Today's span, or yesterday's overnight span reaching into this morning.
  if (minute >= span.startMin && minute < span.endMin) return midnight.plus({ minutes: span.endMin }).toMillis();
  if (span.endMin > 1440 && minute < span.endMin - 1440)
    return midnight.plus({ minutes: span.endMin - 1440 }).toMillis();
  return undefined;
}

/** The violation alert key: one alert per chat, lead and violation type per window (SPEC "Alerts"). */
export function alertKey(message: Pick<OutboxMessage, 'template' | 'params' | 'leadId'>): string | undefined {
  if (message.template !== 'violation') return undefined;
  const leadId = message.leadId ?? message.params.leadId;
  const type = message.params.type;
  if (leadId === undefined || typeof type !== 'string') return undefined;
  return `${String(leadId)}:${type}`;
}

export function suppressedByWindow(lastAlertAt: number | undefined, now: number, windowMs: number): boolean {
  return lastAlertAt !== undefined && now - lastAlertAt < windowMs;
}

export function isSilent(t: CompiledTelegram, template: string): boolean {
  return t.silentTemplates.has(template);
}

/** Reports are never grouped or held as alerts are grouped; they are sent as they are. */
export const isReport = (template: string): boolean => template === 'report_daily' || template === 'report_monthly';

/** The incident a message belongs to in a chat: the lead and the rule family (pickup, or a violation type). */
export function incidentFamily(message: Pick<OutboxMessage, 'template' | 'params'>): string | undefined {
  switch (message.template) {
    case 'lead_assigned':
    case 'pickup_missed':
    case 'pickup_reassigned_away':
    case 'pickup_fallback':
    case 'nobody_eligible':
    case 'pickup_taken':
    case 'pickup_reassigned_by_head':
      return 'pickup';
    case 'violation':
    case 'violation_resolved':
      return typeof message.params.type === 'string' ? `violation-${message.params.type}` : undefined;
    case 'violation_disputed':
    case 'violation_decided':
      return typeof message.params.ref === 'string' ? `dispute-${message.params.ref}` : undefined;
    default:
      return undefined;
  }
}

export interface Queued {
  deliveryId: string;
  message: OutboxEntry;
  /** Set when the chat already has a message for this incident: the item edits it, it makes no noise. */
  edits: boolean;
}

export type Unit<T extends Queued> = { kind: 'single'; item: T } | { kind: 'digest'; items: T[] };

/**
 * Groups what waits for one chat: when more than `threshold` items would each start a new message, they go out as
 * one digest (placed where the first of them was); edits of existing messages and reports go one by one.
 */
export function groupBurst<T extends Queued>(items: T[], threshold: number): Array<Unit<T>> {
  const fresh = items.filter((i) => !i.edits && !isReport(i.message.template));
  if (fresh.length <= threshold) return items.map((item) => ({ kind: 'single', item }));
  const grouped = new Set(fresh);
  const out: Array<Unit<T>> = [];
  let placed = false;
  for (const item of items) {
    if (!grouped.has(item)) out.push({ kind: 'single', item });
    else if (!placed) {
      out.push({ kind: 'digest', items: fresh });
      placed = true;
    }
  }
  return out;
}
