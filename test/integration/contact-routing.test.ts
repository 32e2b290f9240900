/**
 * R2 routing of a returning client through the shell: the webhook handler and the sweep read the lead with its
 * contacts and the main contact's owner (one contacts request per batch) before the assignment is planned.
 * Real Redis, the in-memory amoCRM of test/helpers/fake-amo.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createWebhookEventHandler } from '../../src/jobs/handlers/webhook-event.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import type { LeadEvent } from '../../src/rules/events.js';
import type { CompiledRules, DistributionExplanation, RuleContext } from '../../src/rules/types.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { createFakeAmo, type FakeContact, type FakeLead } from '../helpers/fake-amo.js';
import { wirePickup } from '../helpers/pickup-harness.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { ADMIN, demoRules, PIPELINE, STAGE } from '../helpers/rules.js';

const START = '2026-11-24T10:00:00Z'; // a Tuesday, 13:00 in Moscow: Отдел продаж 1 works always
const ANNA = 9101; // weight 2: the rotation's first pick in Отдел продаж 1 (an even lead id falls to that department)
const BORIS = 9102;
const VIKTOR = 9103;

let redis: Redis;
let rules: CompiledRules;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = connectTestRedis();
  rules = await demoRules();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

function harness(
  leads: FakeLead[],
  contacts: FakeContact[],
  options: { rules?: CompiledRules; context?: (ctx: RuleContext) => Promise<RuleContext> } = {},
) {
  const prefix = uniquePrefix('contact-routing');
  prefixes.push(prefix);
  const clock = createManualClock(START);
  const fake = createFakeAmo(leads, contacts);
  const logger = createLogger({ level: 'silent' });
  const r = options.rules ?? rules;
  const {
    records,
    effects,
    engine,
    leads: leadStore,
  } = wirePickup({
    redis,
    prefix,
    rules: () => r,
    fake,
    clock,
    logger,
    ...(options.context ? { context: options.context } : {}),
  });
  const handle = createWebhookEventHandler({
    leads: leadStore,
    clock,
    logger,
    effects,
    onLeadEvent: (input) => engine.onLeadEvent(input),
  });
  return { fake, records, engine, handle };
}

/** A lead created straight in the pickup stage by the admin (not a manager): it must be assigned. */
const created = (leadId: number): LeadEvent => ({
  kind: 'lead',
  action: 'add',
  leadId,
  short: false,
  tags: [],
  customFields: [],
  pipelineId: PIPELINE,
  statusId: STAGE,
  responsibleUserId: ADMIN,
  createdUserId: ADMIN,
  modifiedUserId: ADMIN,
  updatedAt: START,
  dedupeKey: `lead:${leadId}:add`,
  deliveryId: `d${leadId}`,
  receivedAt: START,
  account: { subdomain: 'demo-realty' },
});

const inStage = (id: number, contactId?: number): FakeLead => ({
  id,
  responsible: ADMIN,
  statusId: STAGE,
  pipelineId: PIPELINE,
  ...(contactId !== undefined ? { contactId } : {}),
});

async function assignmentOf(records: ReturnType<typeof createRecordStore>, leadId: number) {
  const list = await records.forLead(leadId);
  const assignment = list.find((r) => r.kind === 'assignment');
  expect(assignment).toBeDefined();
  return { ...assignment!, explanation: assignment!.explanation as DistributionExplanation };
}

describe('R2: a returning client goes to the manager who owns the contact', () => {
  it("when a new lead's main contact belongs to an eligible manager, then the lead goes to that manager and the record says why", async () => {
    const lead = 870_001;
    const h = harness([inStage(lead, 50_001)], [{ id: 50_001, responsible: VIKTOR }]);

    await h.handle({ event: created(lead) });

    // Rotation alone would have given it to Анна (weight 2, the first pick); the contact's owner is Виктор.
    expect(h.fake.state.get(lead)!.responsible).toBe(VIKTOR);
    expect(h.fake.calls.leadsReadWithContacts).toBe(1);
    expect(h.fake.calls.contactIdsRead).toEqual([[50_001]]);
    const record = await assignmentOf(h.records, lead);
    expect(record.userId).toBe(VIKTOR);
    expect(record.explanation.routing).toEqual({ kind: 'returning_client', userId: VIKTOR });
    expect(record.explanation.winner).toBe(VIKTOR);
    // The note in amoCRM tells the managers why, in Russian.
    expect(h.fake.notes.map((n) => n.params.text).join('\n')).toContain(
      'клиент уже обращался, за ним закреплён(а) Виктор Попов',
    );
  });

  it("when the contact's manager has paused intake, then rotation picks and the record keeps the skipped owner and the reason", async () => {
    const lead = 870_002;
    const paused = async (ctx: RuleContext): Promise<RuleContext> => ({
      ...ctx,
      paused: new Map([[`manager:${VIKTOR}`, { by: 'РОП', reason: 'отпуск', at: Date.parse(START) }]]),
    });
    const h = harness([inStage(lead, 50_002)], [{ id: 50_002, responsible: VIKTOR }], { context: paused });

    await h.handle({ event: created(lead) });

    expect(h.fake.state.get(lead)!.responsible).toBe(ANNA);
    expect(h.fake.calls.contactIdsRead).toEqual([[50_002]]);
    const record = await assignmentOf(h.records, lead);
    expect(record.userId).toBe(ANNA);
    expect(record.explanation.routing).toEqual({ kind: 'returning_client', userId: VIKTOR, skipped: 'paused' });
    expect(record.explanation.candidates.map((c) => c.userId)).not.toContain(VIKTOR);
    expect(h.fake.notes.map((n) => n.params.text).join('\n')).toContain(
      'менеджер, за которым закреплён клиент (Виктор Попов) сейчас не может взять заявку (приём заявок приостановлен)',
    );
  });

  it("when the sweep finds several leads without a clock, then their contacts' owners come in one contacts request and each lead goes to its owner", async () => {
    const h = harness(
      [inStage(870_011, 50_011), inStage(870_012, 50_012), inStage(870_014)],
      [
        { id: 50_011, responsible: VIKTOR },
        { id: 50_012, responsible: BORIS },
      ],
    );

    const result = await h.engine.sweep();

    expect(result).toMatchObject({ found: 3, started: 3, failed: 0 });
    expect(h.fake.calls.contactsReads).toBe(1);
    expect(h.fake.calls.contactIdsRead[0]!.sort()).toEqual([50_011, 50_012]);
    expect(h.fake.state.get(870_011)!.responsible).toBe(VIKTOR);
    expect(h.fake.state.get(870_012)!.responsible).toBe(BORIS);
    // No contact: rotation, whose first pick is Анна.
    expect(h.fake.state.get(870_014)!.responsible).toBe(ANNA);
    expect((await assignmentOf(h.records, 870_012)).explanation.routing).toEqual({
      kind: 'returning_client',
      userId: BORIS,
    });
    expect((await assignmentOf(h.records, 870_014)).explanation.routing).toBeUndefined();
  });

  it('when returning-client routing is off, then no contact is read and rotation picks', async () => {
    const lead = 870_022;
    const off = await demoRules((c) => {
      c.routing = { ...c.routing, returningClient: false };
    });
    const h = harness([inStage(lead, 50_021)], [{ id: 50_021, responsible: VIKTOR }], { rules: off });

    await h.handle({ event: created(lead) });

    expect(h.fake.calls.contactsReads).toBe(0);
    expect(h.fake.calls.leadsReadWithContacts).toBe(0);
    expect(h.fake.state.get(lead)!.responsible).toBe(ANNA);
  });
});
