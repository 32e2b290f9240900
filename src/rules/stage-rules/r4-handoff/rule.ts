/**
 * R4 — "Для передачи" over 1 day (seed 001, этап «Для передачи»: «Если клиент в этом этапе находится больше 1 дня,
 * это сигнал РОП, что с данным клиентом вы не ведете работу и он может передать его другому менеджеру»).
 *
 * On entry a timer at entry + `maxStay`; at the timer the lead is re-read and, still in the stage of the same
 * visit, it is violation `handoff_stale` with an alert to the РОП. A lead found in the stage by the sweep joins
 * with its real entry time from amoCRM's events.
 */
import { durationEn, durationText, isIn, nameOf, violationEffects } from '../common.js';
import { cancel, keyVisit, note, schedule, settle, type StageRule } from '../rule.js';
import { r4Text } from './templates.js';

export const R4_SEED = 'seed 001 «Для передачи»: «Если клиент в этом этапе находится больше 1 дня, это сигнал РОП»';

export const r4Handoff: StageRule = {
  rule: 'R4',
  onEnter(state, lead, ctx) {
    const cfg = ctx.stage.handoff;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    const due = state.enteredAt + cfg.maxStayMs;
    return {
      state,
      outcome: {
        rule: 'R4',
        key: `${state.enteredAt}:enter`,
        reason: `entered "${cfg.stage.name}"; stale check at ${new Date(due).toISOString()}`,
        effects: [schedule('R4', lead.leadId, `stale:${state.enteredAt}`, due)],
      },
    };
  },
  onLeave(state, lead, _to, ctx) {
    const cfg = ctx.stage.handoff;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    return {
      state,
      outcome: {
        rule: 'R4',
        key: `${state.enteredAt}:leave`,
        reason: `left "${cfg.stage.name}"`,
        effects: [cancel('R4', lead.leadId, `stale:${state.enteredAt}`)],
      },
    };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.handoff;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R4', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered)
      return settle(
        'R4',
        state,
        lead.leadId,
        timer,
        `no longer in "${cfg.stage.name}" since ${new Date(entered).toISOString()}`,
      );
    if (ctx.now < entered + cfg.maxStayMs)
      return {
        state,
        outcome: {
          rule: 'R4',
          key: `${timer.key}:early`,
          reason: 'timer early',
          effects: [schedule('R4', lead.leadId, timer.key, entered + cfg.maxStayMs)],
        },
      };
    const stay = durationText(cfg.maxStayMs);
    const reason = `in "${cfg.stage.name}" since ${new Date(entered).toISOString()}, longer than ${durationEn(cfg.maxStayMs)}`;
    return {
      state,
      outcome: {
        rule: 'R4',
        key: `${timer.key}:stale`,
        reason,
        effects: [
          ...violationEffects(
            {
              type: 'handoff_stale',
              rule: 'R4',
              seed: R4_SEED,
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
            r4Text.stale({ stage: cfg.stage.name, stay, manager: nameOf(ctx.rules, lead.responsibleUserId) }),
          ),
          cancel('R4', lead.leadId, timer.key),
        ],
      },
    };
  },
};
