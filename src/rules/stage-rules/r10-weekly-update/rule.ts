/**
 * R10 — weekly update (seed 002 §2.6, §2.12: «Специалист ОП по каждому из переданных ему ЛИДов не реже 1 раза в
 * неделю вносит комментарии и обновляет статусы проектов»).
 *
 * Run by the sweep for every open lead it pages through: the last touch is the newest note or stage change by a
 * person the worker saw, else the newest such touch in amoCRM's events, else the lead's creation (never amoCRM's
 * `updated_at`, which the robot's own writes move); `maxSilence` past it → violation
 * `lead_stale` and a task, once per silence and week (`<lastTouch>w<n>`).
 */
import {
  durationEn,
  formatLocal,
  durationText,
  nameOf,
  violationEffects,
  type StageContext,
  type StageLead,
  type StageState,
} from '../common.js';
import { note, type StageRule, type Step } from '../rule.js';
import { r10Text } from './templates.js';

export const R10_SEED =
  'seed 002 §2.6, §2.12: «не реже 1 раза в неделю вносит комментарии и обновляет статусы проектов»';

export function r10OnSweep(state: StageState, lead: StageLead, ctx: StageContext): Step {
  const cfg = ctx.stage.weeklyUpdate;
  if (
    !cfg ||
    lead.statusId === undefined ||
    !cfg.openStatusIds.has(lead.statusId) ||
    (lead.pipelineId !== undefined && !cfg.pipelineIds.includes(lead.pipelineId))
  )
    return { state };
  // People only: the robot's moves, notes and tasks never restart the silence.
  const base = state.lastTouchAt ?? lead.lastPersonTouchAt ?? lead.createdAt;
  if (base === undefined) return { state };
  const weeks = Math.floor((ctx.now - base) / cfg.maxSilenceMs);
  if (weeks < 1)
    return state.lastTouchAt === undefined && lead.lastPersonTouchAt !== undefined
      ? { state: { ...state, lastTouchAt: lead.lastPersonTouchAt } }
      : { state };
  const window = `${base}w${weeks}`;
  if ((state.r10 ?? []).includes(window)) return { state };
  const silence = durationText(cfg.maxSilenceMs);
  const reason = `no note or stage change by a person since ${new Date(base).toISOString()} (more than ${durationEn(cfg.maxSilenceMs)}, week ${weeks})`;
  const user = lead.responsibleUserId;
  return {
    state: { ...state, lastTouchAt: base, r10: [...(state.r10 ?? []).slice(-4), window] },
    outcome: {
      rule: 'R10',
      key: `${window}:stale`,
      reason,
      effects: [
        ...violationEffects(
          {
            type: 'lead_stale',
            rule: 'R10',
            seed: R10_SEED,
            lead,
            ...(user !== undefined ? { userId: user } : {}),
            since: base,
            window,
            reason,
          },
          ctx,
        ),
        ...(user !== undefined
          ? [
              {
                kind: 'create_task' as const,
                leadId: lead.leadId,
                ref: `r10:update:${window}`,
                userId: user,
                text: r10Text.task,
                dueAt: ctx.now + 24 * 3600_000,
              },
            ]
          : []),
        note(
          lead.leadId,
          r10Text.note({ since: formatLocal(base, ctx.rules.timeZone), silence, manager: nameOf(ctx.rules, user) }),
        ),
      ],
    },
  };
}

export const r10WeeklyUpdate: StageRule = { rule: 'R10', onSweep: r10OnSweep };
