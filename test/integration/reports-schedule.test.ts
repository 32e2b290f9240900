/**
 * R11/R12 scheduling over fake time: a tick every 10 minutes for three days, from two report services sharing one
 * Redis, sends each department's digest once a local day at 20:00 and the ranking once on the 1st at 10:00.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { scheduleReportsTick, REPORTS_TICK_EVERY_MS } from '../../src/jobs/handlers/reports.js';
import { createLogger } from '../../src/lib/logger.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createReports } from '../../src/reports/reports.js';
import { dueReports } from '../../src/reports/schedule.js';
import { rosterFromRules } from '../../src/reports/roster.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules } from '../helpers/rules.js';

const prefix = uniquePrefix('report-tick');
let redis: Redis;

beforeAll(() => {
  redis = connectTestRedis();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('report scheduling', () => {
  it('when ticks run every 10 minutes for three days from two services, then each department gets one digest a day at 20:00 Moscow and one ranking on the 1st at 10:00', async () => {
    const rules = await demoRules();
    const keys = createKeys(prefix);
    const records = createRecordStore(redis, keys);
    const outbox = createOutbox(redis, keys);
    const clock = createManualClock('2026-11-29T00:00:00+03:00');
    const logger = createLogger({ level: 'silent' });
    const a = createReports({ redis, keys, records, outbox, rules: () => rules, clock, logger });
    const b = createReports({ redis, keys, records, outbox, rules: () => rules, clock, logger });
    // One lead a day for each department (a day without any activity sends no digest: see the control below).
    for (const [i, date] of ['2026-11-29', '2026-11-30', '2026-12-01'].entries()) {
      for (const [dept, userId] of [
        ['Отдел продаж 1', 9101],
        ['Отдел продаж 2', 9201],
      ] as const) {
        const explanation = {
          department: dept,
          strategy: 'smooth_weighted_round_robin',
          candidates: [],
          skipped: [],
          scores: {},
        };
        await records.append(
          {
            kind: 'assignment',
            at: `${date}T09:00:00.000+03:00`,
            leadId: 100 + i * 10 + (userId % 10),
            userId,
            rule: 'R2',
            reason: 'new lead',
            explanation,
          },
          `a-${date}-${userId}`,
        );
      }
    }
    const fired: string[] = [];
    const end = Date.parse('2026-12-02T00:00:00+03:00');
    while (clock.now().getTime() < end) {
      for (const service of [a, b]) {
        for (const r of await service.tick())
          fired.push(`${clock.now().toISOString()} ${r.kind} ${r.department} ${r.kind === 'daily' ? r.date : r.month}`);
      }
      clock.advance(10 * 60_000);
    }
    // 20:00 Moscow = 17:00 UTC; 10:00 Moscow on 1 December = 07:00 UTC.
    expect(fired.sort()).toEqual(
      [
        '2026-11-29T17:00:00.000Z daily Отдел продаж 1 2026-11-29',
        '2026-11-29T17:00:00.000Z daily Отдел продаж 2 2026-11-29',
        '2026-11-30T17:00:00.000Z daily Отдел продаж 1 2026-11-30',
        '2026-11-30T17:00:00.000Z daily Отдел продаж 2 2026-11-30',
        '2026-12-01T07:00:00.000Z monthly Отдел продаж 1 2026-11',
        '2026-12-01T07:00:00.000Z monthly Отдел продаж 2 2026-11',
        '2026-12-01T17:00:00.000Z daily Отдел продаж 1 2026-12-01',
        '2026-12-01T17:00:00.000Z daily Отдел продаж 2 2026-12-01',
      ].sort(),
    );
    const messages = await outbox.pending(1000);
    expect(messages.filter((m) => m.template === 'report_daily')).toHaveLength(6);
    expect(messages.filter((m) => m.template === 'report_monthly')).toHaveLength(2);
  }, 120_000);

  it('when a department had no activity at all that day, then its digest is not sent (and a day with one lead is: control)', async () => {
    const rules = await demoRules();
    const keys = createKeys(`${prefix}-quiet`);
    const records = createRecordStore(redis, keys);
    const outbox = createOutbox(redis, keys);
    const clock = createManualClock('2026-11-24T20:30:00+03:00');
    const reports = createReports({
      redis,
      keys,
      records,
      outbox,
      rules: () => rules,
      clock,
      logger: createLogger({ level: 'silent' }),
    });
    await records.append(
      {
        kind: 'pickup_started',
        at: '2026-11-24T10:00:00.000+03:00',
        leadId: 5,
        userId: 9201,
        rule: 'R1',
        reason: 'clock',
      },
      'p5',
    );
    expect(await reports.daily('Отдел продаж 1', '2026-11-24')).toBe(0);
    expect(await reports.daily('Отдел продаж 2', '2026-11-24')).toBe(1);
    expect((await outbox.pending()).map((m) => m.audience)).toEqual([
      { kind: 'department', department: 'Отдел продаж 2', chatId: '-1001000000002' },
    ]);
    await dropPrefix(redis, `${prefix}-quiet`);
  });

  it('when the configured time is 18:30 in another zone, then the due reports follow that local time', () => {
    return demoRules().then((rules) => {
      const roster = { ...rosterFromRules(rules), timeZone: 'Asia/Yekaterinburg', dailyAtMin: 18 * 60 + 30 };
      // 18:29 in Yekaterinburg (UTC+5) is 13:29 UTC: nothing due; a minute later both departments are.
      expect(dueReports(roster, Date.parse('2026-11-24T13:29:00Z'))).toEqual([]);
      expect(dueReports(roster, Date.parse('2026-11-24T13:30:00Z'))).toEqual([
        { kind: 'daily', department: 'Отдел продаж 1', date: '2026-11-24' },
        { kind: 'daily', department: 'Отдел продаж 2', date: '2026-11-24' },
      ]);
    });
  });

  it('when the tick is scheduled, then BullMQ holds one job scheduler repeating every minute, and scheduling again keeps one', async () => {
    const queue = new Queue('timers', { connection: connectTestRedis(), prefix: createKeys(prefix).bullPrefix });
    queue.on('error', () => undefined);
    try {
      await scheduleReportsTick(queue);
      await scheduleReportsTick(queue);
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((s) => [s.key, s.every])).toEqual([['reports-tick', REPORTS_TICK_EVERY_MS]]);
    } finally {
      await queue.close();
    }
  });
});
