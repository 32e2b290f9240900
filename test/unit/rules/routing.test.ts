import { beforeAll, describe, expect, it } from '@jest/globals';
import { smoothWeightedRoundRobin } from '../../../src/rules/distribution/distribution.js';
import { decideAfterPick, planAssignment } from '../../../src/rules/pickup/pickup.js';
import {
  emptyPickupState,
  type AssignmentRequest,
  type CompiledRules,
  type Decision,
  type LeadSnapshot,
} from '../../../src/rules/types.js';
import { ADMIN, ctxAt, demoRules, PIPELINE, STAGE } from '../../helpers/rules.js';

const NOW = '2026-11-24T10:00:00.000Z';
const BORIS = 9102;
const VIKTOR = 9103;
let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});
const lead = (over: Partial<LeadSnapshot> = {}): LeadSnapshot => ({
  leadId: 42,
  pipelineId: PIPELINE,
  statusId: STAGE,
  responsibleUserId: ADMIN,
  tags: [],
  ...over,
});
const requestOf = (ds: Decision[]): AssignmentRequest =>
  (ds.find((d) => d.kind === 'assign') as Extract<Decision, { kind: 'assign' }>).request;

describe('R2 routing before rotation (seed 003 «Создаёт заявку на того агента, чей объект»)', () => {
  it('when a lead carries the listing tag of Борис, then it is offered to Борис alone; without the tag, to the whole rotation (control)', () => {
    const routed = requestOf(
      planAssignment(emptyPickupState(42), lead({ tags: ['Объект: Борис Кузнецов'] }), ctxAt(rules, NOW), 'new_lead')
        .decisions,
    );
    expect(routed.eligible.map((c) => c.userId)).toEqual([BORIS]);
    expect(routed.routing).toEqual({ kind: 'listing_owner', userId: BORIS });
    const rotation = requestOf(planAssignment(emptyPickupState(42), lead(), ctxAt(rules, NOW), 'new_lead').decisions);
    expect(rotation.eligible.length).toBeGreaterThan(1);
    expect(rotation.routing).toBeUndefined();
  });

  it('when the contact belongs to Виктор (a returning client), then the lead goes to Виктор and the note says why', () => {
    const ctx = ctxAt(rules, NOW);
    const r = planAssignment(emptyPickupState(42), lead({ contactOwnerUserId: VIKTOR }), ctx, 'new_lead');
    const request = requestOf(r.decisions);
    expect(request.eligible.map((c) => c.userId)).toEqual([VIKTOR]);
    const { winner, next } = smoothWeightedRoundRobin({}, request.eligible);
    const after = decideAfterPick(
      r.pickup,
      lead(),
      request,
      {
        department: request.department,
        strategy: request.strategy,
        candidates: request.eligible,
        skipped: [],
        scores: next,
        ...(winner !== undefined ? { winner } : {}),
      },
      ctx,
    );
    const noteText = (after.decisions.find((d) => d.kind === 'add_note') as Extract<Decision, { kind: 'add_note' }>)
      .text;
    expect(noteText).toContain('клиент уже обращался, за ним закреплён(а) Виктор Попов');
    const record = after.decisions.find((d) => d.kind === 'record') as Extract<Decision, { kind: 'record' }>;
    expect(record.explanation?.routing).toEqual({ kind: 'returning_client', userId: VIKTOR });
  });

  it('when the owner is paused, then rotation decides and the reason is recorded', () => {
    const paused = new Map([[`manager:${BORIS}`, { by: 'РОП', reason: 'нарушение', at: 0 }]]);
    const request = requestOf(
      planAssignment(
        emptyPickupState(42),
        lead({ tags: ['Объект: Борис Кузнецов'] }),
        { ...ctxAt(rules, NOW), paused },
        'new_lead',
      ).decisions,
    );
    expect(request.eligible.map((c) => c.userId)).not.toContain(BORIS);
    expect(request.routing).toEqual({ kind: 'listing_owner', userId: BORIS, skipped: 'paused' });
  });

  it('when the owner is the admin (not a manager), then rotation decides with reason not_a_manager', () => {
    const request = requestOf(
      planAssignment(emptyPickupState(42), lead({ contactOwnerUserId: ADMIN }), ctxAt(rules, NOW), 'new_lead')
        .decisions,
    );
    expect(request.routing).toEqual({ kind: 'returning_client', userId: ADMIN, skipped: 'not_a_manager' });
    expect(request.eligible.length).toBeGreaterThan(1);
  });
});
