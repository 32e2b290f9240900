/**
 * R11 and R12 numbers, computed from the record alone (pure). The daily digest, the monthly ranking, the
 * Telegram /report and `npm run report` all call `computeReport`, so they cannot disagree.
 *
 * Per manager, over a period [from, to):
 * - received: distinct leads given to the manager (assignment, reassignment, or a pickup clock started on a lead
 *   already theirs);
 * - taken in time: distinct leads with `pickup_taken` (R1: taken within the 15 minutes);
 * - missed pickups: `pickup_missed` violations;
 * - calls: call records by the manager, with answered / not answered / unknown; contacted leads = distinct leads
 *   with a call not known to be unanswered;
 * - meetings set, meetings held, offers sent: distinct leads that entered the configured stages while theirs;
 * - violations: every violation recorded on them; open = with a violation id and no `violation_resolved` record;
 * - conversion (R11, seed 001): leads that reached «Встреча состоялась» / leads received.
 * Yardsticks (seed 004 rule 7.4-7.5): unanswered share above the normal (≈19%) and meetings set per contacted lead
 * below the minimum (30%) are flagged.
 */
import type { ViolationState } from '../rules/disputes/policy.js';
import type { ReportRecord } from './records.js';
import type { Roster, RosterDepartment } from './roster.js';

export interface Period {
  fromMs: number;
  /** Exclusive. */
  toMs: number;
}

export interface ManagerStats {
  userId: number;
  name: string;
  received: number;
  takenInTime: number;
  missedPickups: number;
  calls: number;
  callsAnswered: number;
  callsUnanswered: number;
  contacted: number;
  meetingsSet: number;
  meetingsHeld: number;
  offersSent: number;
  violations: number;
  openViolations: number;
  /** Violations contested by their manager (still waiting, upheld or withdrawn). */
  disputedViolations: number;
  /** Violations the РОП withdrew: counted in neither `violations` nor `openViolations`. */
  withdrawnViolations: number;
  /** Unanswered / calls with a known outcome; undefined without any. */
  unansweredShare?: number;
  /** Meetings set / contacted leads; undefined without contacts. */
  meetingShare?: number;
  /** Meetings held / received; undefined without leads. */
  conversion?: number | undefined;
  belowYardstick: { unanswered: boolean; meetings: boolean };
}

export type Totals = Omit<ManagerStats, 'userId' | 'name' | 'belowYardstick'>;

export interface DepartmentReport {
  department: string;
  managers: ManagerStats[];
  totals: Totals;
  sources: Array<{ source: string; leads: number }>;
}

export interface RankingRow {
  userId: number;
  name: string;
  received: number;
  meetingsHeld: number;
  conversion?: number | undefined;
  /** 1 = best; absent for a manager under the minimum of leads. */
  position?: number | undefined;
  /** The weight factor for next month, for the worst ranked. */
  factor?: number | undefined;
  /** Violations of the month that count (withdrawn ones left out), contested, and withdrawn by the РОП. */
  violations?: { counted: number; disputed: number; withdrawn: number } | undefined;
}

export interface Ranking {
  department: string;
  rows: RankingRow[];
  minLeads: number;
  worst: number[];
  /** The record stream id the ranking was read up to: recomputed later, it reads the same records. */
  recordsUpTo?: string | undefined;
}

const COUNTERS = [
  'received',
  'takenInTime',
  'missedPickups',
  'calls',
  'callsAnswered',
  'callsUnanswered',
  'contacted',
  'meetingsSet',
  'meetingsHeld',
  'offersSent',
  'violations',
  'openViolations',
  'disputedViolations',
  'withdrawnViolations',
] as const;

const ratio = (a: number, b: number): number | undefined => (b > 0 ? a / b : undefined);

function withRatios<T extends Totals>(s: T): T {
  const out: T = { ...s };
  const unanswered = ratio(s.callsUnanswered, s.callsAnswered + s.callsUnanswered);
  const meetings = ratio(s.meetingsSet, s.contacted);
  const conversion = ratio(s.meetingsHeld, s.received);
  if (unanswered !== undefined) out.unansweredShare = unanswered;
  if (meetings !== undefined) out.meetingShare = meetings;
  if (conversion !== undefined) out.conversion = conversion;
  return out;
}

function inPeriod(r: ReportRecord, p: Period): boolean {
  const at = Date.parse(r.at);
  return at >= p.fromMs && at < p.toMs;
}

/** Numbers of one department over a period. */
export function computeDepartment(
  all: ReportRecord[],
  roster: Roster,
  dept: RosterDepartment,
  period: Period,
  states: ReadonlyMap<string, ViolationState> = new Map(),
): DepartmentReport {
  const records = all.filter((r) => inPeriod(r, period));
  const resolved = new Set(
    records
      .filter((r) => r.kind === 'action' && r.type === 'violation_resolved' && r.violationId !== undefined)
      .map((r) => r.violationId),
  );
  const ids = new Set(dept.managers.map((m) => m.userId));
  type Acc = {
    received: Set<number>;
    taken: Set<number>;
    contacted: Set<number>;
    set: Set<number>;
    held: Set<number>;
    offers: Set<number>;
  } & Record<(typeof COUNTERS)[number], number>;
  const acc = new Map<number, Acc>();
  for (const m of dept.managers) {
    acc.set(m.userId, {
      ...(Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<(typeof COUNTERS)[number], number>),
      received: new Set(),
      taken: new Set(),
      contacted: new Set(),
      set: new Set(),
      held: new Set(),
      offers: new Set(),
    } as Acc);
  }
  for (const r of records) {
    if (r.userId === undefined || !ids.has(r.userId)) continue;
    const a = acc.get(r.userId);
    if (!a) continue;
    switch (r.kind) {
      case 'assignment':
      case 'reassignment':
      case 'pickup_started':
        a.received.add(r.leadId);
        break;
      case 'pickup_taken':
        a.taken.add(r.leadId);
        break;
      case 'violation': {
        // The ledger's state (src/store/violation-ledger.ts): a withdrawn violation counts nowhere.
        const state = r.violationId !== undefined ? states.get(r.violationId) : undefined;
        if (state === 'disputed' || state === 'upheld' || state === 'withdrawn') a.disputedViolations += 1;
        if (state === 'withdrawn') {
          a.withdrawnViolations += 1;
          break;
        }
        a.violations += 1;
        if (r.type === 'pickup_missed') a.missedPickups += 1;
        if (r.violationId !== undefined && !resolved.has(r.violationId) && state !== 'cured') a.openViolations += 1;
        break;
      }
      case 'action':
        if (r.type === 'call') {
          a.calls += 1;
          if (r.answered === true) a.callsAnswered += 1;
          if (r.answered === false) a.callsUnanswered += 1;
          else a.contacted.add(r.leadId);
        } else if (r.type === 'stage_entered') {
          if (r.milestone === 'meeting_set') a.set.add(r.leadId);
          if (r.milestone === 'meeting_held') a.held.add(r.leadId);
          if (r.milestone === 'offer_sent') a.offers.add(r.leadId);
        }
        break;
      default:
        break;
    }
  }
  const managers: ManagerStats[] = dept.managers.map((m) => {
    const a = acc.get(m.userId);
    const counts: Totals = {
      received: a?.received.size ?? 0,
      takenInTime: a?.taken.size ?? 0,
      missedPickups: a?.missedPickups ?? 0,
      calls: a?.calls ?? 0,
      callsAnswered: a?.callsAnswered ?? 0,
      callsUnanswered: a?.callsUnanswered ?? 0,
      contacted: a?.contacted.size ?? 0,
      meetingsSet: a?.set.size ?? 0,
      meetingsHeld: a?.held.size ?? 0,
      offersSent: a?.offers.size ?? 0,
      violations: a?.violations ?? 0,
      openViolations: a?.openViolations ?? 0,
      disputedViolations: a?.disputedViolations ?? 0,
      withdrawnViolations: a?.withdrawnViolations ?? 0,
    };
    const s = withRatios(counts);
    return {
      userId: m.userId,
      name: m.name,
      ...s,
      belowYardstick: {
        unanswered: s.unansweredShare !== undefined && s.unansweredShare > roster.unansweredCallsNormal,
        meetings: s.meetingShare !== undefined && s.meetingShare < roster.contactedToMeetingMin,
      },
    };
  });
  const sum = Object.fromEntries(COUNTERS.map((c) => [c, managers.reduce((n, m) => n + m[c], 0)])) as Totals;
  const bySource = new Map<string, number>();
  for (const r of records) {
    if (r.kind !== 'action' || r.type !== 'lead_source' || r.source === undefined) continue;
    if (r.department !== dept.name && !(r.department === undefined && r.userId !== undefined && ids.has(r.userId)))
      continue;
    bySource.set(r.source, (bySource.get(r.source) ?? 0) + 1);
  }
  const order = (s: string): number => {
    const i = roster.sources.indexOf(s);
    return i >= 0 ? i : roster.sources.length;
  };
  const sources = [...bySource]
    .map(([source, leads]) => ({ source, leads }))
    .sort((a, b) => order(a.source) - order(b.source) || b.leads - a.leads || a.source.localeCompare(b.source));
  return { department: dept.name, managers, totals: withRatios(sum), sources };
}

/** Every department (or the one named) over a period. */
export function computeReport(
  records: ReportRecord[],
  roster: Roster,
  period: Period,
  department?: string,
  states?: ReadonlyMap<string, ViolationState>,
): DepartmentReport[] {
  const depts = department === undefined ? roster.departments : roster.departments.filter((d) => d.name === department);
  return depts.map((d) => computeDepartment(records, roster, d, period, states));
}

/**
 * R11 (seed 001 «Правило распределения лидов»): rank by conversion into «Встреча состоялась», best first; ties go
 * to the manager with more leads, then by name. Managers under `minLeads` are listed, not ranked. The `worst`
 * last ranked get the weight factor for next month, but the best ranked manager never does (with three ranked
 * managers, lowering all three would change nobody's share).
 */
export function rankDepartment(report: DepartmentReport, cfg: Roster['ranking']): Ranking {
  const rows: RankingRow[] = report.managers.map((m) => ({
    userId: m.userId,
    name: m.name,
    received: m.received,
    meetingsHeld: m.meetingsHeld,
    ...(m.conversion !== undefined ? { conversion: m.conversion } : {}),
    violations: { counted: m.violations, disputed: m.disputedViolations, withdrawn: m.withdrawnViolations },
  }));
  const ranked = rows
    .filter((r) => r.received >= cfg.minLeads && r.received > 0)
    .sort(
      (a, b) =>
        (b.conversion ?? 0) - (a.conversion ?? 0) || b.received - a.received || a.name.localeCompare(b.name, 'ru'),
    );
  ranked.forEach((r, i) => (r.position = i + 1));
  const lowered = Math.min(cfg.worst, Math.max(0, ranked.length - 1));
  const worst = ranked.slice(ranked.length - lowered).map((r) => r.userId);
  for (const r of ranked) if (worst.includes(r.userId)) r.factor = cfg.weightFactor;
  const unranked = rows
    .filter((r) => r.position === undefined)
    .sort((a, b) => b.received - a.received || a.name.localeCompare(b.name, 'ru'));
  return { department: report.department, rows: [...ranked, ...unranked], minLeads: cfg.minLeads, worst };
}
