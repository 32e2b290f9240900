/**
 * The record of what the robot did and why: every assignment, reassignment and violation, with its reason
 * and explanation. One Redis stream for the whole account (reports read it in order) and one list per lead
 * (admins ask "why did this lead go to Ivanov?").
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export const RECORD_STREAM_MAXLEN = 1_000_000;
export const RECORDS_PER_LEAD = 200;
/** A lead's own record list outlives its last record by this; the stream keeps the account's history. */
export const RECORD_PER_LEAD_TTL_SECONDS = 180 * 24 * 3600;

/**
 * `action` is anything else the robot did to a lead (a task created, a lead moved, a cadence step), with `type`
 * naming it (`cadence_task`, `cadence_end`, `meeting_confirmation`, …).
 */
export type RecordKind = 'assignment' | 'reassignment' | 'fallback' | 'violation' | 'pickup_taken' | 'pickup_started' | 'pickup_waiting' | 'action' | 'intake_paused' | 'intake_resumed';

export interface RobotRecord {
  kind: RecordKind;
  at: string;
  leadId: number;
  /** The manager the record is about: the new responsible, or the one who broke a rule. */
  userId?: number;
  previousUserId?: number;
  /** Violation type (`pickup_missed`, …) or the cause of an assignment. */
  type?: string;
  rule: string;
  /** The regulation line the rule enforces, e.g. `seed 001 «Встреча состоялась»`. */
  seed?: string;
  /** Stable id of a violation (`<type>:<leadId>:<window>`), shared by the record, the alert and reports. */
  violationId?: string;
  department?: string;
  reason: string;
  /** Structured explanation: candidates, who was skipped and why, weights, winner. */
  explanation?: unknown;
  /** Lead activity for reports (src/reports/activity.ts): the stage entered, its milestone, a call's outcome, the source. */
  statusId?: number;
  statusName?: string;
  milestone?: string;
  direction?: 'in' | 'out';
  answered?: boolean;
  source?: string;
}

export interface StoredRecord extends RobotRecord {
  id: string;
}

export interface RecordStore {
  /** Appends records; `dedupeId` makes a retried job write each record once. */
  append(record: RobotRecord, dedupeId: string): Promise<string | undefined>;
  forLead(leadId: number, limit?: number): Promise<StoredRecord[]>;
  /** Records in time order between two instants (inclusive), for reports. */
  range(from: string, to: string, limit?: number): Promise<StoredRecord[]>;
}

export function createRecordStore(redis: Redis, keys: Keys): RecordStore {
  const stream = keys.of('record');
  const perLead = (leadId: number): string => keys.of('lead', leadId, 'record');
  const seen = (dedupeId: string): string => keys.of('record', 'seen', dedupeId);

  const parseEntry = ([id, fields]: [string, string[]]): StoredRecord => {
    const at = fields.indexOf('data');
    return { id, ...(JSON.parse(fields[at + 1] ?? '{}') as RobotRecord) };
  };

  return {
    async append(record, dedupeId) {
      // The mark is set after the write it guards: a crash in between repeats the record, never loses it.
      if ((await redis.exists(seen(dedupeId))) === 1) return undefined;
      const data = JSON.stringify(record);
      const ms = Date.parse(record.at);
      const id = await redis.xadd(stream, 'MAXLEN', '~', String(RECORD_STREAM_MAXLEN), `${ms}-*`, 'data', data).catch(async () =>
        // An older instant than the stream's last id (clock skew between workers) falls back to an automatic id.
        redis.xadd(stream, 'MAXLEN', '~', String(RECORD_STREAM_MAXLEN), '*', 'data', data),
      );
      await redis
        .multi()
        .rpush(perLead(record.leadId), JSON.stringify({ id, ...record }))
        .ltrim(perLead(record.leadId), -RECORDS_PER_LEAD, -1)
        .expire(perLead(record.leadId), RECORD_PER_LEAD_TTL_SECONDS)
        .exec();
      await redis.set(seen(dedupeId), '1', 'EX', 30 * 24 * 3600);
      return id ?? undefined;
    },
    async forLead(leadId, limit = RECORDS_PER_LEAD) {
      const rows = await redis.lrange(perLead(leadId), -limit, -1);
      return rows.map((r) => JSON.parse(r) as StoredRecord);
    },
    async range(from, to, limit = 10_000) {
      const entries = (await redis.xrange(stream, String(Date.parse(from)), String(Date.parse(to)), 'COUNT', limit)) as Array<[string, string[]]>;
      return entries.map(parseEntry);
    },
  };
}
