/**
 * What people read about a violation's dispute (Telegram, the widget, the admin page), in Russian. Durations and
 * deadlines come from the config in force, through the caller; names are escaped by whoever renders HTML.
 */
import { ruDuration } from '../../lib/ru-duration.js';
import type { CompiledDisputes } from './config.js';
import type { DecisionRefusal, DisputeRefusal, ViolationState } from './policy.js';

export const stateText: Record<ViolationState, string> = {
  open: 'открыто',
  disputed: 'оспорено, ждёт решения РОПа',
  upheld: 'оставлено РОПом',
  withdrawn: 'снято РОПом',
  cured: 'устранено',
};

export const disputeTexts = {
  button: '⚖️ Оспорить',
  withdrawButton: '✅ Снять',
  upholdButton: '❌ Оставить',
  ask: (what: string, leadId: number, department: string | undefined, deadline: string): string =>
    `Напишите одним сообщением, почему нарушение «${what}» по сделке №${leadId} записано ошибочно.` +
    ` Ответ уйдёт РОПу${department ? ` отдела «${department}»` : ''}. Оспорить можно до ${deadline}.`,
  sent: (leadId: number): string => `Спор по сделке №${leadId} отправлен РОПу. Решение придёт сюда.`,
  reasonTooShort: 'Напишите причину словами: хотя бы несколько слов, почему нарушение ошибочно.',
  refused: (why: DisputeRefusal, cfg: CompiledDisputes, deadline: string, state?: ViolationState): string => {
    switch (why) {
      case 'disabled':
        return 'Оспаривание нарушений выключено в настройках.';
      case 'not_yours':
        return 'Оспорить нарушение может только менеджер, за которым оно записано.';
      case 'late':
        return `Срок оспаривания истёк ${deadline}: нарушение можно оспорить в течение ${ruDuration(cfg.disputeWithinMs)} после того, как оно записано.`;
      case 'not_open':
        return `Это нарушение уже ${state ? stateText[state] : 'рассмотрено'}: оспорить его ещё раз нельзя.`;
    }
  },
  decisionRefused: (why: DecisionRefusal, state?: ViolationState): string => {
    switch (why) {
      case 'own':
        return 'Своё нарушение решать нельзя: спор решает другой РОП или резервный ответственный отдела.';
      case 'not_head':
        return 'Решить спор может только РОП или резервный ответственный отдела, в котором записано нарушение.';
      case 'not_disputed':
        return `Спор уже решён: нарушение ${state ? stateText[state] : 'рассмотрено'}.`;
    }
  },
  /** The РОП's message: the manager's reason, the evidence, the deadline to decide. */
  forHead: (p: {
    what: string;
    manager: string;
    leadLink: string;
    reason: string;
    evidence: string[];
    decideBy: string;
  }): string =>
    [
      `⚖️ <b>Оспорено нарушение: ${p.what}</b>`,
      `Менеджер: ${p.manager}, сделка ${p.leadLink}`,
      `Причина менеджера: «${p.reason}»`,
      '',
      '<b>На чём основано нарушение</b>',
      ...p.evidence.map((l) => `• ${l}`),
      '',
      `Решите до ${p.decideBy}: «Снять» уберёт нарушение из рейтинга и отчётов, «Оставить» сохранит его.`,
    ].join('\n'),
  decidedLine: (withdrawn: boolean, head: string, at: string): string =>
    withdrawn ? `✅ Снято: ${head}, ${at}` : `❌ Оставлено: ${head}, ${at}`,
  /** The manager is told the outcome. */
  outcome: (withdrawn: boolean, what: string, leadId: number, head: string): string =>
    withdrawn
      ? `✅ РОП ${head} снял нарушение «${what}» по сделке №${leadId}: оно не учитывается в рейтинге и отчётах.`
      : `❌ РОП ${head} оставил нарушение «${what}» по сделке №${leadId}.`,
  /** The daily digest's line of disputes waiting for a decision. */
  digestWaiting: (n: number, overdue: number, cfg: CompiledDisputes): string =>
    `⚖️ Споры ждут решения: ${n}${overdue > 0 ? `, из них дольше ${ruDuration(cfg.decideWithinMs)}: ${overdue}` : ''}`,
  /** The ranking's column: «нарушений N, оспорено M, снято K». */
  rankingCounts: (counted: number, disputed: number, withdrawn: number): string =>
    `нарушений ${counted}, оспорено ${disputed}, снято ${withdrawn}`,
};
