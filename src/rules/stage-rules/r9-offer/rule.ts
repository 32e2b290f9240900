/**
 * R9 — "Отправлено КП" (seed 001, этап «Отправлено КП»: «После отправки КП не забудьте поставить задачу Получить
 * обратную связь. Клиент в этом этапе не может находиться долгое время. Это знак, что вы с ним не работаете»).
 *
 * On entry: the task "Получить обратную связь" due in `feedbackWorkingDays` working days (calendar and time zone of
 * the account), and a timer at entry + `maxStay`; still there at the timer → violation `offer_stale`, РОП alert.
 * Leaving the stage completes the task and cancels the timer.
 */
import {
  durationEn,
  actionRecord,
  addWorkingDays,
  durationText,
  formatLocal,
  isIn,
  nameOf,
  violationEffects,
} from '../common.js';
import { cancel, keyVisit, note, schedule, settle, type StageRule } from '../rule.js';
import { r9Text } from './templates.js';

export const R9_SEED =
  'seed 001 «Отправлено КП»: «не забудьте поставить задачу Получить обратную связь. Клиент в этом этапе не может находиться долгое время»';

export const r9Offer: StageRule = {
  rule: 'R9',
  onEnter(state, lead, ctx) {
    const cfg = ctx.stage.offer;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    const entered = state.enteredAt;
    const due = addWorkingDays(entered, cfg.feedbackWorkingDays, ctx.rules.timeZone, ctx.rules.calendar);
    const ref = `r9:feedback:${entered}`;
    const reason = `entered "${cfg.stage.name}": feedback task due ${new Date(due).toISOString()} (${cfg.feedbackWorkingDays} working days)`;
    const effects = [
      schedule('R9', lead.leadId, `stale:${entered}`, entered + cfg.maxStayMs),
      ...(lead.responsibleUserId !== undefined
        ? [
            {
              kind: 'create_task' as const,
              leadId: lead.leadId,
              ref,
              userId: lead.responsibleUserId,
              text: r9Text.task,
              dueAt: due,
            },
            note(
              lead.leadId,
              r9Text.taskNote({
                due: formatLocal(due, ctx.rules.timeZone),
                workingDays: cfg.feedbackWorkingDays,
                stage: cfg.stage.name,
              }),
            ),
            actionRecord('R9', 'feedback_task', lead, ctx, reason, `R9:${lead.leadId}:${entered}:task`, R9_SEED),
          ]
        : []),
    ];
    return {
      state: { ...state, r9: { taskRef: ref } },
      outcome: { rule: 'R9', key: `${entered}:enter`, reason, effects },
    };
  },
  onLeave(state, lead, to, ctx) {
    const cfg = ctx.stage.offer;
    if (!cfg || !isIn(cfg.stage, state) || state.enteredAt === undefined || state.robotEntry) return { state };
    const toName = (to.statusId !== undefined ? ctx.stage.statusNames.get(to.statusId) : undefined) ?? 'другой этап';
    const effects = [
      cancel('R9', lead.leadId, `stale:${state.enteredAt}`),
      ...(state.r9
        ? [
            {
              kind: 'complete_task' as const,
              leadId: lead.leadId,
              ref: state.r9.taskRef,
              resultText: r9Text.left({ stage: toName }),
            },
          ]
        : []),
    ];
    const next = { ...state };
    delete next.r9;
    return {
      state: next,
      outcome: { rule: 'R9', key: `${state.enteredAt}:leave`, reason: `left "${cfg.stage.name}"`, effects },
    };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.offer;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R9', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered)
      return settle('R9', state, lead.leadId, timer, `no longer in "${cfg.stage.name}"`);
    if (ctx.now < entered + cfg.maxStayMs)
      return {
        state,
        outcome: {
          rule: 'R9',
          key: `${timer.key}:early`,
          reason: 'timer early',
          effects: [schedule('R9', lead.leadId, timer.key, entered + cfg.maxStayMs)],
        },
      };
    const stay = durationText(cfg.maxStayMs);
    const reason = `in "${cfg.stage.name}" since ${new Date(entered).toISOString()}, longer than ${durationEn(cfg.maxStayMs)}`;
    return {
      state,
      outcome: {
        rule: 'R9',
        key: `${timer.key}:stale`,
        reason,
        effects: [
          ...violationEffects(
            {
              type: 'offer_stale',
              rule: 'R9',
              seed: R9_SEED,
              lead,
              ...(lead.responsibleUserId !== undefined ? { userId: lead.responsibleUserId } : {}),
              since: entered,
              window: String(entered),
              reason,
            },
            ctx,
          ),
          note(
            lead.leadId,
            r9Text.stale({ stage: cfg.stage.name, stay, manager: nameOf(ctx.rules, lead.responsibleUserId) }),
          ),
          cancel('R9', lead.leadId, timer.key),
        ],
      },
    };
  },
};
