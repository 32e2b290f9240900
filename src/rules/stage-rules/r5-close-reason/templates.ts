/** Russian text of R5 for tasks and the lead's card. */
export const r5Text = {
  task: (p: { stage: string }): string =>
    `Укажите причину перевода клиента в этап «${p.stage}» (примечание или поле причины): по регламенту это обязательно.`,
  note: (p: { stage: string; within: string; manager: string }): string =>
    `Клиент переведён в этап «${p.stage}», но причина не указана за ${p.within}. По регламенту причину указывать обязательно. ${p.manager}, робот поставил вам задачу; РОП уведомлён.`,
};
