/**
 * Use cases of R11 and R12: compute from the record, render, queue for Telegram. The daily digest, the monthly
 * ranking, `report()` (the bot's /report) and `npm run report` read the same records through `computeReport`.
 */
import { DEFAULT_DISPUTES } from '../rules/disputes/config.js';
import { decisionOverdue } from '../rules/disputes/policy.js';
import { disputeTexts } from '../rules/disputes/texts.js';
import { createViolationLedger } from '../store/violation-ledger.js';
import type { Redis } from 'ioredis';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { CompiledRules } from '../rules/types.js';
import type { Keys } from '../store/keys.js';
import type { Outbox, OutboxMessage } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import { renderRankingChart } from './chart.js';
import { computeReport, rankDepartment, type DepartmentReport, type Ranking } from './compute.js';
import { daysPeriod, monthPeriod, nextMonth, previousMonth } from './period.js';
import { createRankingStore, loadWeightFactors, type WeightFactor } from './ranking-store.js';
import { readRecords } from './records.js';
import { createRosterStore, rosterFromRules, type Roster, type RosterDepartment } from './roster.js';
import { dueReports, reportId, type DueReport } from './schedule.js';
import { factorReason, renderDaily, renderMonthly, renderPeriod, splitMessage } from './templates.js';

export interface ReportsDeps {
  redis: Redis;
  keys: Keys;
  records: RecordStore;
  outbox: Outbox;
  rules: () => CompiledRules;
  clock: Clock;
  logger: Logger;
}

export interface ReportRequest {
  department?: string;
  /** Local dates YYYY-MM-DD, both included. */
  from: string;
  to: string;
}

export interface Reports {
  /** The numbers of a period as Telegram HTML (may exceed one message: split it with `splitMessage`). */
  report(request: ReportRequest): Promise<string>;
  /** R12: queues the digest of a department for a local day; returns the number of messages queued. */
  daily(department: string, date: string): Promise<number>;
  /** R11: ranks a department's month, applies the factors for the next month, queues the report with its chart. */
  monthly(department: string, month: string): Promise<number>;
  /** R11's ranking of a month as it would be computed now, without saving, applying or sending anything. */
  rankingPreview(department: string, month: string): Promise<Ranking | undefined>;
  /** Sends every report due now that was not sent yet; the `reports-tick` job calls it every minute. */
  tick(): Promise<DueReport[]>;
  /** The РОП's undo of a weight factor in the month it applies to ("YYYY-MM"). */
  revertWeightFactor(month: string, userId: number, by: string): Promise<{ reverted: boolean; reason: string }>;
  /** The factors of the month they apply to ("YYYY-MM"), reverted ones included, e.g. for the РОП's undo buttons. */
  factors(month: string, department?: string): Promise<Array<{ userId: number } & WeightFactor>>;
  /** Factors in force now, for `RuleContext.weightFactors`. */
  weightFactors(now?: number): Promise<Map<number, { factor: number; reason: string }>>;
  /**
   * The last part of a department's ranking message as it reads now (a reverted factor shown as such) and the
   * managers whose factor the РОП can still revert: the part that carries the undo buttons, for editing in place.
   */
  rankingTail(department: string, month: string): Promise<RankingTail | undefined>;
}

/** The message part with the undo buttons: its HTML, the month the factors apply to, who can still be reverted. */
export interface RankingTail {
  html: string;
  month: string;
  revertable: Array<{ userId: number; name: string }>;
}

const MARKER_TTL_S = 40 * 24 * 3600;

/** The last part of the ranking's HTML and the managers whose factor in `month` is still in force. */
function tailOf(
  html: string,
  ranking: Ranking,
  month: string,
  factors: Array<{ userId: number } & WeightFactor>,
): RankingTail {
  const parts = splitMessage(html);
  const name = (userId: number): string => ranking.rows.find((r) => r.userId === userId)?.name ?? `#${userId}`;
  return {
    html: parts[parts.length - 1] ?? html,
    month,
    revertable: factors
      .filter((f) => f.revertedBy === undefined)
      .map((f) => ({ userId: f.userId, name: name(f.userId) })),
  };
}

const isEmpty = (r: DepartmentReport): boolean =>
  r.sources.length === 0 && Object.values(r.totals).every((v) => v === 0 || v === undefined);
const CLAIM_TTL_S = 600;

/** Disputes of violations recorded within this are looked at for the digest's waiting line. */
const WAITING_LOOKBACK_MS = 90 * 24 * 3600 * 1000;

export function createReports(deps: ReportsDeps): Reports {
  const { redis, keys, logger } = deps;
  const rosters = createRosterStore(redis, keys);
  const rankings = createRankingStore(redis, keys, deps.records, () => deps.clock.now());
  const ledger = createViolationLedger(redis, keys);

  const currentRoster = async (): Promise<Roster> => {
    const roster = rosterFromRules(deps.rules());
    // Saved so `npm run report` names departments and managers exactly as the service does.
    await rosters.save(roster);
    return roster;
  };
  const department = (roster: Roster, name: string): RosterDepartment => {
    const d = roster.departments.find((x) => x.name === name);
    if (!d)
      throw new Error(`unknown department "${name}"; departments: ${roster.departments.map((x) => x.name).join(', ')}`);
    return d;
  };
  const compute = async (
    roster: Roster,
    period: { fromMs: number; toMs: number },
    dept?: string,
    upTo?: string,
  ): Promise<DepartmentReport[]> => (await computeAsOf(roster, period, dept, upTo)).reports;
  /** A report and the record stream id it was read up to (a sent ranking keeps it to read the same records later). */
  const computeAsOf = async (
    roster: Roster,
    period: { fromMs: number; toMs: number },
    dept?: string,
    upTo?: string,
  ): Promise<{ reports: DepartmentReport[]; upTo: string }> => {
    const read = await readRecords(redis, keys, period.fromMs, period.toMs, upTo);
    if (read.skipped > 0)
      logger.warn({ skipped: read.skipped }, 'records that do not fit the report schema were skipped');
    // The ledger's states as they are now: a violation withdrawn after its day leaves the numbers computed later.
    const states = await ledger.states(
      read.records.filter((r) => r.kind === 'violation' && r.violationId !== undefined).map((r) => r.violationId!),
    );
    return { reports: computeReport(read.records, roster, period, dept, states), upTo: read.upTo };
  };
  /** The digest's line of disputes the department's РОП has not decided (those past `decideWithin` counted apart). */
  const waitingDisputes = async (name: string): Promise<string> => {
    const nowMs = deps.clock.now().getTime();
    const cfg = deps.rules().disputes ?? DEFAULT_DISPUTES;
    const waiting = (await ledger.range(nowMs - WAITING_LOOKBACK_MS, nowMs)).filter(
      (e) => e.department === name && e.state === 'disputed',
    );
    if (waiting.length === 0) return '';
    const overdue = waiting.filter((e) => decisionOverdue(e, cfg, nowMs)).length;
    return disputeTexts.digestWaiting(waiting.length, overdue, cfg);
  };
  const queue = async (
    dept: RosterDepartment,
    template: 'report_daily' | 'report_monthly',
    id: string,
    html: string,
    reason: string,
    chart?: Buffer,
    tail?: RankingTail,
  ): Promise<number> => {
    const parts = splitMessage(html);
    const at = deps.clock.now().toISOString();
    let queued = 0;
    for (const [i, part] of parts.entries()) {
      const message: OutboxMessage = {
        at,
        audience: {
          kind: 'department',
          department: dept.name,
          ...(dept.chatId !== undefined ? { chatId: dept.chatId } : {}),
        },
        template,
        params: {
          html: part,
          ...(i === 0 && chart ? { chartPngBase64: chart.toString('base64') } : {}),
          // R11: the РОП's undo buttons go under the last part, the one that lists the lowered weights.
          ...(tail && i === parts.length - 1 && tail.revertable.length > 0
            ? { factorsMonth: tail.month, revertable: tail.revertable }
            : {}),
        },
        reason: `${reason} (part ${i + 1} of ${parts.length})`,
      };
      if (await deps.outbox.push(message, `${id}:${i + 1}`)) queued += 1;
    }
    return queued;
  };

  const reports: Reports = {
    async report({ department: name, from, to }) {
      const roster = await currentRoster();
      if (name !== undefined) department(roster, name);
      const period = daysPeriod(from, to, roster.timeZone);
      const result = await compute(roster, period, name);
      if (result.length === 0) return 'Нет отделов для отчёта.';
      return result.map((r) => renderPeriod(r, roster, period.fromDate, period.toDate)).join('\n\n');
    },

    async daily(name, date) {
      const roster = await currentRoster();
      const dept = department(roster, name);
      const [report] = await compute(roster, daysPeriod(date, date, roster.timeZone), name);
      if (!report) return 0;
      if (isEmpty(report)) {
        // A digest of zeros (a Sunday, a holiday) is noise that teaches people to mute the bot.
        logger.info({ department: name, date }, 'no activity in the department that day; no digest sent');
        return 0;
      }
      const html = [renderDaily(report, roster, date), await waitingDisputes(name)].filter(Boolean).join('\n\n');
      const queued = await queue(
        dept,
        'report_daily',
        `report:daily:${name}:${date}`,
        html,
        `R12 daily digest of ${name} for ${date}`,
      );
      logger.info(
        { department: name, date, queued, received: report.totals.received, calls: report.totals.calls },
        'daily digest queued',
      );
      return queued;
    },

    async rankingPreview(name, month) {
      const roster = await currentRoster();
      department(roster, name);
      const [report] = (await computeAsOf(roster, monthPeriod(month, roster.timeZone), name)).reports;
      return report ? rankDepartment(report, roster.ranking) : undefined;
    },

    async monthly(name, month) {
      const roster = await currentRoster();
      const dept = department(roster, name);
      const period = monthPeriod(month, roster.timeZone);
      const read = await computeAsOf(roster, period, name);
      const [report] = read.reports;
      if (!report) return 0;
      if (isEmpty(report)) {
        logger.info({ department: name, month }, 'no activity in the department that month; no ranking and no factors');
        return 0;
      }
      const computed = { ...rankDepartment(report, roster.ranking), recordsUpTo: read.upTo };
      const ranked = computed.rows.filter((r) => r.position !== undefined).length;
      const reasons = new Map(
        computed.worst.map((userId) => [
          userId,
          factorReason(month, computed.rows.find((r) => r.userId === userId)?.position ?? 0, ranked),
        ]),
      );
      const applies = monthPeriod(nextMonth(month), roster.timeZone);
      const { ranking, factors } = await rankings.save(
        { month: nextMonth(month), rankedMonth: month, validFromMs: applies.fromMs, validToMs: applies.toMs },
        computed,
        reasons,
        deps.clock.now().toISOString(),
      );
      const html = renderMonthly(ranking, report, roster, month, factors);
      const tail = tailOf(html, ranking, nextMonth(month), factors);
      let chart: Buffer | undefined;
      try {
        chart = await renderRankingChart(ranking, `Конверсия во встречу, ${month}`);
      } catch (err) {
        // The numbers matter more than the picture: the report goes out without it, and the operator sees why.
        logger.error(
          { err, department: name, month },
          'ranking chart could not be rendered; sending the report without it',
        );
      }
      const queued = await queue(
        dept,
        'report_monthly',
        `report:monthly:${name}:${month}`,
        html,
        `R11 ranking of ${name} for ${month}`,
        chart,
        tail,
      );
      logger.info(
        { department: name, month, ranked, lowered: factors.map((f) => f.userId), queued },
        'monthly ranking queued and weight factors applied',
      );
      return queued;
    },

    async tick() {
      const rules = deps.rules();
      if (rules.reports !== undefined && !rules.reports.enabled) return [];
      const roster = rosterFromRules(rules);
      // Kept fresh for `npm run report` even on days nothing is due.
      await rosters.save(roster);
      const sent: DueReport[] = [];
      for (const due of dueReports(roster, deps.clock.now().getTime())) {
        const marker = keys.of('reports', 'sent', reportId(due));
        // Claimed before the work so a second worker's tick skips it; released on failure so the next tick retries.
        if ((await redis.set(marker, 'running', 'EX', CLAIM_TTL_S, 'NX')) !== 'OK') continue;
        try {
          if (due.kind === 'daily') await reports.daily(due.department, due.date);
          else await reports.monthly(due.department, due.month);
          await redis.set(marker, 'done', 'EX', MARKER_TTL_S);
          sent.push(due);
        } catch (err) {
          await redis.del(marker);
          logger.error({ err, report: reportId(due) }, 'report failed; the next tick retries it');
        }
      }
      return sent;
    },

    async rankingTail(name, month) {
      const ranking = await rankings.ranking(month, name);
      if (!ranking) return undefined;
      const roster = await currentRoster();
      const rankedMonth = previousMonth(month);
      // The records the ranking was sent with: one that arrived late for its month does not change a sent message.
      const [report] = await compute(roster, monthPeriod(rankedMonth, roster.timeZone), name, ranking.recordsUpTo);
      if (!report) return undefined;
      const factors = await rankings.factors(month, name);
      return tailOf(renderMonthly(ranking, report, roster, rankedMonth, factors), ranking, month, factors);
    },

    revertWeightFactor: (month, userId, by) => rankings.revertWeightFactor(month, userId, by),
    factors: (month, dept) => rankings.factors(month, dept),
    weightFactors: (now) => loadWeightFactors(redis, keys, now ?? deps.clock.now().getTime()),
  };
  return reports;
}
