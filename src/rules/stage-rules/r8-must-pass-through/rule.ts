/**
 * R8 — "Встреча состоялась" is never skipped (seed 001, этап «Встреча состоялась»: «НИ В КОЕМ СЛУЧАЕ НЕЛЬЗЯ ПРОПУСКАТЬ
 * ИЛИ "ПЕРЕПРЫГИВАТЬ" этот этап, так как в момент перевода система фиксирует дату встречи и менеджера»).
 *
 * Generalised as `mustPassThrough` rules: a lead that was in `from` and reaches a stage later than `mustPass`
 * without passing it → the rule's violation (`meeting_skipped`), a РОП alert and a task to record the meeting.
 */
import type { Effect } from '../../plan.js';
import { nameOf, violationEffects } from '../common.js';
import { note, type StageRule } from '../rule.js';
import { r8Text } from './templates.js';

export const R8_SEED =
  'seed 001 «Встреча состоялась»: «НИ В КОЕМ СЛУЧАЕ НЕЛЬЗЯ ПРОПУСКАТЬ ИЛИ "ПЕРЕПРЫГИВАТЬ" этот этап»';

export const r8MustPassThrough: StageRule = {
  rule: 'R8',
  onEnter(state, lead, ctx) {
    const armed: Record<string, number> = { ...(state.r8 ?? {}) };
    const effects: Effect[] = [];
    const reasons: string[] = [];
    const entered = state.enteredAt ?? ctx.now;
    for (const mp of ctx.stage.mustPassThrough) {
      if (state.pipelineId !== undefined && state.pipelineId !== mp.pipelineId) continue;
      if (state.statusId === mp.mustPass.statusId) {
        delete armed[mp.name];
        continue;
      }
      const since = armed[mp.name];
      if (since !== undefined && state.statusId !== undefined && mp.later.has(state.statusId)) {
        delete armed[mp.name];
        if (state.robotEntry) continue;
        const to = ctx.stage.statusNames.get(state.statusId) ?? String(state.statusId);
        const reason = `reached "${to}" from "${mp.from.name}" without passing "${mp.mustPass.name}"`;
        reasons.push(reason);
        const user = lead.responsibleUserId;
        effects.push(
          ...violationEffects(
            {
              type: mp.violation,
              rule: 'R8',
              seed: R8_SEED,
              lead,
              ...(user !== undefined ? { userId: user } : {}),
              since,
              window: String(since),
              reason,
            },
            ctx,
          ),
          ...(user !== undefined
            ? [
                {
                  kind: 'create_task' as const,
                  leadId: lead.leadId,
                  ref: `r8:${mp.name}:${since}`,
                  userId: user,
                  text: r8Text.task({ stage: mp.mustPass.name }),
                  dueAt: ctx.now + mp.taskWithinMs,
                },
              ]
            : []),
          note(
            lead.leadId,
            r8Text.note({ from: mp.from.name, stage: mp.mustPass.name, to, manager: nameOf(ctx.rules, user) }),
          ),
        );
      }
      if (state.statusId === mp.from.statusId && armed[mp.name] === undefined) armed[mp.name] = entered;
    }
    const next = { ...state, r8: armed };
    if (effects.length === 0) return { state: next };
    return { state: next, outcome: { rule: 'R8', key: `${entered}:skipped`, reason: reasons.join('; '), effects } };
  },
};
