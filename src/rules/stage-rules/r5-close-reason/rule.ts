/**
 * R5 — "На закрытие" needs a reason (seed 001, этап «На закрытие»: «Обязательно укажите причину перемещения в этот
 * этап»; seed 002: «ЗАКРЫВАЕТ ПРОЕКТ РУКОВОДИТЕЛЬ ОТДЕЛА»).
 *
 * A reason is the configured field filled, or a note by the responsible after the entry. Without one within
 * `within` → a task to the manager and violation `close_without_reason`. The leads sitting in the stage wait for
 * the РОП's decision; the shell keeps them as a list the daily digest reads.
 */
import type { WebhookEvent } from '../../events.js';
import type { Effect } from '../../plan.js';
import {
  durationEn,
  actionRecord,
  iso,
  durationText,
  isIn,
  isRobot,
  nameOf,
  violationEffects,
  type StageContext,
  type StageLead,
  type StageState,
} from '../common.js';
import { cancel, keyVisit, note, schedule, settle, type StageRule } from '../rule.js';
import { r5Text } from './templates.js';

export const R5_SEED = 'seed 001 «На закрытие»: «Обязательно укажите причину перемещения в этот этап»';

const hasReasonField = (lead: StageLead, ctx: StageContext): boolean => {
  const id = ctx.stage.closeReason?.reasonFieldId;
  return id !== undefined && (lead.fields.get(id) ?? '').trim() !== '';
};

/** A note that gives the reason: by the responsible (or any person when the lead has no responsible manager). */
const reasonNote = (event: WebhookEvent, lead: StageLead, ctx: StageContext): number | undefined => {
  if (event.kind !== 'note' || event.noteType !== 4 || isRobot(ctx.rules, event.createdUserId)) return undefined;
  if (lead.responsibleUserId !== undefined && event.createdUserId !== lead.responsibleUserId) return undefined;
  return event.createdAt !== undefined ? Date.parse(event.createdAt) : ctx.now;
};

function given(
  state: StageState,
  lead: StageLead,
  at: number,
  why: string,
): ReturnType<NonNullable<StageRule['onEvent']>> {
  const entered = state.enteredAt ?? 0;
  // A reason given after the violation was recorded cures it (the ledger marks it so; reports count it as closed).
  const cured: Effect[] = state.r5?.flagged
    ? [
        {
          kind: 'record',
          leadId: lead.leadId,
          dedupeId: `R5:${lead.leadId}:${entered}:cured`,
          record: {
            kind: 'action',
            type: 'violation_resolved',
            rule: 'R5',
            seed: R5_SEED,
            at: iso(at),
            leadId: lead.leadId,
            violationId: `close_without_reason:${lead.leadId}:${entered}`,
            ...(lead.responsibleUserId !== undefined ? { userId: lead.responsibleUserId } : {}),
            reason: `${why}; the close-without-reason violation is cured`,
          },
        },
      ]
    : [];
  return {
    state: { ...state, r5: { ...state.r5, reasonAt: at } },
    outcome: {
      rule: 'R5',
      key: `${entered}:reason`,
      reason: why,
      effects: [cancel('R5', lead.leadId, `reason:${entered}`), ...cured],
    },
  };
}

export const r5CloseReason: StageRule = {
  rule: 'R5',
  onEnter(state, lead, ctx) {
    const cfg = ctx.stage.closeReason;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    if (hasReasonField(lead, ctx)) return { state: { ...state, r5: { reasonAt: state.enteredAt } } };
    const due = state.enteredAt + cfg.withinMs;
    return {
      state: { ...state, r5: {} },
      outcome: {
        rule: 'R5',
        key: `${state.enteredAt}:enter`,
        reason: `entered "${cfg.stage.name}" without a reason; check at ${new Date(due).toISOString()}`,
        effects: [schedule('R5', lead.leadId, `reason:${state.enteredAt}`, due)],
      },
    };
  },
  onEvent(state, lead, event, ctx) {
    const cfg = ctx.stage.closeReason;
    if (
      !cfg ||
      !isIn(cfg.stage, state) ||
      !state.r5 ||
      state.r5.reasonAt !== undefined ||
      state.enteredAt === undefined
    )
      return { state };
    const at = reasonNote(event, lead, ctx);
    if (at !== undefined && at >= state.enteredAt - 1000)
      return given(state, lead, at, `reason given in a note by ${event.kind === 'note' ? event.createdUserId : '?'}`);
    if (event.kind === 'lead' && !event.short && hasReasonField(lead, ctx))
      return given(state, lead, ctx.now, 'reason field filled');
    return { state };
  },
  onLeave(state, lead, _to, ctx) {
    const cfg = ctx.stage.closeReason;
    if (!cfg || !isIn(cfg.stage, state) || !state.r5 || state.enteredAt === undefined) return { state };
    const next = { ...state };
    delete next.r5;
    return {
      state: next,
      outcome: {
        rule: 'R5',
        key: `${state.enteredAt}:leave`,
        reason: `left "${cfg.stage.name}"`,
        effects: [cancel('R5', lead.leadId, `reason:${state.enteredAt}`)],
      },
    };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.closeReason;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R5', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered)
      return settle('R5', state, lead.leadId, timer, `no longer in "${cfg.stage.name}"`);
    if (state.r5?.reasonAt !== undefined) return settle('R5', state, lead.leadId, timer, 'reason already given');
    if (hasReasonField(lead, ctx)) return given(state, lead, ctx.now, 'reason field filled (seen at the check)');
    const byResponsible = fresh.notes.find(
      (n) =>
        n.at >= entered - 1000 &&
        !isRobot(ctx.rules, n.byUserId) &&
        (lead.responsibleUserId === undefined || n.byUserId === lead.responsibleUserId),
    );
    if (byResponsible)
      return given(
        state,
        lead,
        byResponsible.at,
        `reason given in a note by ${byResponsible.byUserId} (seen at the check)`,
      );
    const within = durationText(cfg.withinMs);
    const reason = `no reason within ${durationEn(cfg.withinMs)} of entering "${cfg.stage.name}"`;
    const user = lead.responsibleUserId;
    return {
      state: { ...state, r5: { ...state.r5, flagged: true } },
      outcome: {
        rule: 'R5',
        key: `${timer.key}:missing`,
        reason,
        effects: [
          ...(user !== undefined
            ? [
                {
                  kind: 'create_task' as const,
                  leadId: lead.leadId,
                  ref: `r5:reason:${entered}`,
                  userId: user,
                  text: r5Text.task({ stage: cfg.stage.name }),
                  dueAt: ctx.now + cfg.withinMs,
                },
              ]
            : []),
          note(lead.leadId, r5Text.note({ stage: cfg.stage.name, within, manager: nameOf(ctx.rules, user) })),
          ...violationEffects(
            {
              type: 'close_without_reason',
              rule: 'R5',
              seed: R5_SEED,
              lead,
              ...(user !== undefined ? { userId: user } : {}),
              since: entered,
              window: String(entered),
              reason,
            },
            ctx,
          ),
          actionRecord('R5', 'reason_task', lead, ctx, reason, `R5:${lead.leadId}:${entered}:task`, R5_SEED),
          cancel('R5', lead.leadId, timer.key),
        ],
      },
    };
  },
};
