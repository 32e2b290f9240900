import { compileRules } from '../../../src/config/compile.js';
import { loadRulesFile } from '../../../src/config/load.js';
import { seedDirectory } from '../../../sim/directory.js';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { computeReport, rankDepartment, type DepartmentReport } from '../../../src/reports/compute.js';
import { daysPeriod } from '../../../src/reports/period.js';
import { ReportRecordSchema, type ReportRecord } from '../../../src/reports/records.js';
import { rosterFromRules, type Roster } from '../../../src/reports/roster.js';
import type { CompiledRules } from '../../../src/rules/types.js';
import { demoRules } from '../../helpers/rules.js';
import {
  ANNA,
  BORIS,
  DAY,
  DEPT,
  EXPECTED,
  EXPECTED_SOURCES,
  EXPECTED_TOTAL,
  GALINA,
  LEONID,
  VIKTOR,
  dayRecords,
} from '../../helpers/report-scenario.js';

let rules: CompiledRules;
let roster: Roster;
let records: ReportRecord[];
beforeAll(async () => {
  rules = await demoRules();
  roster = rosterFromRules(rules);
  records = dayRecords(rules).map(({ record }, i) => ReportRecordSchema.parse({ ...record, id: `${i}-0` }));
});

const counts = (m: object) => {
  const {
    userId: _u,
    name: _n,
    belowYardstick: _b,
    unansweredShare: _s,
    meetingShare: _m,
    conversion: _c,
    ...rest
  } = m as Record<string, unknown>;
  return rest;
};

describe('R12 digest numbers (hand-counted day)', () => {
  let dept: DepartmentReport;
  beforeAll(() => {
    const [report] = computeReport(records, roster, daysPeriod(DAY, DAY, 'Europe/Moscow'), DEPT);
    if (!report) throw new Error('no report');
    dept = report;
  });

  it('when the day is computed, then every manager has the hand-counted numbers', () => {
    expect(dept.managers.map((m) => m.userId)).toEqual([ANNA, BORIS, VIKTOR, GALINA, LEONID]);
    for (const m of dept.managers) expect(counts(m)).toEqual(EXPECTED[m.userId as keyof typeof EXPECTED]);
    expect(counts(dept.totals)).toEqual(EXPECTED_TOTAL);
  });

  it('when shares are computed, then they follow the table and the seed 004 yardsticks flag Анна (calls) and Борис (meetings)', () => {
    const anna = dept.managers.find((m) => m.userId === ANNA);
    const boris = dept.managers.find((m) => m.userId === BORIS);
    const galina = dept.managers.find((m) => m.userId === GALINA);
    expect(anna?.unansweredShare).toBeCloseTo(0.5);
    expect(anna?.meetingShare).toBeCloseTo(2 / 3);
    expect(anna?.conversion).toBeCloseTo(0.25);
    expect(anna?.belowYardstick).toEqual({ unanswered: true, meetings: false });
    expect(boris?.unansweredShare).toBe(0);
    expect(boris?.meetingShare).toBe(0);
    expect(boris?.belowYardstick).toEqual({ unanswered: false, meetings: true });
    expect(galina?.conversion).toBe(1);
    expect(galina?.unansweredShare).toBeUndefined();
    expect(galina?.belowYardstick).toEqual({ unanswered: false, meetings: false });
    expect(dept.totals.unansweredShare).toBeCloseTo(2 / 6);
    expect(dept.totals.conversion).toBeCloseTo(2 / 7);
  });

  it('when new leads carry a source field or tag, then they are counted by the configured sources of seed 002 §1.3', () => {
    expect(dept.sources).toEqual(EXPECTED_SOURCES);
  });

  it('when the other department is computed, then it sees its own lead and source and none of the first one', () => {
    const [other] = computeReport(records, roster, daysPeriod(DAY, DAY, 'Europe/Moscow'), 'Отдел продаж 2');
    expect(other?.totals.received).toBe(1);
    expect(other?.sources).toEqual([{ source: 'Циан', leads: 1 }]);
  });

  it('when the period is the day before, then only the late-evening records of the 23rd count', () => {
    const [before] = computeReport(records, roster, daysPeriod('2026-11-23', '2026-11-23', 'Europe/Moscow'), DEPT);
    const anna = before?.managers.find((m) => m.userId === ANNA);
    expect(anna?.received).toBe(1);
    expect(anna?.calls).toBe(1);
    expect(anna?.callsUnanswered).toBe(1);
    expect(before?.totals.missedPickups).toBe(0);
  });
});

describe('R11 ranking', () => {
  /** A month by hand: received / held per manager; minLeads 10, worst 3. */
  const month = (table: Array<[number, number, number]>): DepartmentReport => ({
    department: DEPT,
    totals: {} as DepartmentReport['totals'],
    sources: [],
    managers: table.map(([userId, received, held]) => ({
      userId,
      name: roster.departments[0]?.managers.find((m) => m.userId === userId)?.name ?? String(userId),
      received,
      meetingsHeld: held,
      conversion: held / received,
      takenInTime: 0,
      missedPickups: 0,
      calls: 0,
      callsAnswered: 0,
      callsUnanswered: 0,
      contacted: 0,
      meetingsSet: 0,
      offersSent: 0,
      violations: 0,
      openViolations: 0,
      disputedViolations: 0,
      withdrawnViolations: 0,
      belowYardstick: { unanswered: false, meetings: false },
    })),
  });

  it('when ranked, then conversion orders them, a tie goes to more leads, the one under the minimum is listed unranked, and the 3 worst get the factor', () => {
    // Анна 8/20 = 40%, Виктор 3/12 = 25%, Борис 2/20 = 10%, Галина 1/10 = 10% (fewer leads), Леонид 4/5 under 10 leads.
    const r = rankDepartment(
      month([
        [ANNA, 20, 8],
        [BORIS, 20, 2],
        [VIKTOR, 12, 3],
        [GALINA, 10, 1],
        [LEONID, 5, 4],
      ]),
      { minLeads: 10, worst: 3, weightFactor: 0.5 },
    );
    expect(r.rows.map((x) => [x.userId, x.position, x.factor])).toEqual([
      [ANNA, 1, undefined],
      [VIKTOR, 2, 0.5],
      [BORIS, 3, 0.5],
      [GALINA, 4, 0.5],
      [LEONID, undefined, undefined],
    ]);
    expect(r.worst.sort()).toEqual([BORIS, VIKTOR, GALINA].sort());
  });

  it('when only two managers reach the minimum, then only the worse of them is lowered (the best never is)', () => {
    const r = rankDepartment(
      month([
        [ANNA, 10, 1],
        [BORIS, 12, 6],
        [VIKTOR, 3, 0],
      ]),
      { minLeads: 10, worst: 3, weightFactor: 0.7 },
    );
    expect(r.worst).toEqual([ANNA]);
    expect(r.rows.find((x) => x.userId === ANNA)?.factor).toBe(0.7);
    expect(r.rows.find((x) => x.userId === VIKTOR)?.position).toBeUndefined();
  });
});

describe('reports config', () => {
  it('when a report stage name does not exist in the pipelines, then a warning names its path and the stages that exist, and only that milestone is off', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const config = structuredClone(loaded.config);
    config.rules.reports.stages.meetingHeld = ['Встреча прошла'];
    const compiled = compileRules(config, loaded.calendar, seedDirectory());
    if (!compiled.ok) throw new Error('a wrong report stage must not stop the rules');
    expect(compiled.warnings.map((w) => `${w.path}: ${w.message}`).join('\n')).toMatch(
      /rules\.reports\.stages\.meetingHeld\[0\].*Встреча состоялась/,
    );
    expect([...(compiled.rules.reports?.milestones.values() ?? [])].sort()).toEqual(['meeting_set', 'offer_sent']);
  });

  it('when the section is left out, then the defaults of seed 001 and seed 004 apply', () => {
    const r = rules.reports;
    expect(r?.dailyAtMin).toBe(20 * 60);
    expect(r?.unansweredCallsNormal).toBe(0.19);
    expect(r?.contactedToMeetingMin).toBe(0.3);
    expect(r?.ranking).toEqual({ minLeads: 10, worst: 3, weightFactor: 0.5 });
    expect([...(r?.milestones ?? new Map())].sort()).toEqual([
      [7100011, 'meeting_set'],
      [7100012, 'meeting_held'],
      [7100013, 'offer_sent'],
    ]);
  });
});

describe('roster from the record alone (npm run report without a saved roster)', () => {
  it('when only records are at hand, then departments come from assignment explanations and activity, managers by id, and the numbers are unchanged', async () => {
    const { rosterFromRecords } = await import('../../../src/reports/roster.js');
    const bare = rosterFromRecords(records, 'Europe/Moscow');
    expect(bare.departments.map((d) => d.name).sort()).toEqual(['Отдел продаж 1', 'Отдел продаж 2']);
    const [report] = computeReport(records, bare, daysPeriod(DAY, DAY, 'Europe/Moscow'), DEPT);
    const anna = report?.managers.find((m) => m.userId === ANNA);
    expect(anna?.name).toBe(`#${ANNA}`);
    expect(counts(anna ?? {})).toEqual(EXPECTED[ANNA]);
    // Галина and Борис appear through their assignment, pickup or activity records; Виктор and Леонид, with none, do not.
    expect(report?.managers.map((m) => m.userId).sort()).toEqual([ANNA, BORIS, GALINA].sort());
  });
});
