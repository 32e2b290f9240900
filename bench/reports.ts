/**
 * `npm run bench:reports`: how long a month's report takes from the record of a busy account. Figures go to
 * bench/results/reports.json and reports.md. A month of 1,000 new leads a day is about 240,000 records; the
 * pure computation runs on all of them in memory, and the Redis read is measured on a tenth of it (a shared
 * Redis is not filled with a quarter of a million records for a figure) and scaled in the summary.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { computeReport, rankDepartment } from '../src/reports/compute.js';
import { monthPeriod } from '../src/reports/period.js';
import { readRecords, ReportRecordSchema, type ReportRecord } from '../src/reports/records.js';
import type { Roster } from '../src/reports/roster.js';
import { createKeys } from '../src/store/keys.js';
import { createRecordStore, type RobotRecord } from '../src/store/record-store.js';
import { ensureLocalRedis } from '../sim/local-redis.js';

const ZONE = 'Europe/Moscow';
const MANAGERS = Array.from({ length: 20 }, (_, i) => ({ userId: 10_000 + i, name: `Менеджер ${i + 1}` }));
const roster: Roster = {
  timeZone: ZONE,
  departments: [
    { name: 'Отдел 1', managers: MANAGERS.slice(0, 10) },
    { name: 'Отдел 2', managers: MANAGERS.slice(10) },
  ],
  sources: ['Авито', 'Циан', 'Яндекс', 'Домклик', 'Сайт'],
  dailyAtMin: 1200,
  monthlyAtMin: 600,
  unansweredCallsNormal: 0.19,
  contactedToMeetingMin: 0.3,
  ranking: { minLeads: 10, worst: 3, weightFactor: 0.5 },
};

/** A month of `perDay` leads a day: assignment, pickup, calls, stages, a source, now and then a violation. */
function month(perDay: number): RobotRecord[] {
  const out: RobotRecord[] = [];
  const start = Date.parse('2026-11-01T06:00:00Z');
  let lead = 0;
  for (let day = 0; day < 30; day++) {
    for (let i = 0; i < perDay; i++) {
      lead += 1;
      const m = MANAGERS[lead % MANAGERS.length] ?? MANAGERS[0]!;
      const department = lead % MANAGERS.length < 10 ? 'Отдел 1' : 'Отдел 2';
      const t = start + day * 86_400_000 + Math.floor((i / perDay) * 12 * 3600_000);
      const at = (ms: number): string => new Date(t + ms).toISOString();
      const base = { leadId: lead, userId: m.userId, department, reason: 'bench' };
      out.push({ ...base, kind: 'assignment', at: at(0), rule: 'R2' });
      out.push({
        ...base,
        kind: 'action',
        type: 'lead_source',
        source: roster.sources[lead % 5] ?? 'Сайт',
        at: at(1),
        rule: 'R12',
      });
      out.push({
        ...base,
        kind: lead % 7 === 0 ? 'violation' : 'pickup_taken',
        type: lead % 7 === 0 ? 'pickup_missed' : undefined,
        at: at(60_000),
        rule: 'R1',
      } as RobotRecord);
      out.push({
        ...base,
        kind: 'action',
        type: 'call',
        direction: 'out',
        answered: lead % 5 !== 0,
        at: at(120_000),
        rule: 'R12',
      });
      out.push({
        ...base,
        kind: 'action',
        type: 'call',
        direction: 'out',
        answered: lead % 3 !== 0,
        at: at(600_000),
        rule: 'R12',
      });
      out.push({ ...base, kind: 'action', type: 'stage_entered', statusId: 1, at: at(700_000), rule: 'R12' });
      if (lead % 3 === 0)
        out.push({
          ...base,
          kind: 'action',
          type: 'stage_entered',
          milestone: 'meeting_set',
          statusId: 2,
          at: at(800_000),
          rule: 'R12',
        });
      if (lead % 4 === 0)
        out.push({
          ...base,
          kind: 'action',
          type: 'stage_entered',
          milestone: 'meeting_held',
          statusId: 3,
          at: at(900_000),
          rule: 'R12',
        });
    }
  }
  return out;
}

const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;

async function main(): Promise<void> {
  const period = monthPeriod('2026-11', ZONE);
  const full = month(1000);
  const parsed: ReportRecord[] = full.map((r, i) => ReportRecordSchema.parse({ ...r, id: `${i}-0` }));
  const t0 = performance.now();
  const reports = computeReport(parsed, roster, period);
  const ranking = reports.map((r) => rankDepartment(r, roster.ranking));
  const computeMs = ms(t0);

  const redisHandle = await ensureLocalRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const redis = new Redis(redisHandle.url, { maxRetriesPerRequest: null });
  const prefix = `bench-reports-${process.pid}`;
  const keys = createKeys(prefix);
  const store = createRecordStore(redis, keys);
  const sample = month(100);
  let readMs = 0;
  let readCount = 0;
  try {
    for (const [i, r] of sample.sort((a, b) => a.at.localeCompare(b.at)).entries()) await store.append(r, `b${i}`);
    const t1 = performance.now();
    const { records } = await readRecords(redis, keys, period.fromMs, period.toMs);
    readMs = ms(t1);
    readCount = records.length;
  } finally {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) await redis.unlink(...found);
    } while (cursor !== '0');
    redis.disconnect();
    await redisHandle.stop();
  }

  const result = {
    at: new Date().toISOString(),
    month: {
      records: full.length,
      leads: 30_000,
      managers: MANAGERS.length,
      departments: 2,
      computeAndRankMs: computeMs,
      ranked: ranking.map((r) => r.rows.filter((x) => x.position !== undefined).length),
    },
    redisRead: {
      records: readCount,
      ms: readMs,
      perThousandMs: Math.round((readMs / Math.max(1, readCount)) * 1000 * 100) / 100,
    },
  };
  writeFileSync('bench/results/reports.json', `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    'bench/results/reports.md',
    [
      '# Reports benchmark',
      '',
      `Measured ${result.at} on the shared development machine.`,
      '',
      `- A month of 1,000 leads a day (${full.length} records, 20 managers, 2 departments): computing every department and ranking took ${computeMs} ms.`,
      `- Reading ${readCount} records of the month back from Redis (paged XRANGE, zod-checked) took ${readMs} ms, ${result.redisRead.perThousandMs} ms per 1,000 records; the full month would take about ${Math.round((full.length / 1000) * result.redisRead.perThousandMs)} ms.`,
      '',
    ].join('\n'),
  );
  console.log(JSON.stringify(result, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
