/**
 * R6 — "Отложенный спрос" (seed 001, этап «Отложенный спрос >7 мес»: «С этими клиентами все равно вы ведете работу.
 * Минимум 1 касание в месяц»; seed 000: «поставьте задачу СВЯЗАТЬСЯ С КЛИЕНТОМ … И еженедельно ставьте задачу …
 * НАПРАВИТЬ НОВОСТИ», tags «СОГЛАСОВАНО РОПом» and «ПРОДАЮТ СВОЕ ЖИЛЬЕ»: «продолжаем еженедельно отправлять ему сообщения»).
 *
 * On entry a touch task every `touchEvery` (weekly with one of `weeklyTags`), one at a time; `untouchedAfter`
 * without a touch (a note, call or stage change by a person) → violation `deferred_untouched`, once per silence.
 */
import {
  durationEn,
  actionRecord,
  addIso,
  durationText,
  formatLocal,
  isIn,
  nameOf,
  violationEffects,
  type StageContext,
  type StageLead,
} from '../common.js';
import { cancel, keyVisit, note, schedule, settle, type StageRule } from '../rule.js';
import { r6Text } from './templates.js';

export const R6_SEED =
  'seed 001 «Отложенный спрос»: «Минимум 1 касание в месяц»; seed 000: «еженедельно ставьте задачу … НАПРАВИТЬ НОВОСТИ»';

const weekly = (lead: StageLead, ctx: StageContext): boolean => {
  const tags = new Set((ctx.stage.deferred?.weeklyTags ?? []).map((t) => t.trim().toLowerCase()));
  return lead.tags.some((t) => tags.has(t.trim().toLowerCase()));
};

function touchTask(lead: StageLead, entered: number, n: number, from: number, ctx: StageContext) {
  const cfg = ctx.stage.deferred!;
  const isWeekly = weekly(lead, ctx);
  const due = addIso(from, isWeekly ? cfg.weeklyEvery : cfg.touchEvery, ctx.rules.timeZone);
  const effects = [
    schedule('R6', lead.leadId, `touch:${entered}`, due),
    ...(lead.responsibleUserId !== undefined
      ? [
          {
            kind: 'create_task' as const,
            leadId: lead.leadId,
            ref: `r6:touch:${entered}:${n}`,
            userId: lead.responsibleUserId,
            text: isWeekly ? r6Text.weeklyTask : r6Text.monthlyTask,
            dueAt: due,
          },
          note(lead.leadId, r6Text.taskNote({ due: formatLocal(due, ctx.rules.timeZone), weekly: isWeekly })),
        ]
      : []),
  ];
  return { due, effects, isWeekly };
}

export const r6Deferred: StageRule = {
  rule: 'R6',
  onEnter(state, lead, ctx) {
    const cfg = ctx.stage.deferred;
    if (!cfg || !isIn(cfg.stage, state) || state.robotEntry || state.enteredAt === undefined) return { state };
    const entered = state.enteredAt;
    const t = touchTask(lead, entered, 1, entered, ctx);
    const reason = `entered "${cfg.stage.name}": ${t.isWeekly ? 'weekly' : 'monthly'} touch task due ${new Date(t.due).toISOString()}`;
    return {
      state: { ...state, r6: { n: 1 } },
      outcome: {
        rule: 'R6',
        key: `${entered}:enter`,
        reason,
        effects: [
          ...t.effects,
          schedule(
            'R6',
            lead.leadId,
            `untouched:${entered}`,
            Math.max(entered, state.lastTouchAt ?? 0) + cfg.untouchedAfterMs,
          ),
          actionRecord('R6', 'touch_task', lead, ctx, reason, `R6:${lead.leadId}:${entered}:1`, R6_SEED),
        ],
      },
    };
  },
  onLeave(state, lead, _to, ctx) {
    const cfg = ctx.stage.deferred;
    if (!cfg || !isIn(cfg.stage, state) || !state.r6 || state.enteredAt === undefined) return { state };
    const e = state.enteredAt;
    const next = { ...state };
    delete next.r6;
    return {
      state: next,
      outcome: {
        rule: 'R6',
        key: `${e}:leave`,
        reason: `left "${cfg.stage.name}"`,
        effects: [
          cancel('R6', lead.leadId, `touch:${e}`),
          cancel('R6', lead.leadId, `untouched:${e}`),
          { kind: 'complete_task', leadId: lead.leadId, ref: `r6:touch:${e}:${state.r6.n}`, resultText: r6Text.left },
        ],
      },
    };
  },
  onDue(state, timer, fresh, ctx) {
    const cfg = ctx.stage.deferred;
    const entered = keyVisit(timer.key);
    if (!cfg || !fresh.lead) return settle('R6', state, fresh.lead?.leadId ?? 0, timer, 'rule off or lead gone');
    const lead = fresh.lead;
    if (!isIn(cfg.stage, lead) || state.enteredAt !== entered || !state.r6)
      return settle('R6', state, lead.leadId, timer, `no longer in "${cfg.stage.name}"`);
    if (timer.key.startsWith('touch:')) {
      const n = state.r6.n + 1;
      const t = touchTask(lead, entered, n, ctx.now, ctx);
      const reason = `next ${t.isWeekly ? 'weekly' : 'monthly'} touch task (${n}) due ${new Date(t.due).toISOString()}`;
      return {
        state: { ...state, r6: { ...state.r6, n } },
        outcome: {
          rule: 'R6',
          key: `${timer.key}:${n}`,
          reason,
          effects: [
            ...t.effects,
            actionRecord('R6', 'touch_task', lead, ctx, reason, `R6:${lead.leadId}:${entered}:${n}`, R6_SEED),
          ],
        },
      };
    }
    // untouched:<entered>
    const notes = fresh.notes.filter((x) => !ctx.rules.pickup.robotUserIds.has(x.byUserId)).map((x) => x.at);
    const last = Math.max(entered, state.lastTouchAt ?? 0, ...notes);
    if (ctx.now < last + cfg.untouchedAfterMs) {
      return {
        state: { ...state, lastTouchAt: last },
        outcome: {
          rule: 'R6',
          key: `${timer.key}:${last}`,
          reason: `touched ${new Date(last).toISOString()}`,
          effects: [schedule('R6', lead.leadId, timer.key, last + cfg.untouchedAfterMs)],
        },
      };
    }
    const flagged = state.r6.untouchedFlagged ?? [];
    const reschedule = schedule('R6', lead.leadId, timer.key, ctx.now + cfg.untouchedAfterMs);
    if (flagged.includes(last))
      return {
        state,
        outcome: {
          rule: 'R6',
          key: `${timer.key}:${last}:again`,
          reason: 'already flagged for this silence',
          effects: [reschedule],
        },
      };
    const days = durationText(ctx.now - last >= cfg.untouchedAfterMs ? cfg.untouchedAfterMs : ctx.now - last);
    const reason = `no touch since ${new Date(last).toISOString()} (${durationEn(ctx.now - last)})`;
    return {
      state: { ...state, r6: { ...state.r6, untouchedFlagged: [...flagged.slice(-4), last] } },
      outcome: {
        rule: 'R6',
        key: `${timer.key}:${last}:violation`,
        reason,
        effects: [
          ...violationEffects(
            {
              type: 'deferred_untouched',
              rule: 'R6',
              seed: R6_SEED,
              lead,
              ...(lead.responsibleUserId !== undefined ? { userId: lead.responsibleUserId } : {}),
              since: last,
              window: String(last),
              reason,
            },
            ctx,
          ),
          note(lead.leadId, r6Text.untouched({ days, manager: nameOf(ctx.rules, lead.responsibleUserId) })),
          reschedule,
        ],
      },
    };
  },
};
