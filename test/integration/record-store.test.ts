import { afterAll, describe, expect, it } from '@jest/globals';
import { createKeys } from '../../src/store/keys.js';
import { createRecordStore, type RobotRecord } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

const rec = (leadId: number, at: string, reason: string): RobotRecord => ({
  kind: 'assignment',
  at,
  leadId,
  userId: 9101,
  rule: 'R2',
  reason,
});

describe('record store: the stream keeps two days, older days are rolled up into archives that still read', () => {
  const redis = connectTestRedis();
  const prefix = uniquePrefix('rec');
  const keys = createKeys(prefix);
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  // Four days of records, two leads; the last append is on 2026-03-04, so 03-01 and 03-02 are archived.
  const input: RobotRecord[] = [
    rec(1, '2026-03-01T09:00:00.000Z', 'a1'),
    rec(2, '2026-03-01T10:00:00.000Z', 'b1'),
    rec(1, '2026-03-02T23:59:59.000Z', 'a2'),
    rec(2, '2026-03-03T00:00:00.000Z', 'b2'),
    rec(1, '2026-03-03T12:00:00.000Z', 'a3'),
    rec(2, '2026-03-04T08:00:00.000Z', 'b3'),
  ];

  it('when records span four days, then two days are archived, the stream holds the last two, and nothing is lost or doubled', async () => {
    const store = createRecordStore(redis, keys);
    for (const [i, r] of input.entries()) await store.append(r, `d${i}`);
    // A retried job appends the same record again: written once.
    expect(await store.append(input[5]!, 'd5')).toBeUndefined();

    expect(await redis.xlen(keys.of('record'))).toBe(3); // b2, a3, b3 (03-03 and 03-04)
    expect(await redis.exists(keys.of('record', 'day', '2026-03-01'))).toBe(1);
    expect(await redis.exists(keys.of('record', 'day', '2026-03-02'))).toBe(1);
    expect(await redis.exists(keys.of('record', 'day', '2026-03-03'))).toBe(0);
    // 03-01 was rolled up by the append at 03-03T12:00Z (the first one with 03-01 outside today and yesterday):
    // it expires 400 days after 03-01, i.e. 397 days 12 hours later. 03-02 went at 03-04T08:00Z: 397 days 16 hours.
    expect(await redis.ttl(keys.of('record', 'day', '2026-03-01'))).toBe(397 * 86400 + 12 * 3600);
    expect(await redis.ttl(keys.of('record', 'day', '2026-03-02'))).toBe(397 * 86400 + 16 * 3600);

    const all = await store.range('2026-03-01T00:00:00.000Z', '2026-03-04T23:59:59.999Z');
    expect(all.map((r) => r.reason)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    const middle = await store.range('2026-03-01T09:30:00.000Z', '2026-03-03T06:00:00.000Z');
    expect(middle.map((r) => r.reason)).toEqual(['b1', 'a2', 'b2']);

    expect((await store.forLead(1)).map((r) => r.reason)).toEqual(['a1', 'a2', 'a3']);
    expect((await store.forLead(2)).map((r) => r.reason)).toEqual(['b1', 'b2', 'b3']);
    // The ids live in the lead's hash (no key of their own), which a record keeps for 180 days.
    expect(await redis.exists(keys.leadPart(1, 'record'))).toBe(0);
    const ttl = await redis.ttl(keys.lead(1));
    expect(ttl).toBeGreaterThan(179 * 86400);
    expect(ttl).toBeLessThanOrEqual(180 * 86400);
  });

  it('when the roll-up runs again or from a second process, then the archives and the stream stay the same', async () => {
    const other = createRecordStore(redis, keys);
    expect(await other.rollUp(new Date('2026-03-04T09:00:00.000Z'))).toEqual([]);
    // A day later 03-03 goes too, merged with nothing; 03-01 is untouched.
    expect(await other.rollUp(new Date('2026-03-05T00:00:01.000Z'))).toEqual(['2026-03-03']);
    expect(await redis.xlen(keys.of('record'))).toBe(1);
    const all = await other.range('2026-03-01T00:00:00.000Z', '2026-03-05T00:00:00.000Z');
    expect(all.map((r) => r.reason)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    expect((await other.forLead(2)).map((r) => r.reason)).toEqual(['b1', 'b2', 'b3']);
  });

  it('when a record decided earlier is appended after a later one, then forLead returns them in the order they were decided', async () => {
    const store = createRecordStore(redis, keys);
    // The reassignment was decided at 10:00:00 but its append waited for amoCRM; the call at 10:00:05 came first.
    await store.append({ ...rec(7, '2026-03-05T10:00:05.000Z', 'taken'), kind: 'pickup_taken' }, 'late-1');
    await store.append({ ...rec(7, '2026-03-05T10:00:00.000Z', 'reassigned'), kind: 'reassignment' }, 'late-2');
    expect((await store.forLead(7)).map((r) => r.reason)).toEqual(['reassigned', 'taken']);
  });

  it('when a record with its explanation is appended, then its stream entry is compact (under 200 bytes, the JSON over 600) and reads back whole; a plain JSON entry of an older version still reads', async () => {
    const p = uniquePrefix('rec-z');
    const k = createKeys(p);
    const store = createRecordStore(redis, k);
    const full: RobotRecord = {
      kind: 'assignment',
      at: '2026-03-06T10:00:00.000Z',
      leadId: 2_000_000,
      userId: 9101,
      rule: 'R2',
      seed: 'seed 002 «Распределение заявок»',
      department: 'Отдел продаж 1',
      reason: 'Заявка передана менеджеру Иванову: его очередь по весам, он на смене и не превысил лимит',
      explanation: {
        department: 'Отдел продаж 1',
        strategy: 'smooth_weighted_round_robin',
        candidates: [
          { userId: 9101, weight: 2, cap: 10 },
          { userId: 9102, weight: 1, cap: 10 },
        ],
        skipped: [{ userId: 9105, reason: 'off_shift' }],
        scores: { 9101: -1, 9102: 1 },
        winner: 9101,
      },
    };
    expect(Buffer.byteLength(JSON.stringify(full))).toBeGreaterThan(600);
    const id = (await store.append(full, 'z-1')) as string;
    const [[, fields]] = (await redis.xrangeBuffer(k.of('record'), id, id)) as [[Buffer, Buffer[]]];
    expect(fields[0]?.toString()).toBe('z1');
    expect(fields[1]?.length).toBeLessThan(200);
    expect(await store.forLead(2_000_000)).toEqual([{ id, ...full }]);

    // An entry written as plain JSON before the compact encoding.
    const legacy = { ...full, at: '2026-03-06T10:00:01.000Z', reason: 'legacy' };
    const legacyId = (await redis.xadd(
      k.of('record'),
      `${Date.parse(legacy.at)}-*`,
      'data',
      JSON.stringify(legacy),
    )) as string;
    const read = await store.range('2026-03-06T00:00:00.000Z', '2026-03-07T00:00:00.000Z');
    expect(read.map((r) => r.reason)).toEqual([full.reason, 'legacy']);
    expect(read[1]?.id).toBe(legacyId);
    await dropPrefix(redis, p);
  });

  it('when records are appended, then no key per lead or per mark is left: the ids and the marks are fields of the lead hash, and a mark lasts 7 days', async () => {
    const p = uniquePrefix('rec-fold');
    const k = createKeys(p);
    const store = createRecordStore(redis, k);
    const before = Math.floor(Date.now() / 1000);
    const id = (await store.append(rec(31, '2026-03-06T10:00:00.000Z', 'one'), 'fold-1')) as string;
    expect(await store.append(rec(31, '2026-03-06T10:00:00.000Z', 'one'), 'fold-1')).toBeUndefined();
    expect(await redis.exists(k.of('record', 'seen', 'fold-1'))).toBe(0);
    expect(await redis.exists(k.leadPart(31, 'record'))).toBe(0);
    expect(await redis.hget(k.lead(31), 'records')).toBe(id);
    const marks = JSON.parse((await redis.hget(k.lead(31), 'recorded')) as string) as Record<string, number>;
    // 7 days = 604,800 s from the append (give or take the seconds the test took).
    expect(marks['fold-1']).toBeGreaterThanOrEqual(before + 604_800);
    expect(marks['fold-1']).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 604_800);
    // Positive control: another dedupe id of the same lead is written.
    expect(await store.append(rec(31, '2026-03-06T10:00:01.000Z', 'two'), 'fold-2')).toBeDefined();
    expect((await store.forLead(31)).map((r) => r.reason)).toEqual(['one', 'two']);
    await dropPrefix(redis, p);
  });

  it('when a mark is older than 7 days, then the same record is written again and the expired mark is dropped', async () => {
    const p = uniquePrefix('rec-exp');
    const k = createKeys(p);
    const store = createRecordStore(redis, k);
    const now = Math.floor(Date.now() / 1000);
    // Marks as an append 7 days and a second ago left them (expired), and one still live.
    await redis.hset(k.lead(32), 'recorded', JSON.stringify({ 'exp-1': now - 1, 'live-1': now + 3600 }));
    expect(await store.append(rec(32, '2026-03-06T10:00:00.000Z', 'again'), 'exp-1')).toBeDefined();
    expect(await store.append(rec(32, '2026-03-06T10:00:00.000Z', 'live'), 'live-1')).toBeUndefined();
    const marks = JSON.parse((await redis.hget(k.lead(32), 'recorded')) as string) as Record<string, number>;
    expect(Object.keys(marks).sort()).toEqual(['exp-1', 'live-1']);
    expect(marks['exp-1']).toBeGreaterThan(now + 604_000);
    await store.append(rec(32, '2026-03-06T10:00:01.000Z', 'other'), 'other-1');
    await redis.hset(
      k.lead(32),
      'recorded',
      JSON.stringify({
        ...(JSON.parse((await redis.hget(k.lead(32), 'recorded')) as string) as object),
        'exp-1': now - 1,
      }),
    );
    await store.append(rec(32, '2026-03-06T10:00:02.000Z', 'third'), 'third-1');
    expect(Object.keys(JSON.parse((await redis.hget(k.lead(32), 'recorded')) as string) as object).sort()).toEqual([
      'live-1',
      'other-1',
      'third-1',
    ]);
    await dropPrefix(redis, p);
  });

  it('when a lead has a record list and marks written by the version before, then they are honoured, read, and the list moves into the hash at the next record', async () => {
    const p = uniquePrefix('rec-old');
    const k = createKeys(p);
    const store = createRecordStore(redis, k);
    const oldId = (await redis.xadd(
      k.of('record'),
      `${Date.parse('2026-03-06T09:00:00.000Z')}-*`,
      'data',
      JSON.stringify(rec(33, '2026-03-06T09:00:00.000Z', 'old')),
    )) as string;
    await redis.rpush(k.leadPart(33, 'record'), oldId);
    await redis.expire(k.leadPart(33, 'record'), 100 * 86400);
    await redis.set(k.of('record', 'seen', 'old-1'), '1', 'EX', 3 * 86400);
    expect((await store.forLead(33)).map((r) => r.reason)).toEqual(['old']);
    // The old mark still stops a retried job.
    expect(await store.append(rec(33, '2026-03-06T09:00:00.000Z', 'old'), 'old-1')).toBeUndefined();
    const id = (await store.append(rec(33, '2026-03-06T10:00:00.000Z', 'new'), 'new-1')) as string;
    expect(await redis.exists(k.leadPart(33, 'record'))).toBe(0);
    expect(await redis.hget(k.lead(33), 'records')).toBe(`${oldId} ${id}`);
    expect((await store.forLead(33)).map((r) => r.reason)).toEqual(['old', 'new']);
    await dropPrefix(redis, p);
  });

  it('when a lead has more than 200 records, then its hash keeps the last 200 ids', async () => {
    const p = uniquePrefix('rec-cap');
    const k = createKeys(p);
    const store = createRecordStore(redis, k);
    const ids: string[] = [];
    for (let i = 0; i < 203; i++)
      ids.push(
        (await store.append(
          rec(34, new Date(Date.parse('2026-03-06T10:00:00.000Z') + i * 1000).toISOString(), `r${i}`),
          `cap-${i}`,
        )) as string,
      );
    expect((await redis.hget(k.lead(34), 'records'))?.split(' ')).toEqual(ids.slice(3));
    await dropPrefix(redis, p);
  });
});
