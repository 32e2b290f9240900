/** Russian text of R4 for the lead's card. */
export const r4Text = {
  stale: (p: { stage: string; stay: string; manager: string }): string =>
    `Клиент находится в этапе «${p.stage}» дольше, чем ${p.stay}: по регламенту это сигнал РОП, что с клиентом не ведётся работа (ответственный: ${p.manager}). РОП уведомлён и может передать клиента другому менеджеру.`,
};
