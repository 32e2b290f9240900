import { ruDuration } from '../../../lib/ru-duration.js';

/** Russian text of R7. The confirmation SMS is seed 004 rule 3's template, with the meeting time filled in. */
export const r7Text = {
  sms: (p: { time: string }): string =>
    `«Мы с Вами договорились о встрече в ${p.time}. Напишите ответ, что встреча в силе. Спасибо».`,
  /** How long before the meeting the "before" confirmation falls: «за 2 ч – 3 ч», from `confirmTo` and `confirmFrom`. */
  window: (p: { fromMs: number; toMs: number }): string => {
    const [near, far] = [ruDuration(p.toMs), ruDuration(p.fromMs)];
    if (near === far) return `за ${near}`;
    // «за 2–3 ч» when both are one number of the same unit, else «за 30 мин – 1 ч 30 мин».
    const [a, unitA, restA] = near.split(' ');
    const [b, unitB, restB] = far.split(' ');
    return restA === undefined &&
      restB === undefined &&
      unitA === unitB &&
      ['ч', 'мин', 'сек', 'нед'].includes(unitA ?? '')
      ? `за ${a}–${b} ${unitA}`
      : `за ${near} – ${far}`;
  },
  confirm: (p: { slot: 'morning' | 'before'; meeting: string; time: string; window: string }): string =>
    `${p.slot === 'morning' ? 'Подтвердите встречу с клиентом с утра' : `Подтвердите встречу с клиентом ${p.window} до неё`} (встреча ${p.meeting}). Если клиент не отвечает на звонок, отправьте SMS или сообщение в мессенджер: ${r7Text.sms({ time: p.time })}`,
  fillTask: (p: { stage: string }): string => `Укажите дату и время встречи в карточке клиента (этап «${p.stage}»).`,
  missing: (p: { stage: string; within: string; manager: string }): string =>
    `Клиент в этапе «${p.stage}», но дата и время встречи не указаны за ${p.within}. ${p.manager}, робот поставил задачу заполнить поле; РОП уведомлён.`,
  scheduled: (p: { meeting: string; tasks: string }): string =>
    `Встреча назначена на ${p.meeting}. Робот поставил задачи на подтверждение встречи: ${p.tasks}.`,
  moved: (p: { meeting: string; tasks: string }): string =>
    `Время встречи изменилось: ${p.meeting}. Робот перенёс задачи на подтверждение: ${p.tasks}.`,
  left: (p: { stage: string }): string => `Сделка вышла из этапа «${p.stage}»: подтверждение встречи больше не нужно`,
  replaced: (p: { meeting: string }): string =>
    `Время встречи изменилось (теперь ${p.meeting}): робот поставил новые задачи на подтверждение`,
  clearedTask: 'Дата и время встречи удалены из карточки: подтверждение не нужно',
  cleared: (p: { meeting: string; within: string }): string =>
    `Дата и время встречи (${p.meeting}) удалены из карточки: робот снял задачи на подтверждение. Укажите новое время встречи за ${p.within}.`,
};
