/**
 * Records are found by their own time (`at`), whatever order and whenever they arrive: a webhook retried after an
 * outage, a sweep catching up, a worker whose clock is behind. Across a month boundary (UTC and Moscow), across
 * the stream's roll-up into day archives, and for records stored before the late index existed. A sent ranking
 * reads the same records when it is recomputed later; a report computed afresh counts the late ones.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deflateRawSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { monthPeriod } from '../../src/reports/period.js';
import { readRecords } from '../../src/reports/records.js';
import { createReports } from '../../src/reports/reports.js';
import { htmlToText } from '../../src/reports/templates.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore, type RobotRecord } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules } from '../helpers/rules.js';
import { ANNA, BORIS, DEPT, GALINA, LEONID, STATUS, VIKTOR } from '../helpers/report-scenario.js';

const MSK = 'Europe/Moscow';
const assignment = (leadId: number, at: string, reason = `lead ${leadId}`): RobotRecord => ({
  kind: 'assignment',
  at,
  leadId,
  userId: ANNA,
  department: DEPT,
  rule: 'R2',
  reason,
});
const reasons = (rs: Array<{ reason?: string | undefined }>): Array<string | undefined> => rs.map((r) => r.reason);

let redis: Redis;
const prefixes: string[] = [];
const fresh = (name: string): ReturnType<typeof createKeys> => {
  const p = uniquePrefix(name);
  prefixes.push(p);
  return createKeys(p);
};

beforeAll(() => {
  redis = connectTestRedis();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

describe('record store: late records across a month boundary and the roll-up', () => {
  it('when November records arrive after December ones, some after their day was archived, then each month reads exactly its own records, before and after the next roll-up', async () => {
    const keys = fresh('late');
    const store = createRecordStore(redis, keys);
    // In order: two November days, 1 December, then 3 December, which rolls 29 Nov - 1 Dec up into archives.
    for (const [i, r] of [
      assignment(1, '2026-11-29T10:00:00.000Z', 'nov29'),
      assignment(2, '2026-11-30T20:00:00.000Z', 'nov30'),
      assignment(3, '2026-12-01T09:00:00.000Z', 'dec1'),
      assignment(4, '2026-12-03T10:00:00.000Z', 'dec3'),
    ].entries())
      await store.append(r, `in-order-${i}`);
    expect(await redis.exists(keys.of('record', 'day', '2026-11-30'))).toBe(1);
    const sentUpTo = await store.lastId();

    // Late: a retried webhook of 15 November, one of 30 November 23:30 UTC (1 December 02:30 in Moscow),
    // a call note of 1 December delivered two days later, a worker whose clock is behind on 3 December.
    for (const [i, r] of [
      assignment(5, '2026-11-15T08:00:00.000Z', 'nov15-late'),
      assignment(6, '2026-11-30T23:30:00.000Z', 'nov30-2330-late'),
      assignment(7, '2026-12-01T12:00:00.000Z', 'dec1-late'),
      assignment(8, '2026-12-03T09:59:59.000Z', 'dec3-behind'),
    ].entries())
      expect(await store.append(r, `late-${i}`)).toBeDefined();

    const utcNovember = ['nov15-late', 'nov29', 'nov30', 'nov30-2330-late'];
    const utcDecember = ['dec1', 'dec1-late', 'dec3-behind', 'dec3'];
    const check = async (): Promise<void> => {
      expect(reasons(await store.range('2026-11-01T00:00:00.000Z', '2026-11-30T23:59:59.999Z'))).toEqual(utcNovember);
      expect(reasons(await store.range('2026-12-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z'))).toEqual(utcDecember);
      // The same records by the account's months (Moscow): 30 Nov 23:30 UTC belongs to December there.
      for (const [month, expected] of [
        ['2026-11', ['nov15-late', 'nov29', 'nov30']],
        ['2026-12', ['nov30-2330-late', 'dec1', 'dec1-late', 'dec3-behind', 'dec3']],
      ] as const) {
        const p = monthPeriod(month, MSK);
        const { records } = await readRecords(redis, keys, p.fromMs, p.toMs - 1);
        expect([month, reasons(records)]).toEqual([month, expected]);
      }
      // One day, narrow: only its own records, wherever they sit.
      expect(reasons(await store.range('2026-12-01T10:00:00.000Z', '2026-12-01T12:00:00.000Z'))).toEqual(['dec1-late']);
      for (const [lead, reason] of [
        [5, 'nov15-late'],
        [6, 'nov30-2330-late'],
        [7, 'dec1-late'],
        [1, 'nov29'],
      ] as const)
        expect(reasons(await store.forLead(lead))).toEqual([reason]);
    };
    await check();

    // As of the id a report was sent with, the late ones are left out (the sent numbers stay as they were).
    expect(reasons(await store.range('2026-11-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z', 100, sentUpTo))).toEqual([
      'nov29',
      'nov30',
      'dec1',
      'dec3',
    ]);

    // The late records sit in 3 December's part of the stream; a week later that day is archived too.
    expect(await createRecordStore(redis, keys).rollUp(new Date('2026-12-10T00:00:00.000Z'))).toEqual(['2026-12-03']);
    expect(await redis.xlen(keys.of('record'))).toBe(0);
    await check();
  });

  it('when records were stored by the previous version, late ones under their arrival day, then the first roll-up indexes them and the months read them', async () => {
    const keys = fresh('late-legacy');
    const stream = keys.of('record');
    // An archive of 5 December holding a record of 28 November that arrived that day (the old automatic id).
    const archived = [
      {
        id: `${Date.parse('2026-12-05T07:00:00.000Z')}-0`,
        ...assignment(11, '2026-11-28T10:00:00.000Z', 'archived-late'),
      },
      {
        id: `${Date.parse('2026-12-05T08:00:00.000Z')}-0`,
        ...assignment(12, '2026-12-05T08:00:00.000Z', 'archived-on-time'),
      },
    ];
    await redis.set(keys.of('record', 'day', '2026-12-05'), deflateRawSync(JSON.stringify(archived)));
    // In the stream, a plain-JSON entry of 30 November under an id of 7 December.
    await redis.xadd(
      stream,
      `${Date.parse('2026-12-07T06:00:00.000Z')}-0`,
      'data',
      JSON.stringify(assignment(13, '2026-11-30T10:00:00.000Z', 'stream-late')),
    );

    const store = createRecordStore(redis, keys);
    expect(await store.rollUp(new Date('2026-12-07T06:00:00.000Z'))).toEqual([]);
    expect(await redis.smembers(keys.tagged('record-late', '2026-11-28'))).toEqual(['2026-12-05']);
    expect(await redis.smembers(keys.tagged('record-late', '2026-11-30'))).toEqual(['2026-12-07']);
    expect(reasons(await store.range('2026-11-01T00:00:00.000Z', '2026-11-30T23:59:59.999Z'))).toEqual([
      'archived-late',
      'stream-late',
    ]);
    expect(reasons(await store.range('2026-12-01T00:00:00.000Z', '2026-12-31T23:59:59.999Z'))).toEqual([
      'archived-on-time',
    ]);
  });
});

describe('R11: the November ranking does not depend on the day it runs or the order records arrived in', () => {
  let rules: CompiledRules;
  beforeAll(async () => {
    rules = await demoRules();
  });

  // Received / held in November (Moscow): Анна 20/8, Виктор 12/3, Борис 20/2, Галина 10/1, Леонид 5/4 (unranked).
  const november = (): Array<{ record: RobotRecord; dedupeId: string }> => {
    const out: Array<{ record: RobotRecord; dedupeId: string }> = [];
    let lead = 5000;
    for (const [userId, received, held] of [
      [ANNA, 20, 8],
      [VIKTOR, 12, 3],
      [BORIS, 20, 2],
      [GALINA, 10, 1],
      [LEONID, 5, 4],
    ] as const) {
      for (let i = 0; i < received; i++) {
        lead += 1;
        // Spread over the whole month, the first and last hours included (Moscow is UTC+3).
        const at = Date.parse('2026-10-31T21:00:00.000Z') + ((lead * 7919) % (30 * 24)) * 3600_000;
        out.push({
          record: {
            kind: 'assignment',
            at: new Date(at).toISOString(),
            leadId: lead,
            userId,
            department: DEPT,
            rule: 'R2',
            reason: 'new lead',
          },
          dedupeId: `a${lead}`,
        });
        if (i < held)
          out.push({
            record: {
              kind: 'action',
              type: 'stage_entered',
              milestone: 'meeting_held',
              statusId: STATUS.meetingHeld,
              at: new Date(at + 600_000).toISOString(),
              leadId: lead,
              userId,
              department: DEPT,
              rule: 'R12',
              reason: 'held',
            },
            dedupeId: `h${lead}`,
          });
      }
    }
    return out;
  };

  const rank = async (
    runAt: string,
    order: (xs: ReturnType<typeof november>) => ReturnType<typeof november>,
    before: RobotRecord[] = [],
  ) => {
    const keys = fresh('late-rank');
    const records = createRecordStore(redis, keys);
    for (const [i, r] of before.entries()) await records.append(r, `before-${i}`);
    for (const { record, dedupeId } of order(november())) await records.append(record, dedupeId);
    const outbox = createOutbox(redis, keys);
    const clock = createManualClock(runAt);
    const reports = createReports({
      redis,
      keys,
      records,
      outbox,
      rules: () => rules,
      clock,
      logger: createLogger({ level: 'silent' }),
    });
    expect(await reports.monthly(DEPT, '2026-11')).toBe(1);
    const [message] = await outbox.pending();
    return {
      keys,
      records,
      reports,
      text: htmlToText(String(message?.params.html)),
      factors: await reports.factors('2026-12', DEPT),
    };
  };

  it('when it runs on 1 December with records in order and on 7 December with them shuffled and arriving after December ones, then the ranking and the factors are the same', async () => {
    const first = await rank('2026-12-01T07:00:00.000Z', (xs) =>
      xs.sort((a, b) => Date.parse(a.record.at) - Date.parse(b.record.at)),
    );
    // Reversed, and after records of December: every November record arrives late.
    const decemberFirst = [assignment(9001, '2026-12-05T10:00:00.000Z'), assignment(9002, '2026-12-06T10:00:00.000Z')];
    const second = await rank('2026-12-07T09:00:00.000Z', (xs) => xs.reverse(), decemberFirst);
    expect(first.text).toContain('1. Анна Смирнова — 40% (8 из 20)');
    expect(first.text).toContain('4. Галина Соколова — 10% (1 из 10)');
    expect(second.text).toBe(first.text);
    expect(second.factors.map((f) => [f.userId, f.factor])).toEqual(first.factors.map((f) => [f.userId, f.factor]));
    expect(first.factors.map((f) => f.userId).sort()).toEqual([BORIS, GALINA, VIKTOR].sort());
  }, 60_000);

  it('when a November record arrives after the ranking was sent, then the sent message reads the same when edited, and a report computed afresh counts it', async () => {
    const { records, reports } = await rank('2026-12-01T07:00:00.000Z', (xs) => xs);
    const sentTail = await reports.rankingTail(DEPT, '2026-12');
    await records.append(
      {
        kind: 'assignment',
        at: '2026-11-20T10:00:00.000Z',
        leadId: 7777,
        userId: GALINA,
        department: DEPT,
        rule: 'R2',
        reason: 'late',
      },
      'late-after-send',
    );
    expect((await reports.rankingTail(DEPT, '2026-12'))?.html).toBe(sentTail?.html);
    // The report of the month, computed now, has Галина's eleventh lead.
    const recomputed = htmlToText(await reports.report({ department: DEPT, from: '2026-11-01', to: '2026-11-30' }));
    expect(recomputed).toContain('Галина Соколова\nЗаявок получено: 11,');
    expect(recomputed).toContain('Конверсия во «Встреча состоялась»: 1 из 11 (9%)');
  }, 60_000);
});
