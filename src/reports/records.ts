/**
 * The part of the record (src/store/record-store.ts) the reports read, parsed at the boundary: a record written
 * by an older or newer version that does not fit is skipped, not trusted. Reports read nothing but the record.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../store/keys.js';

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

const PAGE = 5_000;

/** Every record between two instants (epoch ms, inclusive), read in pages so a month of a busy account fits. */
export async function readRecords(redis: Redis, keys: Keys, fromMs: number, toMs: number): Promise<{ records: ReportRecord[]; skipped: number }> {
  const stream = keys.of('record');
  const records: ReportRecord[] = [];
  let skipped = 0;
  let start = String(fromMs);
  for (;;) {
    const page = (await redis.xrange(stream, start, String(toMs), 'COUNT', PAGE)) as Array<[string, string[]]>;
    for (const [id, fields] of page) {
      const at = fields.indexOf('data');
      let data: unknown;
      try {
        data = JSON.parse(fields[at + 1] ?? 'null');
      } catch {
        data = null;
      }
      const parsed = ReportRecordSchema.safeParse(typeof data === 'object' && data !== null ? { ...data, id } : data);
      if (parsed.success) records.push(parsed.data);
      else skipped += 1;
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || last === undefined) break;
    start = `(${last[0]}`;
  }
  return { records, skipped };
}
