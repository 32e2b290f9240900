import { ruWorkingDays } from '../../../lib/ru-duration.js';

/** Russian text of R9 for tasks and the lead's card. */
export const r9Text = {
  task: 'Получить обратную связь',
  taskNote: (p: { due: string; workingDays: number; stage: string }): string =>
    `КП отправлено. Робот поставил задачу «Получить обратную связь» на ${p.due} (${ruWorkingDays(p.workingDays)}), как требует регламент этапа «${p.stage}».`,
  stale: (p: { stage: string; stay: string; manager: string }): string =>
    `Клиент находится в этапе «${p.stage}» дольше, чем ${p.stay}. По регламенту клиент не может долго находиться в этом этапе — это знак, что с ним не работают (ответственный: ${p.manager}). РОП уведомлён.`,
  left: (p: { stage: string }): string => `Сделка перешла в этап «${p.stage}»`,
};
