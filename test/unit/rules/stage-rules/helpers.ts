/** Drives the pure stage rules the way the worker does: fold each event into the lead state, then run the rules. */
import type { Effect, Plan } from '../../../../src/rules/plan.js';
import type { LeadEvent, NoteEvent, WebhookEvent } from '../../../../src/rules/events.js';
import { applyEvent, emptyLeadState, type LeadState } from '../../../../src/rules/lead-state.js';
import {
  emptyStageState,
  stageRulesOnLeadEvent,
  type StageLead,
  type StageState,
} from '../../../../src/rules/stage-rules/index.js';
import type { CompiledRules } from '../../../../src/rules/types.js';
import { loadRulesFile } from '../../../../src/config/load.js';
import { ctxAt, demoRules, PIPELINE } from '../../../helpers/rules.js';

/**
 * The simulator's account with the stage rules exactly as shipped in config/rules.yaml (the regulations' numbers:
 * 1 day, 10 minutes, a month, 30 days, 2-3 hours, 2 working days, 5 days, 7 days), so changing one fails a test.
 */
export async function shippedStageRules(): Promise<CompiledRules> {
  const shipped = await loadRulesFile('config/rules.yaml');
  if (!shipped.ok) throw new Error(JSON.stringify(shipped.errors));
  return demoRules((c) => {
    if (shipped.config.stageRules) c.stageRules = shipped.config.stageRules;
  });
}

export const S = {
  handoff: 7100006,
  noAnswer: 7100007,
  closing: 7100008,
  deferred: 7100009,
  needs: 7100010,
  meetingSet: 7100011,
  meetingHeld: 7100012,
  offer: 7100013,
  feedback: 7100014,
  lost: 143,
  won: 142,
} as const;
export const ANNA = 9101;
export const BORIS = 9102;
export const HEAD1 = 9100;
export const CHAT1 = '-1001000000001';
export const MEETING_FIELD = 801001;
export const LEAD = 42;

let seq = 0;
export const leadEvent = (at: string, over: Partial<LeadEvent>): LeadEvent => ({
  deliveryId: 'd',
  receivedAt: at,
  account: { subdomain: 'demo-realty' },
  kind: 'lead',
  action: 'status',
  leadId: LEAD,
  short: false,
  tags: [],
  customFields: [],
  pipelineId: PIPELINE,
  responsibleUserId: ANNA,
  modifiedUserId: ANNA,
  updatedAt: at,
  dedupeKey: `k${++seq}`,
  ...over,
});

export const noteEvent = (at: string, by: number, noteType = 4): NoteEvent => ({
  deliveryId: 'd',
  receivedAt: at,
  account: { subdomain: 'demo-realty' },
  kind: 'note',
  entityType: 'lead',
  entityId: LEAD,
  noteId: ++seq,
  noteType,
  createdUserId: by,
  createdAt: at,
  dedupeKey: `n${seq}`,
});

export interface Walk {
  lead: LeadState | undefined;
  stage: StageState;
  plans: Plan[];
}

export const startWalk = (): Walk => ({ lead: undefined, stage: emptyStageState(), plans: [] });

/** One event through the reducer and the stage rules, at the event's own time. */
export function step(rules: CompiledRules, w: Walk, event: WebhookEvent, now: string): Walk {
  const after = applyEvent(w.lead ?? emptyLeadState(LEAD), event, now);
  const r = stageRulesOnLeadEvent({ before: w.lead, after, event, state: w.stage, ctx: ctxAt(rules, now) });
  return { lead: after, stage: r.state, plans: [...w.plans, ...r.plans] };
}

export const moveTo = (
  rules: CompiledRules,
  w: Walk,
  statusId: number,
  at: string,
  over: Partial<LeadEvent> = {},
): Walk =>
  step(
    rules,
    w,
    leadEvent(at, { statusId, ...(w.lead?.statusId !== undefined ? { oldStatusId: w.lead.statusId } : {}), ...over }),
    at,
  );

export const effects = (plans: Plan[]): Effect[] => plans.flatMap((p) => p.effects);
export const ofKind = <K extends Effect['kind']>(plans: Plan[], kind: K): Array<Extract<Effect, { kind: K }>> =>
  effects(plans).filter((e): e is Extract<Effect, { kind: K }> => e.kind === kind);
export const violations = (plans: Plan[]) =>
  ofKind(plans, 'record')
    .filter((e) => e.record.kind === 'violation')
    .map((e) => e.record);

export const freshLead = (statusId: number, over: Partial<StageLead> = {}): StageLead => ({
  leadId: LEAD,
  pipelineId: PIPELINE,
  statusId,
  responsibleUserId: ANNA,
  tags: [],
  fields: new Map(),
  ...over,
});
export const ms = (isoText: string): number => Date.parse(isoText);
