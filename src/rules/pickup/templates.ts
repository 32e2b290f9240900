/**
 * Russian text the pickup rule leaves on leads (notes) and hands to the notifier (alerts).
 * Kept here, apart from the logic, so wording can change without touching a rule.
 */
import { DateTime } from 'luxon';
import type { DistributionExplanation, RoutingNote, SkipReason, TakenSignal } from '../types.js';

export const SKIP_TEXT: Record<SkipReason, string> = {
  off_shift: 'не на смене',
  absent: 'отсутствует',
  at_cap: 'достигнут лимит невзятых заявок',
  missed_this_lead: 'уже не взял(а) этого клиента',
  inactive: 'неактивен в amoCRM',
  paused: 'приём заявок приостановлен',
  holiday: 'праздничный день',
};

export function formatTime(ms: number, zone: string): string {
  const t = DateTime.fromMillis(ms, { zone }).setLocale('ru');
  return t.toFormat(t.second === 0 ? 'd MMMM HH:mm' : 'd MMMM HH:mm:ss');
}

export function minutesText(ms: number): string {
  const m = Math.round(ms / 60000);
  if (m >= 1) return `${m} мин`;
  return `${Math.round(ms / 1000)} сек`;
}

/** "очередь по весам (вес 2 из 5); пропущены: Борис — не на смене, …" */
export function explainChoice(e: DistributionExplanation, name: (id: number) => string): string {
  const winner = e.candidates.find((c) => c.userId === e.winner);
  const total = e.candidates.reduce((s, c) => s + c.weight, 0);
  const how =
    e.strategy === 'least_loaded'
      ? `меньше всего невзятых заявок среди ${e.candidates.length} менеджеров на смене`
      : `очередь распределения по весам (вес ${winner?.weight ?? 1} из ${total}, на смене ${e.candidates.length})`;
  const skipped = e.skipped.length
    ? `; пропущены: ${e.skipped.map((s) => `${name(s.userId)} — ${SKIP_TEXT[s.reason]}`).join(', ')}`
    : '';
  // R11: a weight lowered by the monthly ranking is named with its reason, so nobody wonders why they get fewer leads.
  const lowered = e.candidates.filter((c) => c.factor !== undefined);
  const factors = lowered.length
    ? `; вес понижен по рейтингу: ${lowered.map((c) => `${name(c.userId)} — ${c.factor?.baseWeight ?? c.weight}×${c.factor?.factor ?? 1} (${c.factor?.reason ?? ''})`).join(', ')}`
    : '';
  return `${how}${skipped}${factors}`;
}

export const notes = {
  assigned: (p: { manager: string; why: string; timeout: string; deadline: string }): string =>
    `Робот назначил ответственным: ${p.manager}. Почему: ${p.why}. У вас ${p.timeout}, чтобы взять клиента в работу (до ${p.deadline}), иначе робот передаст клиента другому менеджеру.`,
  reassigned: (p: {
    missed: string;
    manager: string;
    why: string;
    timeout: string;
    deadline: string;
    misses: number;
  }): string =>
    `${p.missed} не взял(а) клиента в работу за ${p.timeout}. Робот передал клиента: ${p.manager}. Почему: ${p.why}. Пропусков по этой заявке: ${p.misses}. Новый срок — до ${p.deadline}.`,
  reassignedByHead: (p: {
    head: string;
    previous: string | undefined;
    manager: string;
    why: string;
    timeout: string;
    deadline: string;
  }): string =>
    `РОП ${p.head} переназначил(а) клиента${p.previous ? ` (был(а) ответственным: ${p.previous})` : ''}. Робот передал клиента: ${p.manager}. Почему: ${p.why}. У вас ${p.timeout}, чтобы взять клиента в работу (до ${p.deadline}), иначе робот передаст клиента другому менеджеру.`,
  clockExtended: (p: { manager: string; landed: string; timeout: string; deadline: string }): string =>
    `Назначение дошло до amoCRM с опозданием (в ${p.landed}). ${p.manager}, у вас по-прежнему ${p.timeout}, чтобы взять клиента в работу: новый срок — до ${p.deadline}.`,
  clockStarted: (p: { manager: string; timeout: string; deadline: string }): string =>
    `${p.manager}, у вас ${p.timeout}, чтобы взять клиента в работу (до ${p.deadline}), иначе робот передаст клиента другому менеджеру.`,
  waitingShift: (p: { start: string }): string =>
    `Сейчас никто из отдела не на смене. Робот назначит ответственного с началом смены (${p.start}); время на взятие в работу начнёт считаться с этого момента.`,
  fallback: (p: { fallback: string; why: string; missed: string }): string =>
    `Робот передал клиента: ${p.fallback} (РОП). Причина: ${p.why}.${p.missed ? ` Не взяли в работу: ${p.missed}.` : ''}`,
};

/** How the lead was taken, in the words of the incident message («взял(а) в работу (исходящий звонок)»). */
export const takenHow: Record<TakenSignal, string> = {
  outgoing_call: 'исходящий звонок',
  note: 'примечание в сделке',
  task_completed: 'выполнена задача',
  left_stage: 'сделка переведена дальше по воронке',
};

export const fallbackReasons = {
  maxMisses: (n: number): string => `клиента не взяли в работу ${n} раза подряд`,
  nobodyEligible: 'нет менеджеров, которые могут взять клиента сейчас',
  nobodyWorks: 'в ближайшие дни никто из отдела не работает',
};

/** R2 routing in the note: why the owner got the lead, or why rotation chose although there was an owner. */
export function routingText(r: RoutingNote, name: (id: number) => string, rotation: string): string {
  const who =
    r.kind === 'listing_owner'
      ? `агент, чей объект (${name(r.userId)})`
      : `менеджер, за которым закреплён клиент (${name(r.userId)})`;
  if (r.skipped === undefined)
    return r.kind === 'listing_owner'
      ? `заявка по объекту агента ${name(r.userId)}`
      : `клиент уже обращался, за ним закреплён(а) ${name(r.userId)}`;
  const why = r.skipped === 'not_a_manager' ? 'не менеджер отдела' : (SKIP_TEXT[r.skipped] ?? r.skipped);
  return `${who} сейчас не может взять заявку (${why}); ${rotation}`;
}
