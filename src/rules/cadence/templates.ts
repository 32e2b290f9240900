/**
 * Russian text of the cadence rule: call tasks, messenger tasks, notes on the lead. Kept apart from the logic so
 * wording can change without touching the rule. Every task says which step of which cadence it is.
 */
import { DateTime } from 'luxon';
import type { CadenceStep } from './plan.js';
import type { AttemptOutcome, CadenceState, CompiledCadence } from './types.js';

const OUTCOME_TEXT: Record<AttemptOutcome, string> = {
  no_answer: 'не ответил',
  no_call: 'задача закрыта без звонка',
  overdue: 'задача просрочена',
};

const STOP_TEXT = {
  left_stage: 'сделка ушла с этапа',
  answered_call: 'клиент ответил на звонок',
  meeting_set: 'назначена встреча',
  profile_off: 'каденция выключена в настройках',
} as const;

/** "1 раз", "2 раза", "5 раз". */
export function timesText(n: number): string {
  const mod10 = n % 10;
  const mod100 = n % 100;
  if (mod10 >= 2 && mod10 <= 4 && (mod100 < 12 || mod100 > 14)) return `${n} раза`;
  return `${n} раз`;
}

const hhmm = (ms: number, zone: string): string => DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
export const dateTime = (ms: number, zone: string): string =>
  DateTime.fromMillis(ms, { zone }).setLocale('ru').toFormat('d MMMM HH:mm');

/** The period of a step: "неделя 1", or "неделя 2" for day 9. */
export const weekOf = (step: CadenceStep): number => Math.floor(step.nominalDay / 7) + 1;

/** "Звонок 3 из 4, неделя 1 — клиент не ответил 2 раза" */
export function stepHeadline(step: CadenceStep, unanswered: number): string {
  const tail = unanswered > 0 ? `клиент не ответил ${timesText(unanswered)}` : 'первая попытка';
  return `Звонок ${step.inPhase} из ${step.phaseTotal}, неделя ${weekOf(step)} — ${tail}`;
}

export function callTaskText(input: {
  cadence: CompiledCadence;
  step: CadenceStep;
  totalSteps: number;
  unanswered: number;
  windowStart: number;
  dueAt: number;
  zone: string;
  weekend: boolean;
  reissue: number;
}): string {
  const { cadence, step } = input;
  const parts = [
    `${stepHeadline(step, input.unanswered)}.`,
    `Позвоните клиенту с ${hhmm(input.windowStart, input.zone)} до ${hhmm(input.dueAt, input.zone)}${input.weekend ? ' (звонок в выходной: люди свободнее и чаще берут трубку)' : ''}.`,
    `Каденция «${cadence.profile}», этап «${cadence.stageName}», шаг ${step.index} из ${input.totalSteps}.`,
  ];
  if (input.reissue > 0) parts.push(`Повторно: прошлая задача на этот звонок просрочена.`);
  return parts.join(' ');
}

export function messengerTaskText(cadence: CompiledCadence, step: CadenceStep, text: string): string {
  return `Клиент не ответил на звонок ${step.inPhase} из ${step.phaseTotal} (неделя ${weekOf(step)}): ${text} Каденция «${cadence.profile}».`;
}

export function startNote(cadence: CompiledCadence, totalSteps: number, firstDue: number, zone: string): string {
  const lastPhase = cadence.phases[cadence.phases.length - 1];
  return (
    `Робот: сделка в этапе «${cadence.stageName}» — запущена каденция звонков «${cadence.profile}» (${cadence.seed}): ` +
    `${totalSteps} звонков за ${lastPhase?.to ?? 0} дн. Первый звонок — до ${dateTime(firstDue, zone)}. ` +
    `Ответ клиента или уход с этапа останавливают каденцию.`
  );
}

export function attemptsList(state: CadenceState, zone: string): string {
  if (state.attempts.length === 0) return 'попыток не было';
  return state.attempts
    .map(
      (a, i) =>
        `${i + 1}) ${dateTime(a.at, zone)} — ${OUTCOME_TEXT[a.outcome]}${a.calls > 0 ? ` (звонков: ${a.calls})` : ''}`,
    )
    .join('; ');
}

export function endNote(
  cadence: CompiledCadence,
  state: CadenceState,
  zone: string,
  why: 'finished' | 'third_manager',
): string {
  const made = state.attempts.filter((a) => a.outcome !== 'overdue').length;
  const head =
    why === 'third_manager'
      ? `Робот: клиента не смог набрать уже ${state.unreachedBy.length}-й менеджер подряд (seed 001, сценарий 2)`
      : `Робот: каденция «${cadence.profile}» завершена, клиент так и не вышел на связь`;
  const action =
    cadence.end.kind === 'move'
      ? `Сделка переведена в этап «${cadence.end.stageName}»${cadence.end.reason ? `, причина: «${cadence.end.reason}»` : ''}.`
      : 'РОП получил уведомление.';
  return `${head}. Попыток: ${made} из ${state.attempts.length} шагов. ${action} Попытки: ${attemptsList(state, zone)}.`;
}

export function stopNote(cadence: CompiledCadence, why: keyof typeof STOP_TEXT, state: CadenceState): string {
  return `Робот: каденция звонков «${cadence.profile}» остановлена — ${STOP_TEXT[why]}. Сделано шагов: ${state.attempts.length}.`;
}

export const stopTaskResult = (why: keyof typeof STOP_TEXT): string => `Закрыто роботом: ${STOP_TEXT[why]}.`;

export function overdueNote(cadence: CompiledCadence, step: CadenceStep, dueAt: number, zone: string): string {
  return `Робот: задача «Звонок ${step.inPhase} из ${step.phaseTotal}, неделя ${weekOf(step)}» каденции «${cadence.profile}» не выполнена больше суток после срока (${dateTime(dueAt, zone)}). Нарушение call_overdue, РОП уведомлён; звонок поставлен заново.`;
}

export const overdueTaskResult = 'Закрыто роботом: просрочено больше суток, звонок поставлен заново.';

export function noSlotNote(cadence: CompiledCadence): string {
  return `Робот: каденции «${cadence.profile}» не нашлось рабочего времени менеджера в окнах звонков на ближайшие недели (отпуск, выходные). Звонок будет поставлен, как только появится смена.`;
}
