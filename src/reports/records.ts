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
 * Every record whose `at` lies between two instants (epoch ms, inclusive), late arrivals included, and the stream
 * id they were read up to. Given `upTo` (the id a sent report was read up to), records that arrived after it are
 * left out, so a sent report recomputed later gives the numbers it was sent with.
 */
export async function readRecords(
  redis: Redis,
  keys: Keys,
  fromMs: number,
  toMs: number,
  upTo?: string,
): Promise<{ records: ReportRecord[]; skipped: number; upTo: string }> {
  // Through the record store: days older than the stream keeps are read from their daily archives.
  const store = createRecordStore(redis, keys);
  // Read before the records: one that arrives during the read is left for the next report, not half counted.
  const asOf = upTo ?? (await store.lastId());
  const stored = await store.range(new Date(fromMs).toISOString(), new Date(toMs).toISOString(), MAX_RECORDS, asOf);
  const records: ReportRecord[] = [];
  let skipped = 0;
  for (const r of stored) {
    const parsed = ReportRecordSchema.safeParse(r);
    if (!parsed.success) skipped += 1;
    else records.push(parsed.data);
  }
  return { records, skipped, upTo: asOf };
}
