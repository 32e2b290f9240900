/**
 * Russian text of the daily digest (R12), the monthly ranking (R11) and /report, as Telegram HTML. Every name
 * goes through `escapeHtml`; one line never opens a tag it does not close, so a message can be split on any
 * line boundary and stay valid (Telegram: at most 4096 characters per message).
 */
import { disputeTexts } from '../rules/disputes/texts.js';
import { DateTime } from 'luxon';
import { stringify } from 'csv-stringify/sync';
import type { DepartmentReport, ManagerStats, Ranking, RankingRow, Totals } from './compute.js';
import type { Roster } from './roster.js';

export const TELEGRAM_MESSAGE_LIMIT = 4096;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COUNTED = [
  'received',
  'takenInTime',
  'missedPickups',
  'calls',
  'meetingsSet',
  'meetingsHeld',
  'offersSent',
  'violations',
  'disputedViolations',
] as const;

const pct = (share: number | undefined): string => (share === undefined ? '—' : `${Math.round(share * 100)}%`);
const FLAG = ' ⚠️';

const longDate = (date: string, zone: string): string =>
  DateTime.fromISO(date, { zone }).setLocale('ru').toFormat('d MMMM yyyy');
const monthName = (month: string): string => DateTime.fromISO(`${month}-01`).setLocale('ru').toFormat('LLLL yyyy');
const monthNamePrepositional = (month: string): string => {
  // "в декабре": luxon has no prepositional case; the twelve forms are fixed.
  const forms = [
    'январе',
    'феврале',
    'марте',
    'апреле',
    'мае',
    'июне',
    'июле',
    'августе',
    'сентябре',
    'октябре',
    'ноябре',
    'декабре',
  ];
  return forms[Number(month.slice(5, 7)) - 1] ?? month;
};

/** Genitive after a number ("от 1 контакта", "от 3 контактов"; "меньше 21 заявки", "меньше 10 заявок"). */
const genitive = (n: number, one: string, many: string): string => (n % 10 === 1 && n % 100 !== 11 ? one : many);

function yardstickLine(roster: Roster): string {
  return `<i>Нормы (правило 7 регламента): недозвонов около ${pct(roster.unansweredCallsNormal)}, до встречи — не меньше ${pct(roster.contactedToMeetingMin)} контактов. ⚠️ — хуже нормы.</i>`;
}

function statsLines(s: Totals, flags: ManagerStats['belowYardstick'] | undefined): string[] {
  const known = s.callsAnswered + s.callsUnanswered;
  return [
    `Заявок получено: ${s.received}, взято вовремя: ${s.takenInTime}, пропущено: ${s.missedPickups}`,
    `Звонков: ${s.calls}, недозвонов: ${pct(s.unansweredShare)}${known > 0 ? ` (${s.callsUnanswered} из ${known})` : ''}${flags?.unanswered ? FLAG : ''}`,
    `Встреч назначено: ${s.meetingsSet} (${pct(s.meetingShare)} от ${s.contacted} ${genitive(s.contacted, 'контакта', 'контактов')})${flags?.meetings ? FLAG : ''}, проведено: ${s.meetingsHeld}, КП отправлено: ${s.offersSent}`,
    `Конверсия во «Встреча состоялась»: ${s.meetingsHeld} из ${s.received} (${pct(s.conversion)})`,
    `Нарушений: ${s.violations}, открытых: ${s.openViolations}${s.disputedViolations > 0 ? `, оспорено: ${s.disputedViolations}, снято РОПом: ${s.withdrawnViolations}` : ''}`,
  ];
}

function departmentBody(report: DepartmentReport, roster: Roster): string[] {
  const lines: string[] = [yardstickLine(roster)];
  const idle = (m: ManagerStats): boolean => COUNTED.every((k) => m[k] === 0);
  for (const m of report.managers.filter((x) => !idle(x))) {
    const below = m.belowYardstick.unanswered || m.belowYardstick.meetings;
    lines.push('', `<b>${escapeHtml(m.name)}</b>${below ? FLAG : ''}`, ...statsLines(m, m.belowYardstick));
  }
  // Managers with nothing to show share one line instead of a block of zeros each.
  const quiet = report.managers.filter(idle);
  if (quiet.length > 0) lines.push('', `<b>Без активности</b>: ${quiet.map((m) => escapeHtml(m.name)).join(', ')}`);
  lines.push('', '<b>Итого по отделу</b>', ...statsLines(report.totals, undefined));
  lines.push('', '<b>Заявки по источникам</b>');
  if (report.sources.length === 0) lines.push('нет новых заявок');
  for (const s of report.sources) lines.push(`${escapeHtml(s.source)}: ${s.leads}`);
  return lines;
}

/** R12: the daily digest of one department. */
export function renderDaily(report: DepartmentReport, roster: Roster, date: string): string {
  return [
    `<b>📊 Итоги дня ${longDate(date, roster.timeZone)} — ${escapeHtml(report.department)}</b>`,
    ...departmentBody(report, roster),
  ].join('\n');
}

/** /report and `npm run report`: the same numbers over any period. */
export function renderPeriod(report: DepartmentReport, roster: Roster, fromDate: string, toDate: string): string {
  const span =
    fromDate === toDate
      ? longDate(fromDate, roster.timeZone)
      : `${longDate(fromDate, roster.timeZone)} — ${longDate(toDate, roster.timeZone)}`;
  return [`<b>📊 Отчёт за ${span} — ${escapeHtml(report.department)}</b>`, ...departmentBody(report, roster)].join(
    '\n',
  );
}

export interface FactorView {
  userId: number;
  factor: number;
  reason: string;
  revertedBy?: string | undefined;
}

/** R11: the ranking of a month with the counts behind it and the weight factors for the next month. */
export function renderMonthly(
  ranking: Ranking,
  report: DepartmentReport,
  roster: Roster,
  month: string,
  factors: FactorView[],
): string {
  const next = monthNamePrepositional(nextMonthOf(month));
  const lines = [
    `<b>🏆 Рейтинг менеджеров за ${monthName(month)} — ${escapeHtml(ranking.department)}</b>`,
    '<i>Конверсия во «Встреча состоялась» = заявки, дошедшие до встречи / полученные заявки (регламент «Правило распределения лидов»).</i>',
    '',
  ];
  const ranked = ranking.rows.filter((r) => r.position !== undefined);
  const unranked = ranking.rows.filter((r) => r.position === undefined);
  if (ranked.length === 0) lines.push(`Никто не получил ${ranking.minLeads} заявок или больше — рейтинга нет.`);
  for (const r of ranked) {
    const f = factors.find((x) => x.userId === r.userId);
    const mark = f
      ? f.revertedBy !== undefined
        ? ` — понижение веса отменено (${escapeHtml(f.revertedBy)})`
        : ` ⬇️ вес ×${f.factor} в ${next}`
      : '';
    lines.push(
      `${r.position}. ${escapeHtml(r.name)} — ${pct(r.conversion)} (${r.meetingsHeld} из ${r.received}); ${violationsOf(r)}${mark}`,
    );
  }
  if (unranked.length > 0) {
    lines.push(
      '',
      `<b>Вне рейтинга</b> (меньше ${ranking.minLeads} ${genitive(ranking.minLeads, 'заявки', 'заявок')} за месяц):`,
    );
    for (const r of unranked)
      lines.push(
        `${escapeHtml(r.name)} — ${r.received === 0 ? 'нет заявок' : `${pct(r.conversion)} (${r.meetingsHeld} из ${r.received})`}; ${violationsOf(r)}`,
      );
  }
  const active = factors.filter((f) => f.revertedBy === undefined);
  if (active.length > 0) {
    lines.push('', `<b>Вес распределения в ${next} понижен</b>:`);
    for (const f of active)
      lines.push(
        `${escapeHtml(ranking.rows.find((r) => r.userId === f.userId)?.name ?? `#${f.userId}`)} — ×${f.factor}: ${escapeHtml(f.reason)}`,
      );
    lines.push('РОП может отменить понижение кнопкой.');
  }
  lines.push('', `<b>Итого по отделу за месяц</b>`, ...statsLines(report.totals, undefined));
  return lines.join('\n');
}

/** «нарушений N, оспорено M, снято K» (withdrawn ones are not in N). */
function violationsOf(r: RankingRow): string {
  const v = r.violations ?? { counted: 0, disputed: 0, withdrawn: 0 };
  return disputeTexts.rankingCounts(v.counted, v.disputed, v.withdrawn);
}

export function factorReason(month: string, position: number, ranked: number): string {
  return `${position}-е место из ${ranked} по конверсии во «Встреча состоялась» за ${monthName(month)} (регламент: у 3 худших в рейтинге уменьшается количество новых лидов)`;
}

function nextMonthOf(month: string): string {
  return DateTime.fromISO(`${month}-01`).plus({ months: 1 }).toFormat('yyyy-MM');
}

/**
 * Splits a message on line boundaries into parts of at most `limit` characters, preferring blank lines (one
 * manager's block stays whole). A single line longer than the limit is cut, which our templates never produce.
 */
export function splitMessage(text: string, limit = TELEGRAM_MESSAGE_LIMIT): string[] {
  if (text.length <= limit) return [text];
  const parts: string[] = [];
  let current = '';
  const flush = (): void => {
    const trimmed = current.replace(/\n+$/, '');
    if (trimmed !== '') parts.push(trimmed);
    current = '';
  };
  const blocks = text.split('\n\n');
  for (const block of blocks) {
    const piece = current === '' ? block : `\n\n${block}`;
    if (current.length + piece.length <= limit) {
      current += piece;
      continue;
    }
    flush();
    if (block.length <= limit) {
      current = block;
      continue;
    }
    for (const line of block.split('\n')) {
      const add = current === '' ? line : `\n${line}`;
      if (current.length + add.length <= limit) current += add;
      else {
        flush();
        for (let i = 0; i < line.length; i += limit) {
          if (i + limit < line.length) parts.push(line.slice(i, i + limit));
          else current = line.slice(i);
        }
      }
    }
  }
  flush();
  return parts;
}

export const CSV_COLUMNS = [
  'department',
  'manager',
  'user_id',
  'received',
  'taken_in_time',
  'missed_pickups',
  'calls',
  'calls_answered',
  'calls_unanswered',
  'unanswered_share',
  'contacted',
  'meetings_set',
  'meeting_share',
  'meetings_held',
  'conversion',
  'offers_sent',
  'violations',
  'open_violations',
  'disputed_violations',
  'withdrawn_violations',
] as const;

const share = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(4));

/** `npm run report -- --csv`: one row per manager and a total row per department. */
export function renderCsv(reports: DepartmentReport[]): string {
  const row = (dept: string, name: string, userId: string, s: Totals): string[] => [
    dept,
    name,
    userId,
    ...[s.received, s.takenInTime, s.missedPickups, s.calls, s.callsAnswered, s.callsUnanswered].map(String),
    share(s.unansweredShare),
    String(s.contacted),
    String(s.meetingsSet),
    share(s.meetingShare),
    String(s.meetingsHeld),
    share(s.conversion),
    String(s.offersSent),
    String(s.violations),
    String(s.openViolations),
    String(s.disputedViolations),
    String(s.withdrawnViolations),
  ];
  const rows = reports.flatMap((r) => [
    ...r.managers.map((m) => row(r.department, m.name, String(m.userId), m)),
    row(r.department, 'TOTAL', '', r.totals),
  ]);
  return stringify([[...CSV_COLUMNS], ...rows]);
}

/** Telegram HTML as terminal text (`npm run report`): tags dropped, entities back to characters. */
export function htmlToText(html: string): string {
  return html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}
