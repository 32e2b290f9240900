/**
 * The record of what the robot did and why: every assignment, reassignment and violation, with its reason
 * and explanation. One Redis stream for the whole account (reports read it in order) and one list per lead
 * (admins ask "why did this lead go to Ivanov?").
 *
 * Retention: the stream holds the current and the previous UTC day; each older day is rolled up into one
 * deflated archive value per day (`<prefix>:record:day:<YYYY-MM-DD>`, kept RECORD_ARCHIVE_DAYS) that `range` and
 * `forLead` read transparently.
 *
 * Time: a record is found by its own time (`at`), whatever order it arrives in. Its stream id is its `at` when it
 * arrives in order, otherwise the stream's last id (a stream only grows): a late webhook, a retried job, a sweep
 * catching up, a worker whose clock is behind. The id's day (the day whose stream range or archive holds the entry)
 * is then later than the record's own day, and the append notes that day in the late index of the record's own day
 * (`<prefix>:{record-late}:<YYYY-MM-DD>`, a set of days, kept as long as the archives it points at), which `range`
 * reads beside the day itself. Records stored before the index existed are indexed once, at the first roll-up.
 * `range` can also read "as of" a stream id (`upTo`): what a report read when it was sent, later arrivals left out.
 *
 * Per lead, two fields of the lead's hash (`<prefix>:lead:{<id>}`, no key of their own): `records`, the stream ids
 * of its last RECORDS_PER_LEAD records, space-separated (the record itself lives once, in the stream or its day's
 * archive), and `recorded`, the dedupe marks of its records (JSON: dedupe id → expiry, epoch seconds), each kept
 * RECORD_DEDUPE_TTL_SECONDS and dropped at the lead's next record after that. An append keeps the hash at least
 * RECORD_PER_LEAD_TTL_SECONDS. Written before: a list per lead (`<prefix>:lead:{<id>}:record`, still read, and
 * moved into the field at the lead's next record) and a key per mark (`<prefix>:record:seen:<id>`, still honoured;
 * they expire within RECORD_DEDUPE_TTL_SECONDS of the upgrade).
 *
 * Each stream entry holds its record deflated against a preset dictionary of the words records are made of
 * (field `z1`; about 6× smaller than the JSON: an assignment with its explanation is ≈120 bytes instead of ≈760).
 * Entries written before as plain JSON (field `data`) are still read.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import type { RobotRecord } from '../rules/plan.js';
import type { Keys } from './keys.js';

export const RECORDS_PER_LEAD = 200;
/** Days kept in the stream itself: today (UTC) and the day before. */
export const RECORD_STREAM_DAYS = 2;
/** A year of daily archives and a month to spare: monthly rankings and year-on-year reports read them. */
export const RECORD_ARCHIVE_DAYS = 400;
/** A lead's record ids (in its hash) outlive its last record by at least this. */
export const RECORD_PER_LEAD_TTL_SECONDS = 180 * 24 * 3600;
/** A retried job writes each record once: long enough for any retry and outage, short enough to stay small. */
export const RECORD_DEDUPE_TTL_SECONDS = 7 * 24 * 3600;
/** How often one process looks for a day to roll up (by the records' own time, not the wall clock). */
const ROLL_UP_EVERY_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;

export type { RecordKind, RobotRecord } from '../rules/plan.js';

export interface StoredRecord extends RobotRecord {
  id: string;
}

export interface RecordStore {
  /** Appends records; `dedupeId` makes a retried job write each record once. */
  append(record: RobotRecord, dedupeId: string): Promise<string | undefined>;
  /** The lead's last records, in the order they were decided (`at`). */
  forLead(leadId: number, limit?: number): Promise<StoredRecord[]>;
  /**
   * Records whose own time (`at`) lies between two instants (inclusive), in time order, for reports: archived days
   * and the stream alike, late arrivals included. With `upTo` (a stream id, see `lastId`), only records that had
   * arrived by then: a report recomputed later reads what it read when it was sent.
   */
  range(from: string, to: string, limit?: number, upTo?: string): Promise<StoredRecord[]>;
  /** The id of the last record appended so far ('0-0' when none): the `upTo` of a report computed now. */
  lastId(): Promise<string>;
  /**
   * Moves every whole UTC day older than RECORD_STREAM_DAYS (counted back from `now`) out of the stream into its
   * day archive. Idempotent and safe to run from several processes at once (an archive is merged, never lost, and
   * the stream is trimmed only after the archive is written). `append` runs it at most once a minute.
   */
  rollUp(now: Date): Promise<string[]>;
}

/**
 * Version 1 of the dictionary stream entries are deflated with (field `z1`). Never edit it: entries written with it
 * are read with it. New wording that should compress well goes into a new version (`z2`), read beside this one.
 * Deflate finds matches anywhere in it; the most common words come last (the nearest matches are the cheapest).
 */
const RECORD_DICTIONARY_V1 = Buffer.from(
  [
    '"type":"pickup_missed","violationId":"pickup_missed:","previousUserId":',
    '"statusId":,"statusName":"","milestone":"","direction":"out","answered":true,"source":"',
    '"kind":"action","kind":"pickup_taken","kind":"pickup_started","kind":"pickup_waiting","kind":"fallback","kind":"reassignment",',
    'seed 002 «Распределение заявок»","seed 001 «Правило распределения лидов»',
    '"seed":"seed 001 «Передан в работу»: 15 минут, чтобы взять клиента в работу","kind":"violation",',
    ' did not take the lead within 15 мин (miss 1)","reason":"taken: outgoing_call (seen at the deadline)',
    '"reason":"Заявка передана менеджеру : его очередь по весам, он на смене и не превысил лимит",',
    '"skipped":[{"userId":,"reason":"off_shift"},{"userId":,"reason":"missed_this_lead"}],',
    '"explanation":{"department":"Отдел продаж 1","strategy":"smooth_weighted_round_robin","candidates":[',
    '{"userId":91,"weight":1,"cap":10},{"userId":91,"weight":1,"cap":10}],"scores":{"91":-1,"91":1},"winner":91}}',
    '{"kind":"assignment","at":"2026-11-25T10:00:00.000Z","leadId":,"userId":91,"rule":"R2","department":"Отдел продаж 1",',
  ].join(''),
  'utf8',
);

const encodeRecord = (record: RobotRecord): Buffer =>
  deflateRawSync(JSON.stringify(record), { dictionary: RECORD_DICTIONARY_V1 });

function decodeFields(fields: Buffer[]): RobotRecord {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]?.toString('utf8');
    const value = fields[i + 1] as Buffer;
    if (name === 'z1')
      return JSON.parse(inflateRawSync(value, { dictionary: RECORD_DICTIONARY_V1 }).toString('utf8')) as RobotRecord;
    if (name === 'data') return JSON.parse(value.toString('utf8')) as RobotRecord;
  }
  return {} as RobotRecord;
}

type RawEntry = [Buffer, Buffer[]];

/** Fields of the lead's hash: its record ids and the dedupe marks of its records. */
export const RECORD_IDS_FIELD = 'records';
export const RECORD_MARKS_FIELD = 'recorded';

/**
 * KEYS: [1] the lead's hash, [2] the lead's record list written before (moved into the field, then deleted; same
 * slot by the `{<id>}` tag). ARGV: stream id, dedupe id, mark expiry and now (epoch seconds), ids kept, TTL seconds.
 */
const APPEND_TO_LEAD = `
local key, old = KEYS[1], KEYS[2]
local now, keep, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ids = redis.call('LRANGE', old, 0, -1)
if #ids > 0 then redis.call('DEL', old) end
local list = redis.call('HGET', key, '${RECORD_IDS_FIELD}')
if list then for id in string.gmatch(list, '%S+') do ids[#ids + 1] = id end end
ids[#ids + 1] = ARGV[1]
redis.call('HSET', key, '${RECORD_IDS_FIELD}', table.concat(ids, ' ', math.max(1, #ids - keep + 1), #ids))
local marks = {}
local stored = redis.call('HGET', key, '${RECORD_MARKS_FIELD}')
if stored then for id, expires in pairs(cjson.decode(stored)) do if tonumber(expires) > now then marks[id] = expires end end end
marks[ARGV[2]] = tonumber(ARGV[3])
redis.call('HSET', key, '${RECORD_MARKS_FIELD}', cjson.encode(marks))
if redis.call('TTL', key) < ttl then redis.call('EXPIRE', key, ttl) end
return 1
`;

/**
 * KEYS: [1] the stream. ARGV: the record's instant (epoch ms), its encoded body. The entry's id is the instant, or
 * the stream's last id when the instant is older (a stream only grows): never earlier than the record's time.
 */
const XADD_AT_OR_LATER = `
local ok, id = pcall(redis.call, 'XADD', KEYS[1], ARGV[1] .. '-*', 'z1', ARGV[2])
if ok then return id end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then
    return redis.call('XADD', KEYS[1], string.match(info[i + 1], '^(%d+)') .. '-*', 'z1', ARGV[2])
  end
end
return redis.call('XADD', KEYS[1], '*', 'z1', ARGV[2])
`;

const msOf = (id: string): number => Number(id.slice(0, id.indexOf('-')));
const dayOf = (ms: number): string => new Date(ms - (ms % DAY_MS)).toISOString().slice(0, 10);
const startOfDay = (ms: number): number => ms - (ms % DAY_MS);
const dayStartOf = (day: string): number => Date.parse(`${day}T00:00:00.000Z`);
/** A record's own time; an entry whose `at` does not parse (an older or foreign writer) counts at its id. */
const timeOf = (r: StoredRecord): number => {
  const at = Date.parse(r.at);
  return Number.isFinite(at) ? at : msOf(r.id);
};
/** Stream ids compare by (ms, seq). */
const idLess = (a: string, b: string): boolean => {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am < bm || (am === bm && as < bs);
};

export function createRecordStore(redis: Redis, keys: Keys): RecordStore {
  const stream = keys.of('record');
  /** Written before: the lead's list of record ids, and a key per dedupe mark. */
  const oldPerLead = (leadId: number): string => keys.leadPart(leadId, 'record');
  const oldSeen = (dedupeId: string): string => keys.of('record', 'seen', dedupeId);
  const archive = (day: string): string => keys.of('record', 'day', day);
  // One slot for the whole index: a report reads the sets of all its days in one pipeline.
  const lateIndex = (day: string): string => keys.tagged('record-late', day);
  const lateIndexed = keys.tagged('record-late', 'indexed');
  let lastRollUpMs = Number.NEGATIVE_INFINITY;

  /** Notes that a record of `day` sits in the stream range (or archive) of the day of `idMs`. */
  const noteLate = async (day: string, idMs: number): Promise<void> => {
    // As long as the archive it points at (RECORD_ARCHIVE_DAYS after the id's day), counted from the id, not a clock.
    const ttl = Math.max(1, Math.round((startOfDay(idMs) + RECORD_ARCHIVE_DAYS * DAY_MS - idMs) / 1000));
    const key = lateIndex(day);
    await redis.multi().sadd(key, dayOf(idMs)).expire(key, ttl, 'NX').expire(key, ttl, 'GT').exec();
  };

  /** Once per store: records written before the late index existed, whose id's day is not their own, are indexed. */
  const indexOlderRecords = async (now: Date): Promise<void> => {
    if ((await redis.exists(lateIndexed)) === 1) return;
    const today = startOfDay(now.getTime());
    const note = async (r: StoredRecord): Promise<void> => {
      if (dayOf(timeOf(r)) !== dayOf(msOf(r.id))) await noteLate(dayOf(timeOf(r)), msOf(r.id));
    };
    for (let day = today - RECORD_ARCHIVE_DAYS * DAY_MS; day <= today; day += DAY_MS)
      for (const r of await readArchive(dayOf(day))) await note(r);
    for (let start = '-'; ;) {
      const page = (await redis.xrangeBuffer(stream, start, '+', 'COUNT', 1000)) as RawEntry[];
      for (const e of page) await note(parseEntry(e));
      if (page.length < 1000) break;
      start = `(${(page[page.length - 1] as RawEntry)[0].toString('utf8')}`;
    }
    await redis.set(lateIndexed, now.toISOString());
  };

  const parseEntry = ([id, fields]: RawEntry): StoredRecord => ({ id: id.toString('utf8'), ...decodeFields(fields) });

  const readArchive = async (day: string): Promise<StoredRecord[]> => {
    const stored = await redis.getBuffer(archive(day));
    return stored === null ? [] : (JSON.parse(inflateRawSync(stored).toString('utf8')) as StoredRecord[]);
  };

  const store: RecordStore = {
    async append(record, dedupeId) {
      // The mark is set after the write it guards: a crash in between repeats the record, never loses it.
      const lead = keys.lead(record.leadId);
      // eslint-disable-next-line no-restricted-syntax -- Wall clock on purpose: the marks expire like the Redis TTLs beside them, the same for every process.
      const nowSec = Math.floor(Date.now() / 1000);
      // Two slots (the lead's and the old mark's): two commands, not one pipeline.
      const [marks, oldMark] = await Promise.all([
        redis.hget(lead, RECORD_MARKS_FIELD),
        redis.exists(oldSeen(dedupeId)),
      ]);
      const expires = marks === null ? undefined : (JSON.parse(marks) as Record<string, number>)[dedupeId];
      if (oldMark === 1 || (expires !== undefined && expires > nowSec)) return undefined;
      const data = encodeRecord(record);
      const atMs = Date.parse(record.at);
      // eslint-disable-next-line no-restricted-syntax -- a record without a valid time counts when it arrives
      const ms = Number.isFinite(atMs) ? atMs : Date.now();
      const id = (await redis.eval(XADD_AT_OR_LATER, 1, stream, String(ms), data)) as string | null;
      if (id === null) return undefined;
      const idMs = msOf(id);
      // Before the dedupe mark: a crash in between repeats the record (the repeat is indexed), never hides it.
      if (dayOf(idMs) !== dayOf(ms)) await noteLate(dayOf(ms), idMs);
      await redis.eval(
        APPEND_TO_LEAD,
        2,
        lead,
        oldPerLead(record.leadId),
        id,
        dedupeId,
        String(nowSec + RECORD_DEDUPE_TTL_SECONDS),
        String(nowSec),
        String(RECORDS_PER_LEAD),
        String(RECORD_PER_LEAD_TTL_SECONDS),
      );
      // The stream's own time drives the roll-up: its ids only grow, whatever the records' times.
      if (idMs - lastRollUpMs >= ROLL_UP_EVERY_MS) {
        lastRollUpMs = idMs;
        await store.rollUp(new Date(idMs));
      }
      return id;
    },
    async forLead(leadId, limit = RECORDS_PER_LEAD) {
      // Ids moved into the hash come after those still in a list written before (the list is moved at the next record).
      const [listed, field] = await Promise.all([
        redis.lrange(oldPerLead(leadId), 0, -1),
        redis.hget(keys.lead(leadId), RECORD_IDS_FIELD),
      ]);
      const ids = [...listed, ...(field === null ? [] : field.split(' '))].slice(-limit);
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.xrangeBuffer(stream, id, id);
      const live = ((await pipeline.exec()) ?? []).map(([, entries]) => (entries as RawEntry[])[0]);
      const days = new Map<string, Map<string, StoredRecord>>();
      const out: StoredRecord[] = [];
      for (const [i, id] of ids.entries()) {
        const entry = live[i];
        if (entry) {
          out.push(parseEntry(entry));
          continue;
        }
        const day = dayOf(msOf(id));
        if (!days.has(day)) days.set(day, new Map((await readArchive(day)).map((r) => [r.id, r])));
        const archived = days.get(day)?.get(id);
        if (archived) out.push(archived);
      }
      // In the order things happened: a plan's record is written after its amoCRM writes, so a later event of the
      // same lead (the manager's call) can be appended first; `at` is when each was decided.
      return out
        .map((r, i) => ({ r, i, at: Date.parse(r.at) }))
        .sort((a, b) => a.at - b.at || a.i - b.i)
        .map((x) => x.r);
    },
    async range(from, to, limit = 10_000, upTo) {
      const fromMs = Date.parse(from);
      const toMs = Date.parse(to);
      if (!(fromMs <= toMs)) return [];
      // The records' own days, and the days whose part of the stream (or archive) holds their late arrivals.
      const ownDays: string[] = [];
      for (let day = startOfDay(fromMs); day <= toMs; day += DAY_MS) ownDays.push(dayOf(day));
      const pipeline = redis.pipeline();
      for (const day of ownDays) pipeline.smembers(lateIndex(day));
      const lateDays = ((await pipeline.exec()) ?? []).flatMap(([, days]) => (days as string[] | null) ?? []);
      const sourceDays = [...new Set([...ownDays, ...lateDays])].sort();
      const [oldest] = (await redis.xrange(stream, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
      const streamStart = oldest ? msOf(oldest[0]) : Number.POSITIVE_INFINITY;
      const archivedBefore = oldest ? startOfDay(streamStart) + DAY_MS : Number.POSITIVE_INFINITY;
      const found = new Map<string, StoredRecord>();
      const keep = (r: StoredRecord): void => {
        const at = timeOf(r);
        if (at >= fromMs && at <= toMs && (upTo === undefined || !idLess(upTo, r.id))) found.set(r.id, r);
      };
      for (const day of sourceDays) {
        const start = dayStartOf(day);
        // A day the stream starts in may be half rolled up: its archive and the stream are both read.
        if (start < archivedBefore) for (const r of await readArchive(day)) keep(r);
      }
      // In the stream: the period itself (records in order carry their own time as id) and each late day whole.
      const ranges: Array<[number, number]> = [[fromMs, toMs]];
      for (const day of lateDays) ranges.push([dayStartOf(day), dayStartOf(day) + DAY_MS - 1]);
      for (const [a, b] of ranges) {
        if (b < streamStart) continue;
        const entries = (await redis.xrangeBuffer(stream, String(a), String(b))) as RawEntry[];
        for (const e of entries) keep(parseEntry(e));
      }
      return [...found.values()]
        .sort((a, b) => timeOf(a) - timeOf(b) || (idLess(a.id, b.id) ? -1 : idLess(b.id, a.id) ? 1 : 0))
        .slice(0, limit);
    },
    async lastId() {
      const [last] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
      if (last) return last[0];
      // An empty stream (everything rolled up): the newest archive's ids are all older than its trim point.
      const info = (await redis.xinfo('STREAM', stream).catch(() => null)) as unknown[] | null;
      const at = info?.indexOf('last-generated-id') ?? -1;
      return at >= 0 ? String(info?.[at + 1]) : '0-0';
    },
    async rollUp(now) {
      await indexOlderRecords(now);
      const keepFrom = startOfDay(now.getTime()) - (RECORD_STREAM_DAYS - 1) * DAY_MS;
      const rolled: string[] = [];
      for (;;) {
        const [oldest] = (await redis.xrange(stream, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
        if (!oldest || msOf(oldest[0]) >= keepFrom) return rolled;
        const dayStart = startOfDay(msOf(oldest[0]));
        const day = dayOf(dayStart);
        const entries = (await redis.xrangeBuffer(
          stream,
          String(dayStart),
          String(dayStart + DAY_MS - 1),
        )) as RawEntry[];
        const merged = new Map((await readArchive(day)).map((r) => [r.id, r]));
        for (const e of entries) merged.set(e[0].toString('utf8'), parseEntry(e));
        const records = [...merged.values()].sort((a, b) => (idLess(a.id, b.id) ? -1 : 1));
        // The archive expires RECORD_ARCHIVE_DAYS after its day, whenever it is written.
        const ttl = Math.max(1, Math.round((dayStart + RECORD_ARCHIVE_DAYS * DAY_MS - now.getTime()) / 1000));
        await redis.set(archive(day), deflateRawSync(JSON.stringify(records)), 'EX', ttl);
        // Only after the archive is written: entries of this day and older leave the stream.
        await redis.xtrim(stream, 'MINID', String(dayStart + DAY_MS));
        rolled.push(day);
      }
    },
  };
  return store;
}
