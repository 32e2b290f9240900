/**
 * When reports are due (pure). A tick runs every minute (BullMQ job scheduler `reports-tick`); each tick asks
 * which reports are due now and sends those not sent yet (a marker per report and period, plus the outbox's
 * dedupe ids), so each department gets one digest a local day however many ticks and workers there are.
 *
 * - R12 daily digest: once the local time of the day passes `dailyAt` (20:00), for that local day.
 * - R11 monthly ranking: once the local time passes `monthlyAt` on the 1st (or the 2nd or 3rd, when the
 *   service was down on the 1st), for the month before.
 */
import { DateTime } from 'luxon';
import type { Roster } from './roster.js';

export type DueReport =
  { kind: 'daily'; department: string; date: string } | { kind: 'monthly'; department: string; month: string };

/** The last day of a month on which a missed ranking is still sent. */
export const MONTHLY_CATCH_UP_DAYS = 3;

export function dueReports(roster: Roster, now: number): DueReport[] {
  const local = DateTime.fromMillis(now, { zone: roster.timeZone });
  const minute = local.hour * 60 + local.minute;
  const out: DueReport[] = [];
  for (const d of roster.departments) {
    if (minute >= roster.dailyAtMin) out.push({ kind: 'daily', department: d.name, date: local.toISODate() ?? '' });
    if (local.day <= MONTHLY_CATCH_UP_DAYS && (local.day > 1 || minute >= roster.monthlyAtMin)) {
      out.push({ kind: 'monthly', department: d.name, month: local.minus({ months: 1 }).toFormat('yyyy-MM') });
    }
  }
  return out;
}

/** The marker that says a report was sent (and its outbox dedupe id prefix). */
export const reportId = (r: DueReport): string =>
  r.kind === 'daily' ? `report:daily:${r.department}:${r.date}` : `report:monthly:${r.department}:${r.month}`;
