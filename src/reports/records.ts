/**
 * The part of the record (src/store/record-store.ts) the reports read, parsed at the boundary: a record written
 * by an older or newer version that does not fit is skipped, not trusted. Reports read nothing but the record.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../store/keys.js';
import { createRecordStore } from '../store/record-store.js';

export const ReportRecordSchema = z.object({
  id: z.string(),
  kind: z.string(),
  at: z.iso.datetime({ offset: true }),
  leadId: z.number().int(),
  userId: z.number().int().optional(),
  previousUserId: z.number().int().optional(),
  type: z.string().optional(),
  rule: z.string().optional(),
  violationId: z.string().optional(),
  department: z.string().optional(),
  reason: z.string().optional(),
  explanation: z.unknown().optional(),
  statusId: z.number().int().optional(),
  statusName: z.string().optional(),
  milestone: z.string().optional(),
  direction: z.enum(['in', 'out']).optional(),
  answered: z.boolean().optional(),
  source: z.string().optional(),
});
export type ReportRecord = z.infer<typeof ReportRecordSchema>;

/** A month of a busy account is about 200,000 records; the read is bounded well above it. */
const MAX_RECORDS = 5_000_000;

/**
 * A record's stream id is its `at` when appended in order, or the append time when an older record arrives after
 * newer ones (a late webhook, a retried job): never earlier than `at`. So the read starts at `from`, runs this much
 * past `to`, and the records are then kept by their own `at`.
 */
export const LATE_RECORD_ALLOWANCE_MS = 24 * 3600_000;

/** Every record whose `at` lies between two instants (epoch ms, inclusive), read in pages so a busy month fits. */
export async function readRecords(
  redis: Redis,
  keys: Keys,
  fromMs: number,
  toMs: number,
): Promise<{ records: ReportRecord[]; skipped: number }> {
  // Through the record store: days older than the stream keeps are read from their daily archives.
  const stored = await createRecordStore(redis, keys).range(new Date(fromMs).toISOString(), new Date(toMs + LATE_RECORD_ALLOWANCE_MS).toISOString(), MAX_RECORDS);
  const records: ReportRecord[] = [];
  let skipped = 0;
  for (const r of stored) {
    const parsed = ReportRecordSchema.safeParse(r);
    if (!parsed.success) skipped += 1;
    else {
      const at = Date.parse(parsed.data.at);
      if (at >= fromMs && at <= toMs) records.push(parsed.data);
    }
  }
  return { records, skipped };
}
