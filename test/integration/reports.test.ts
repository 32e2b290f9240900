/**
 * R11/R12 on real Redis: the digest, /report and `npm run report` (a separate process) read the same record and
 * show the hand-counted numbers; the monthly ranking stores and applies its factors and the РОП can undo one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { createLogger } from '../../src/lib/logger.js';
import { createManualClock } from '../../src/lib/clock.js';
import { recordLeadActivity } from '../../src/reports/activity.js';
import { loadWeightFactors } from '../../src/reports/ranking-store.js';
import { createReports, type Reports } from '../../src/reports/reports.js';
import { htmlToText } from '../../src/reports/templates.js';
import { applyEvent, emptyLeadState, type LeadState } from '../../src/rules/lead-state.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createKeys, type Keys } from '../../src/store/keys.js';
import { createOutbox, type Outbox } from '../../src/store/outbox.js';
import { createRecordStore, type RecordStore } from '../../src/store/record-store.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { demoRules } from '../helpers/rules.js';
import {
  ANNA,
  BORIS,
  DAY,
  DEPT,
  EXPECTED,
  EXPECTED_TOTAL,
  GALINA,
  LEONID,
  STATUS,
  VIKTOR,
  dayEvents,
  dayRecords,
} from '../helpers/report-scenario.js';

const run = promisify(execFile);

let redis: Redis;
let rules: CompiledRules;
const prefix = uniquePrefix('reports');
let keys: Keys;
let records: RecordStore;
let outbox: Outbox;
let reports: Reports;
const clock = createManualClock('2026-11-24T17:00:00Z');

beforeAll(async () => {
  redis = connectTestRedis();
  rules = await demoRules();
  keys = createKeys(prefix);
  records = createRecordStore(redis, keys);
  outbox = createOutbox(redis, keys);
  reports = createReports({
    redis,
    keys,
    records,
    outbox,
    rules: () => rules,
    clock,
    logger: createLogger({ level: 'silent' }),
  });

  // The day in time order: webhook events go through the recorder as the webhook path calls it (twice: a
  // redelivery writes nothing new); the rules' own records are appended as the rules append them.
  const ruleRecords = dayRecords(rules).filter(
    ({ record }) => record.kind !== 'action' || record.type === 'violation_resolved',
  );
  const timeline = [
    ...dayEvents().map((event) => ({ at: event.receivedAt, event })),
    ...ruleRecords.map((r) => ({ at: r.record.at, rule: r })),
  ].sort((a, b) => a.at.localeCompare(b.at));
  const states = new Map<number, LeadState>();
  let written = 0;
  for (const item of timeline) {
    if ('rule' in item && item.rule) {
      await records.append(item.rule.record, item.rule.dedupeId);
      continue;
    }
    const event = 'event' in item ? item.event : undefined;
    if (!event) continue;
    const leadId = event.kind === 'lead' ? event.leadId : event.kind === 'note' ? event.entityId : 0;
    const before = states.get(leadId);
    const after = applyEvent(before ?? emptyLeadState(leadId), event, event.receivedAt);
    states.set(leadId, after);
    written += await recordLeadActivity(records, event, before, after, rules);
    expect(await recordLeadActivity(records, event, before, after, rules)).toBe(0);
  }
  expect(written).toBe(dayRecords(rules).length - ruleRecords.length);
});

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const line = (s: { received: number; takenInTime: number; missedPickups: number }): string =>
  `Заявок получено: ${s.received}, взято вовремя: ${s.takenInTime}, пропущено: ${s.missedPickups}`;

describe('R12 digest, /report and npm run report from one record', () => {
  it('when the daily digest runs, then one Telegram message for the department carries the hand-counted numbers, and a second run adds nothing', async () => {
    expect(await reports.daily(DEPT, DAY)).toBe(1);
    const [message] = await outbox.pending();
    expect(message).toMatchObject({
      template: 'report_daily',
      audience: { kind: 'department', department: DEPT, chatId: '-1001000000001' },
    });
    const html = String(message?.params.html);
    expect(html.length).toBeLessThanOrEqual(4096);
    const anna = html.slice(html.indexOf('<b>Анна Смирнова</b>'));
    expect(anna.split('\n').slice(0, 6)).toEqual([
      '<b>Анна Смирнова</b> ⚠️',
      line(EXPECTED[ANNA]),
      'Звонков: 5, недозвонов: 50% (2 из 4) ⚠️',
      'Встреч назначено: 2 (67% от 3 контактов), проведено: 1, КП отправлено: 1',
      'Конверсия во «Встреча состоялась»: 1 из 4 (25%)',
      'Нарушений: 0, открытых: 0',
    ]);
    expect(html).toContain('Встреч назначено: 0 (0% от 1 контакта) ⚠️, проведено: 0, КП отправлено: 0'); // Борис
    expect(html).toContain('<b>Без активности</b>: Виктор Попов, Леонид Уволенный');
    const total = html.slice(html.indexOf('<b>Итого по отделу</b>'));
    expect(total.split('\n').slice(1, 6)).toEqual([
      line(EXPECTED_TOTAL),
      'Звонков: 7, недозвонов: 33% (2 из 6)',
      'Встреч назначено: 2 (50% от 4 контактов), проведено: 2, КП отправлено: 1',
      'Конверсия во «Встреча состоялась»: 2 из 7 (29%)',
      'Нарушений: 3, открытых: 1',
    ]);
    expect(html).toContain('<b>Заявки по источникам</b>\nАвито: 2\nЦиан: 1\nДругое: 1\nНе указан: 1');

    expect(await reports.daily(DEPT, DAY)).toBe(0);
    expect((await outbox.pending()).length).toBe(1);
  });

  it('when /report and npm run report (another process) ask for the same day, then they show exactly the digest numbers', async () => {
    const digest = String((await outbox.pending())[0]?.params.html);
    const body = (html: string): string[] => html.split('\n').slice(1);
    const report = await reports.report({ department: DEPT, from: DAY, to: DAY });
    expect(body(report)).toEqual(body(digest));

    const env = { ...process.env, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, NODE_OPTIONS: '' };
    const cli = ['--import', 'tsx', 'src/cli/report.ts', '--from', DAY, '--to', DAY, '--department', DEPT];
    const text = await run(process.execPath, cli, { env });
    expect(text.stdout.trim()).toBe(htmlToText(report));

    const csv = await run(process.execPath, [...cli, '--csv'], { env });
    const [header, ...rows] = csv.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(','));
    const col = (row: string[] | undefined, name: string): number => Number(row?.[header?.indexOf(name) ?? -1]);
    const names: Array<[string, keyof (typeof EXPECTED)[typeof ANNA]]> = [
      ['received', 'received'],
      ['taken_in_time', 'takenInTime'],
      ['missed_pickups', 'missedPickups'],
      ['calls', 'calls'],
      ['calls_answered', 'callsAnswered'],
      ['calls_unanswered', 'callsUnanswered'],
      ['contacted', 'contacted'],
      ['meetings_set', 'meetingsSet'],
      ['meetings_held', 'meetingsHeld'],
      ['offers_sent', 'offersSent'],
      ['violations', 'violations'],
      ['open_violations', 'openViolations'],
    ];
    for (const userId of [ANNA, BORIS, VIKTOR, GALINA, LEONID] as const) {
      const row = rows.find((r) => Number(r[header?.indexOf('user_id') ?? -1]) === userId);
      for (const [csvName, key] of names)
        expect([userId, csvName, col(row, csvName)]).toEqual([userId, csvName, EXPECTED[userId][key]]);
    }
    const totalRow = rows.find((r) => r[1] === 'TOTAL');
    for (const [csvName, key] of names)
      expect([csvName, col(totalRow, csvName)]).toEqual([csvName, EXPECTED_TOTAL[key]]);
    expect(col(totalRow, 'conversion')).toBeCloseTo(2 / 7, 4);
  }, 60_000);
});

describe('R11 monthly ranking applied to distribution', () => {
  const MONTH_PREFIX = uniquePrefix('ranking');
  const mkeys = createKeys(MONTH_PREFIX);
  let monthly: Reports;
  let mrecords: RecordStore;
  let moutbox: Outbox;

  beforeAll(async () => {
    mrecords = createRecordStore(redis, mkeys);
    moutbox = createOutbox(redis, mkeys);
    monthly = createReports({
      redis,
      keys: mkeys,
      records: mrecords,
      outbox: moutbox,
      rules: () => rules,
      clock,
      logger: createLogger({ level: 'silent' }),
    });
    // November by hand (received / held): Анна 20/8 = 40%, Виктор 12/3 = 25%, Борис 20/2 = 10%, Галина 10/1 = 10%, Леонид 5/4 (under 10: unranked).
    const table: Array<[number, number, number]> = [
      [ANNA, 20, 8],
      [VIKTOR, 12, 3],
      [BORIS, 20, 2],
      [GALINA, 10, 1],
      [LEONID, 5, 4],
    ];
    let lead = 1000;
    for (const [userId, received, held] of table) {
      for (let i = 0; i < received; i++) {
        lead += 1;
        const at = new Date(Date.parse('2026-11-02T09:00:00Z') + i * 3600_000).toISOString();
        await mrecords.append(
          { kind: 'assignment', at, leadId: lead, userId, rule: 'R2', reason: 'new lead' },
          `a${lead}`,
        );
        if (i < held)
          await mrecords.append(
            {
              kind: 'action',
              type: 'stage_entered',
              milestone: 'meeting_held',
              statusId: STATUS.meetingHeld,
              at: new Date(Date.parse(at) + 600_000).toISOString(),
              leadId: lead,
              userId,
              rule: 'R12',
              reason: 'held',
            },
            `h${lead}`,
          );
      }
    }
    clock.set('2026-12-01T07:00:00Z');
  });

  afterAll(async () => {
    await dropPrefix(redis, MONTH_PREFIX);
  });

  it('when November is ranked, then the report lists the order with counts, the unranked manager apart, the 3 worst lowered ×0.5 with the reason, and a chart', async () => {
    expect(await monthly.monthly(DEPT, '2026-11')).toBe(1);
    const [message] = await moutbox.pending();
    expect(message?.template).toBe('report_monthly');
    const html = String(message?.params.html);
    expect(html).toContain(
      '1. Анна Смирнова — 40% (8 из 20); нарушений 0, оспорено 0, снято 0\n2. Виктор Попов — 25% (3 из 12); нарушений 0, оспорено 0, снято 0 ⬇️ вес ×0.5 в декабре\n3. Борис Кузнецов — 10% (2 из 20); нарушений 0, оспорено 0, снято 0 ⬇️ вес ×0.5 в декабре\n4. Галина Соколова — 10% (1 из 10); нарушений 0, оспорено 0, снято 0 ⬇️ вес ×0.5 в декабре',
    );
    expect(html).toContain('<b>Вне рейтинга</b> (меньше 10 заявок за месяц):\nЛеонид Уволенный — 80% (4 из 5)');
    expect(html).toContain(
      'Виктор Попов — ×0.5: 2-е место из 4 по конверсии во «Встреча состоялась» за ноябрь 2026 (регламент: у 3 худших в рейтинге уменьшается количество новых лидов)',
    );
    expect(Buffer.from(String(message?.params.chartPngBase64), 'base64').subarray(1, 4).toString()).toBe('PNG');
  }, 30_000);

  it('when December starts in Moscow, then the factors apply (and not an hour before); when the РОП reverts one, it stops applying and the record says who', async () => {
    const before = await loadWeightFactors(redis, mkeys, Date.parse('2026-11-30T20:30:00Z')); // 23:30 MSK on 30 Nov
    expect(before.size).toBe(0);
    const dec = await loadWeightFactors(redis, mkeys, Date.parse('2026-11-30T21:30:00Z')); // 00:30 MSK on 1 Dec
    expect([...dec.keys()].sort()).toEqual([BORIS, VIKTOR, GALINA].sort());
    expect(dec.get(BORIS)?.factor).toBe(0.5);
    const jan = await loadWeightFactors(redis, mkeys, Date.parse('2026-12-31T21:30:00Z')); // 00:30 MSK on 1 Jan
    expect(jan.size).toBe(0);

    clock.set('2026-12-01T08:00:00Z');
    expect(await monthly.revertWeightFactor('2026-12', BORIS, 'Дмитрий Лебедев')).toEqual({
      reverted: true,
      reason: 'reverted by Дмитрий Лебедев',
    });
    expect((await monthly.revertWeightFactor('2026-12', BORIS, 'Дмитрий Лебедев')).reverted).toBe(false);
    const after = await monthly.weightFactors(Date.parse('2026-12-10T09:00:00Z'));
    expect([...after.keys()].sort()).toEqual([VIKTOR, GALINA].sort());
    const account = await mrecords.forLead(0);
    expect(
      account
        .filter((r) => r.type === 'weight_factor_set')
        .map((r) => r.userId)
        .sort(),
    ).toEqual([BORIS, VIKTOR, GALINA].sort());
    expect(account.find((r) => r.type === 'weight_factor_reverted')).toMatchObject({
      userId: BORIS,
      rule: 'R11',
      reason: expect.stringContaining('Дмитрий Лебедев'),
    });

    // The ranking job running again (a retry) neither re-sends nor re-applies the reverted factor.
    expect(await monthly.monthly(DEPT, '2026-11')).toBe(0);
    expect((await monthly.weightFactors(Date.parse('2026-12-10T09:00:00Z'))).has(BORIS)).toBe(false);
  });
});

describe('R11 factor in the atomic pick', () => {
  it('when a lowered weight (1 × 0.5) goes through the Redis script, then 9 picks give 4/1/2/2 for weights 2/0.5/1/1, as the pure SWRR does', async () => {
    const { createDistributionStore } = await import('../../src/store/distribution-store.js');
    const { smoothWeightedRoundRobin } = await import('../../src/rules/distribution/distribution.js');
    const store = createDistributionStore(redis, keys);
    const team = [
      { userId: ANNA, weight: 2, cap: 100 },
      { userId: BORIS, weight: 0.5, cap: 100, factor: { baseWeight: 1, factor: 0.5, reason: 'test' } },
      { userId: VIKTOR, weight: 1, cap: 100 },
      { userId: GALINA, weight: 1, cap: 100 },
    ];
    const won: Record<number, number> = {};
    let current: Record<string, number> = {};
    for (let lead = 1; lead <= 9; lead++) {
      const picked = await store.pick({
        pool: 'factor',
        leadId: 50_000 + lead,
        clock: 1,
        candidates: team,
        strategy: 'smooth_weighted_round_robin',
      });
      const reference = smoothWeightedRoundRobin(current, team);
      current = reference.next;
      expect(picked.winner).toBe(reference.winner);
      if (picked.winner !== undefined) won[picked.winner] = (won[picked.winner] ?? 0) + 1;
    }
    expect(won).toEqual({ [ANNA]: 4, [BORIS]: 1, [VIKTOR]: 2, [GALINA]: 2 });
  });
});

describe('activity records through the effect executor', () => {
  it('when the activity plan of a call note is executed twice (a retried job), then the call is recorded once and counts in the report', async () => {
    const { createEffects } = await import('../../src/effects/index.js');
    const { createMetrics } = await import('../../src/lib/metrics.js');
    const { createFakeAmo } = await import('../helpers/fake-amo.js');
    const { activityPlans } = await import('../../src/reports/activity.js');
    const px = uniquePrefix('activity-plan');
    const k = createKeys(px);
    const recs = createRecordStore(redis, k);
    const effects = createEffects({
      redis,
      keys: k,
      amo: createFakeAmo([]).amo,
      records: recs,
      outbox: createOutbox(redis, k),
      clock,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    try {
      const at = '2026-11-25T09:00:00.000Z';
      const event = {
        deliveryId: 'd',
        account: { subdomain: 's' },
        dedupeKey: 'note:lead:9001',
        receivedAt: at,
        kind: 'note' as const,
        entityType: 'lead' as const,
        entityId: 77,
        noteId: 9001,
        noteType: 11,
        text: '{"DURATION":0}',
        createdUserId: ANNA,
        createdAt: at,
      };
      const after = applyEvent(emptyLeadState(77), event, at);
      const plans = activityPlans(event, undefined, after, rules);
      expect(plans).toHaveLength(1);
      await effects.executor.execute(plans);
      await effects.executor.execute(activityPlans(event, undefined, after, rules));
      const stored = await recs.forLead(77);
      expect(stored.map((r) => [r.type, r.userId, r.answered])).toEqual([['call', ANNA, false]]);
      const { records: read } = await (
        await import('../../src/reports/records.js')
      ).readRecords(redis, k, Date.parse('2026-11-25T00:00:00Z'), Date.parse('2026-11-26T00:00:00Z'));
      expect(read.filter((r) => r.type === 'call')).toHaveLength(1);
    } finally {
      await effects.stop();
      await dropPrefix(redis, px);
    }
  });
});
