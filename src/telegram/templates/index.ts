/**
 * Russian text of every Telegram message, apart from delivery. Each outbox template renders to a title (the state of
 * the incident now), a timeline line (what just happened) and buttons; an incident's message is the title, the lead
 * and the timeline, edited in place as the incident develops. Every name and param is HTML-escaped here.
 */
import { DateTime } from 'luxon';
import { ruDuration, ruPlural } from '../../lib/ru-duration.js';
import type { CompiledRules } from '../../rules/types.js';
import { escapeHtml, TELEGRAM_TEXT_LIMIT } from '../html.js';
import { STAGE_RULE_LIST } from '../../rules/stage-rules/registry.js';
import { violationRef } from '../../rules/disputes/policy.js';
import { disputeTexts } from '../../rules/disputes/texts.js';

const NOTICE = ['уведомление', 'уведомления', 'уведомлений'] as const;

export interface RenderContext {
  leadUrl(leadId: number): string;
  userName(userId: number): string;
  userIdByName(name: string): number | undefined;
  timeZone: string;
  /** The chat the message goes to: a department chat (РОП) or a manager's private chat. */
  audience: 'department' | 'manager';
  /** The config in force: texts name its durations and stages. */
  rules?: CompiledRules | undefined;
  lead?: { name?: string; source?: string };
}

export interface Button {
  text: string;
  data: string;
}

export type IncidentStatus = 'open' | 'reassigned' | 'taken' | 'fallback' | 'resolved' | 'escalated';

export interface Rendered {
  title: string;
  line: string;
  status: IncidentStatus;
  buttons: Button[][];
}

/** Callback data of the inline buttons: `<action>:<id>` (Telegram allows 64 bytes). */
export const ACTIONS = { take: 'take', reassign: 'reassign', pause: 'pause', resume: 'resume' } as const;
export const buttonData = (action: keyof typeof ACTIONS, id: number): string => `${ACTIONS[action]}:${id}`;

export const buttons = {
  take: (leadId: number): Button => ({ text: '✅ Взял в работу', data: buttonData('take', leadId) }),
  reassign: (leadId: number): Button => ({ text: '🔁 Переназначить', data: buttonData('reassign', leadId) }),
  pause: (userId: number, name: string): Button => ({
    text: `⏸ Приостановить приём заявок: ${name}`.slice(0, 60),
    data: buttonData('pause', userId),
  }),
  resume: (userId: number, name: string): Button => ({
    text: `▶️ Возобновить приём заявок: ${name}`.slice(0, 60),
    data: buttonData('resume', userId),
  }),
  /** The manager contests a violation (ref: src/rules/disputes/policy.ts). */
  dispute: (ref: string): Button => ({ text: disputeTexts.button, data: `dispute:${ref}` }),
  withdraw: (ref: string): Button => ({ text: disputeTexts.withdrawButton, data: `withdraw:${ref}` }),
  uphold: (ref: string): Button => ({ text: disputeTexts.upholdButton, data: `uphold:${ref}` }),
  /** R11: the РОП's undo of a manager's lowered weight for `month` (the month it applies to, YYYY-MM). */
  unfactor: (month: string, userId: number, name: string): Button => ({
    text: `↩️ Отменить понижение веса: ${name}`.slice(0, 60),
    data: `unfactor:${month}:${userId}`,
  }),
};

/** The undo buttons under a ranking message: one row per manager whose lowered weight is still in force. */
export function unfactorButtons(month: unknown, revertable: unknown): Button[][] {
  if (typeof month !== 'string' || !Array.isArray(revertable)) return [];
  return revertable
    .filter(
      (r): r is { userId: number; name: string } =>
        typeof r === 'object' && r !== null && typeof (r as { userId?: unknown }).userId === 'number',
    )
    .map((r) => [buttons.unfactor(month, r.userId, String(r.name ?? r.userId))]);
}

/** Violation titles without numbers, for when no config is at hand: R1 and R3 here, the stage rules' from their folders. */
export const VIOLATION_TEXT: Record<string, string> = {
  pickup_missed: 'клиента не взяли в работу вовремя',
  call_overdue: 'звонок по графику просрочен больше чем на день',
  ...Object.fromEntries(
    STAGE_RULE_LIST.flatMap((d) => Object.entries(d.violations).map(([type, v]) => [type, v.plain])),
  ),
};

/** A violation type with the stage names and durations of the config in force: what the rule measured. */
export function violationText(type: string, rules: CompiledRules | undefined): string {
  if (type === 'pickup_missed')
    return rules ? `клиента не взяли в работу за ${ruDuration(rules.pickup.timeoutMs)}` : VIOLATION_TEXT[type]!;
  const s = rules?.stageRules;
  for (const def of STAGE_RULE_LIST) {
    const v = def.violations[type];
    if (v) return (s ? v.text(s) : undefined) ?? v.plain;
  }
  return VIOLATION_TEXT[type] ?? type;
}

/** «Оспорить» under the manager's own message about a violation, while disputes are on. */
const disputeRow = (params: Record<string, unknown>, ctx: RenderContext): Button[][] =>
  str(params.violationId) && (ctx.rules?.disputes?.enabled ?? true)
    ? [[buttons.dispute(violationRef(str(params.violationId)))]]
    : [];

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;

export function formatWhen(value: unknown, zone: string): string {
  const s = str(value);
  const t = typeof value === 'number' ? DateTime.fromMillis(value, { zone }) : DateTime.fromISO(s, { zone });
  return t.isValid ? t.setLocale('ru').toFormat('d MMMM HH:mm') : s;
}

/** The lead block under the title: the client's name, the source and the link to the lead in amoCRM. */
export function leadBlock(leadId: number | undefined, ctx: RenderContext): string {
  if (leadId === undefined) return '';
  const lines: string[] = [];
  if (ctx.lead?.name) lines.push(`Клиент: ${escapeHtml(ctx.lead.name)}`);
  if (ctx.lead?.source) lines.push(`Источник: ${escapeHtml(ctx.lead.source)}`);
  lines.push(`<a href="${escapeHtml(ctx.leadUrl(leadId))}">Сделка №${leadId} в amoCRM</a>`);
  return lines.join('\n');
}

/** Renders one outbox message for an incident's message; `undefined` for templates that are not incidents. */
export function renderEvent(
  template: string,
  params: Record<string, unknown>,
  ctx: RenderContext,
): Rendered | undefined {
  const e = (k: string): string => escapeHtml(str(params[k]));
  const leadId = num(params.leadId);
  switch (template) {
    case 'lead_assigned':
      return {
        title: `🆕 <b>Новый клиент: возьмите в работу до ${e('deadline')}</b>`,
        line: `назначен(а) ${e('manager')}; срок ${e('timeout')}, до ${e('deadline')}`,
        status: 'open',
        buttons: ctx.audience === 'manager' && leadId !== undefined ? [[buttons.take(leadId)]] : [],
      };
    case 'pickup_missed': {
      const missedId = ctx.userIdByName(str(params.missed));
      return {
        title: '⚠️ <b>Клиента не взяли в работу вовремя</b>',
        line: `${e('missed')} не взял(а) за ${e('timeout')} → передан(а): ${e('manager')} (пропусков: ${e('misses')})`,
        status: 'reassigned',
        buttons:
          ctx.audience === 'department' && leadId !== undefined
            ? [
                [buttons.reassign(leadId)],
                ...(missedId !== undefined ? [[buttons.pause(missedId, str(params.missed))]] : []),
              ]
            : [],
      };
    }
    case 'pickup_reassigned_by_head':
      return {
        title: '🔁 <b>РОП переназначил клиента</b>',
        line: `${e('head')} переназначил(а)${str(params.previous) ? ` от ${e('previous')}` : ''} → ${e('manager')}; срок ${e('timeout')}`,
        status: 'reassigned',
        buttons: ctx.audience === 'department' && leadId !== undefined ? [[buttons.reassign(leadId)]] : [],
      };
    case 'pickup_reassigned_away':
      return {
        title: '↪️ <b>Клиент передан другому менеджеру</b>',
        line: `вы не взяли за ${e('timeout')}; теперь у: ${e('manager')}`,
        status: 'reassigned',
        buttons: disputeRow(params, ctx),
      };
    case 'pickup_fallback':
    case 'nobody_eligible':
      return {
        title:
          template === 'pickup_fallback'
            ? '🔴 <b>Клиент передан РОПу</b>'
            : '🔴 <b>Некому передать клиента: передан РОПу</b>',
        line: `передан(а): ${e('fallback')}. Причина: ${e('why')}${str(params.missed) ? `. Не взяли: ${e('missed')}` : ''}`,
        status: 'fallback',
        buttons: ctx.audience === 'department' && leadId !== undefined ? [[buttons.reassign(leadId)]] : [],
      };
    case 'pickup_taken':
      return {
        title: '✅ <b>Клиент взят в работу</b>',
        line: `${e('manager')} взял(а) в работу${str(params.how) ? ` (${e('how')})` : ''}`,
        status: 'taken',
        buttons: [],
      };
    case 'violation': {
      const userId = num(params.userId);
      const name = userId !== undefined ? ctx.userName(userId) : '';
      const what = violationText(str(params.type), ctx.rules);
      const escalated = params.escalated === true;
      return {
        title: `⚠️ <b>Нарушение: ${escapeHtml(what)}</b>`,
        line: [
          escalated ? `не исправлено за ${e('escalatedAfter')}, передано РОПу` : 'зафиксировано',
          name ? `менеджер: ${escapeHtml(name)}` : '',
          `правило ${e('rule')}${str(params.seed) ? `, ${e('seed')}` : ''}`,
          str(params.since) ? `с ${escapeHtml(formatWhen(params.since, ctx.timeZone))}` : '',
        ]
          .filter(Boolean)
          .join('; '),
        status: escalated ? 'escalated' : 'open',
        buttons:
          ctx.audience === 'department'
            ? [
                ...(leadId !== undefined ? [[buttons.reassign(leadId)]] : []),
                ...(userId !== undefined ? [[buttons.pause(userId, name)]] : []),
              ]
            : disputeRow(params, ctx),
      };
    }
    case 'violation_disputed': {
      const userId = num(params.userId);
      const evidence = Array.isArray(params.evidence) ? params.evidence.map(str) : [];
      return {
        title: `⚖️ <b>Оспорено нарушение: ${escapeHtml(violationText(str(params.type), ctx.rules))}</b>`,
        line: [
          `${userId !== undefined ? escapeHtml(ctx.userName(userId)) : 'менеджер'} оспаривает: «${e('reason')}»`,
          ...(evidence.length > 0 ? [`основание: ${evidence.map(escapeHtml).join('; ')}`] : []),
          `решить до ${e('decideBy')}: «Снять» уберёт нарушение из рейтинга и отчётов, «Оставить» сохранит его`,
        ].join('. '),
        status: 'open',
        buttons:
          ctx.audience === 'department' && str(params.ref)
            ? [[buttons.withdraw(str(params.ref)), buttons.uphold(str(params.ref))]]
            : [],
      };
    }
    case 'violation_decided': {
      const withdrawn = params.withdrawn === true;
      const what = escapeHtml(violationText(str(params.type), ctx.rules));
      return {
        title: withdrawn ? `✅ <b>Нарушение снято: ${what}</b>` : `❌ <b>Нарушение оставлено: ${what}</b>`,
        line: withdrawn
          ? `РОП ${e('head')} снял нарушение (${e('decidedAt')}): оно не учитывается в рейтинге и отчётах`
          : `РОП ${e('head')} оставил нарушение (${e('decidedAt')})`,
        status: 'resolved',
        buttons: [],
      };
    }
    case 'violation_resolved':
      return {
        title: `✅ <b>Нарушение устранено: ${escapeHtml(violationText(str(params.type), ctx.rules))}</b>`,
        line: 'устранено',
        status: 'resolved',
        buttons: [],
      };
    default:
      return undefined;
  }
}

export interface TimelineEntry {
  at: number;
  line: string;
}

/** The whole incident message: current title, the lead, and what happened so far (oldest lines summarised if long). */
export function incidentText(
  latest: Rendered,
  leadId: number | undefined,
  timeline: TimelineEntry[],
  ctx: RenderContext,
): string {
  const header = [latest.title, leadBlock(leadId, ctx), ''].join('\n');
  const lines = timeline.map(
    (t) => `• ${DateTime.fromMillis(t.at, { zone: ctx.timeZone }).toFormat('HH:mm')} — ${t.line}`,
  );
  const compose = (dropped: number): string =>
    [header, ...(dropped > 0 ? [`… и ещё ${dropped} более ранних событий`] : []), ...lines.slice(dropped)].join('\n');
  let dropped = 0;
  while (compose(dropped).length > TELEGRAM_TEXT_LIMIT && dropped < lines.length - 1) dropped += 1;
  return compose(dropped).slice(0, TELEGRAM_TEXT_LIMIT);
}

/** A plain (non-incident) line for a digest: what, which lead, what happened. */
export function digestLine(template: string, params: Record<string, unknown>, ctx: RenderContext): string {
  const r = renderEvent(template, params, ctx);
  const leadId = num(params.leadId);
  const link = leadId !== undefined ? ` <a href="${escapeHtml(ctx.leadUrl(leadId))}">№${leadId}</a>` : '';
  if (!r) return `• ${escapeHtml(template)}${link}`;
  return `• ${stripTags(r.title)}${link}: ${r.line}`;
}

export const digestHeader = {
  burst: (n: number): string => `📋 <b>Сводка: ${n} ${ruPlural(n, NOTICE)}</b>`,
  quiet: (n: number): string => `🌙 <b>Пока действовали тихие часы: ${n} ${ruPlural(n, NOTICE)}</b>`,
  more: (n: number): string => `… и ещё ${n}: откройте /violations`,
};

export function stripTags(html: string): string {
  return html.replace(/<[^>]+>/g, '');
}

/** A photo's caption for a report with a chart. */
export const reportCaption = {
  report_daily: '📊 Дневная сводка отдела',
  report_monthly: '🏆 Рейтинг менеджеров за месяц',
} as Record<string, string>;

/** Why the РОП's «Переназначить» changed nothing, in the bot's answer. */
const REASSIGN_REFUSAL: Record<string, string> = {
  not_found: 'сделки нет в amoCRM (удалена?)',
  disabled: 'правило «взять в работу вовремя» сейчас выключено',
  not_in_stage: 'сделка уже не на этапе «Передан в работу»',
  pinned: 'сделка закреплена за менеджером тегом',
  taken: 'клиент уже взят в работу',
  no_clock: 'по сделке не идёт отсчёт времени на взятие в работу',
  not_your_department: 'сделка другого отдела: переназначает её руководитель того отдела',
};

/** Bot replies. */
export const botText = {
  refusal:
    'Здравствуйте! Этот бот работает только для сотрудников отдела продаж. Чтобы подключиться, попросите администратора прислать вам персональную ссылку.',
  linked: (name: string): string =>
    `Готово: этот чат привязан к пользователю amoCRM <b>${escapeHtml(name)}</b>. Сюда будут приходить новые клиенты и напоминания.`,
  badCode:
    'Ссылка недействительна: она уже использована или срок её действия истёк. Попросите администратора прислать новую.',
  startWithoutCode: 'Чтобы подключиться, откройте персональную ссылку, которую прислал администратор.',
  help: 'Команды: /today — мои клиенты и сроки на сегодня, /violations — нарушения, /report — отчёт за сегодня.',
  takenOk: 'Отмечено: клиент взят в работу.',
  takenMissing: (since: string): string =>
    `Пока не засчитано: после назначения (${escapeHtml(since)}) в сделке нет вашего исходящего звонка или примечания. Позвоните клиенту или оставьте примечание в сделке, затем нажмите кнопку снова.`,
  notYours: 'Этот клиент сейчас не закреплён за вами.',
  onlyHead: 'Эта кнопка — для руководителя отдела.',
  notYourDepartment: 'Этот менеджер работает в другом отделе: решение за руководителем того отдела.',
  linkPrivateOnly: 'Привязать Telegram можно только в личном чате с ботом: откройте ссылку из личного чата.',
  factorReverted: (name: string): string =>
    `Понижение веса отменено: ${name}. С этой минуты заявки распределяются по обычному весу.`,
  factorAlreadyReverted: (name: string, by: string): string => `Понижение веса для ${name} уже отменено (${by}).`,
  factorMissing: 'Этого понижения веса нет: рейтинг не найден или месяц уже другой.',
  takenNoClock:
    'Не засчитано: по этой сделке у вас сейчас не идёт отсчёт времени на взятие в работу (клиент уже взят, передан другому или ушёл с этапа).',
  reassigned: (leadId: number, manager: string): string => `Сделка №${leadId} передана: ${manager}.`,
  reassignedNobody: (leadId: number): string =>
    `Сделка №${leadId}: передать сейчас некому, подробности — в сообщении о сделке.`,
  reassignRefused: (leadId: number, why: string): string =>
    `Сделка №${leadId} не переназначена: ${REASSIGN_REFUSAL[why] ?? why}.`,
  paused: (name: string): string => `Приём заявок приостановлен: ${escapeHtml(name)}.`,
  resumed: (name: string): string => `Приём заявок возобновлён: ${escapeHtml(name)}.`,
  failed: 'Не получилось выполнить действие. Попробуйте ещё раз через минуту.',
  unavailable: 'Это действие пока недоступно. Сделайте его в amoCRM.',
  nothing: 'На сегодня ничего нет.',
  todayHeader: (name: string): string => `📅 <b>Сегодня: ${escapeHtml(name)}</b>`,
  violationsHeader: (who: string): string => `⚠️ <b>Нарушения за сегодня: ${escapeHtml(who)}</b>`,
  reportHeader: (who: string): string => `📊 <b>Отчёт за сегодня: ${escapeHtml(who)}</b>`,
};
