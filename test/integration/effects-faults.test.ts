/**
 * The pickup's effect path when amoCRM, a worker or a job fails: real Redis, the real executor and timer set, a
 * fake amoCRM with fault switches and a clock moved by hand. Each case reproduces a failure of the engine that
 * applied decisions inline (one poison lead halting every deadline, deadlines forgotten after an outage, a crash
 * after the responsible PATCH read back as a person's change, a retried webhook job deciding nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { type Effects } from '../../src/effects/index.js';
import type { Plan } from '../../src/rules/plan.js';
import { createPickupEngine, DEADLINE_KEY, PICKUP_RULE, type PickupEngine } from '../../src/jobs/handlers/pickup.js';
import { createWebhookEventHandler } from '../../src/jobs/handlers/webhook-event.js';
import { createQueues } from '../../src/jobs/queues.js';
import { createWorkers } from '../../src/jobs/worker.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { type Metrics } from '../../src/lib/metrics.js';
import type { LeadEvent } from '../../src/rules/events.js';
import type { CompiledRules, PickupState } from '../../src/rules/types.js';
import { type DistributionStore } from '../../src/store/distribution-store.js';
import { type Keys } from '../../src/store/keys.js';
import { createLeadStore, LEAD_LOCK_MS } from '../../src/store/lead-store.js';
import { type Outbox } from '../../src/store/outbox.js';
import { createPickupStore } from '../../src/store/pickup-store.js';
import { type RecordStore } from '../../src/store/record-store.js';
import { createFakeAmo, type FakeLead } from '../helpers/fake-amo.js';
import { wirePickup } from '../helpers/pickup-harness.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { demoRules, PIPELINE, STAGE } from '../helpers/rules.js';
import { waitFor } from '../helpers/wait.js';

const START = '2026-11-24T10:00:00Z'; // a Tuesday, 13:00 in Moscow: the department is on shift
const DEPT = 'Отдел продаж 1';
const FIRST = 9101;

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

interface Harness {
  keys: Keys;
  clock: ReturnType<typeof createManualClock>;
  fake: ReturnType<typeof createFakeAmo>;
  effects: Effects;
  engine: PickupEngine;
  records: RecordStore;
  outbox: Outbox;
  metrics: Metrics;
  distribution: DistributionStore;
  logs: Array<Record<string, unknown>>;
}

function harness(leadIds: number[], options: { responsible?: number } = {}): Harness {
  const prefix = uniquePrefix('faults');
  prefixes.push(prefix);
  const clock = createManualClock(START);
  const fake = createFakeAmo(
    leadIds.map((id): FakeLead => ({
      id,
      responsible: options.responsible ?? FIRST,
      statusId: STAGE,
      pipelineId: PIPELINE,
    })),
    [],
    { now: () => clock.now().getTime() },
  );
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const { keys, effects, engine, records, outbox, metrics, distribution } = wirePickup({
    redis,
    prefix,
    rules: () => rules,
    fake,
    clock,
    logger,
  });
  return { keys, clock, fake, effects, engine, records, outbox, metrics, distribution, logs };
}

/** Leads with a running clock for FIRST whose deadline is now. */
async function runningClocks(h: Harness, leadIds: number[]): Promise<void> {
  const now = h.clock.now().getTime();
  const plans: Plan[] = leadIds.map((id) => {
    const pickup: PickupState = {
      leadId: id,
      clock: 1,
      phase: 'running',
      department: DEPT,
      assignedUserId: FIRST,
      assignedAt: now - 15_000,
      deadlineAt: now,
      missedUserIds: [],
      misses: 0,
    };
    return {
      id: `setup-${id}`,
      rule: 'test',
      leadId: id,
      reason: 'setup',
      state: { pickup },
      effects: [{ kind: 'schedule_timer', rule: PICKUP_RULE, leadId: id, key: DEADLINE_KEY, dueAt: now }],
    };
  });
  await h.effects.executor.execute(plans);
}

/** The due deadlines are decided, then amoCRM goes down for `ms` while the loop keeps retrying their plans. */
async function decideDuringOutage(h: Harness, ms: number): Promise<void> {
  const { timers, lease } = await h.effects.timers.claim(h.clock.now().getTime(), 10, 20_000);
  const { committed } = await h.engine.onDue(timers);
  await h.effects.timers.settle(lease, timers);
  h.fake.faults.down = true;
  await h.effects.executor.drain(committed);
  for (let t = 0; t < ms; t += 5_000) {
    h.clock.advance(5_000);
    await h.effects.executor.resumeDue();
  }
}

const ids = (n: number, from: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const counter = async (m: Metrics, name: string): Promise<number> => {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (metric?.values ?? []).reduce((s, v) => s + Number(v.value), 0);
};

describe('the effect path under faults', () => {
  it('when amoCRM always refuses one lead in a batch, then every other lead is reassigned and the refused one is dead-lettered with the request and the answer, alerted once', async () => {
    const leads = ids(10, 810_000);
    const poison = leads[3]!;
    const h = harness(leads);
    h.fake.faults.poison.add(poison);
    await runningClocks(h, leads);

    await h.effects.tick();

    const reassigned = leads.filter((id) => h.fake.state.get(id)!.responsible !== FIRST);
    expect(reassigned).toEqual(leads.filter((id) => id !== poison));
    expect(h.fake.calls.refused).toBe(1);
    const dead = (await redis.lrange(h.keys.of('effects', 'dead-letter'), 0, -1)).map(
      (x) => JSON.parse(x) as Record<string, unknown>,
    );
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      leadId: poison,
      rule: 'R1',
      request: { method: 'PATCH', path: '/api/v4/leads', body: { id: poison } },
      error: { status: 400, fieldErrors: [{ path: 'responsible_user_id', detail: 'The user is not active' }] },
    });
    expect(await counter(h.metrics, 'amo_effects_dead_lettered_total')).toBe(1);
    // The refused lead's note and messages were not produced: they would describe a write that never happened.
    expect(h.fake.notes.filter((n) => n.entity_id === poison)).toHaveLength(0);
    expect(h.fake.notes.filter((n) => n.entity_id !== poison)).toHaveLength(9);

    // Its next deadline fails again: the others still proceed, and the operator is not alerted twice.
    h.clock.advance(60_000);
    await h.effects.tick();
    expect(h.fake.calls.refused).toBe(2);
    expect(h.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ACTION NEEDED'))).toHaveLength(1);
    expect(
      leads.filter((id) => id !== poison).every((id) => ![FIRST].includes(h.fake.state.get(id)!.responsible)),
    ).toBe(true);
  });

  it('when amoCRM is down for ten minutes, then no deadline is forgotten and all overdue leads are acted on in the first pass after it returns', async () => {
    const leads = ids(20, 820_000);
    const h = harness(leads);
    h.fake.faults.down = true;
    await runningClocks(h, leads);
    for (let t = 0; t < 10 * 60_000; t += 5_000) {
      await h.effects.tick();
      h.clock.advance(5_000);
    }
    expect(h.fake.calls.patches).toHaveLength(0);
    expect(await h.effects.timers.count()).toBe(20); // every deadline still there

    h.fake.faults.down = false;
    h.clock.advance(5_000);
    const readsBefore = h.fake.calls.leadsReads;
    await h.effects.tick();
    expect(h.fake.calls.patches.map((p) => p.id).sort()).toEqual(leads);
    expect(h.fake.calls.leadsReads - readsBefore).toBe(1); // one batch re-read all twenty
  });

  it('when amoCRM comes back after a long outage, then a plan parked during it is carried out within seconds, not minutes', async () => {
    const lead = 825_001;
    const h = harness([lead]);
    await runningClocks(h, [lead]);
    // The deadline's plan is committed, then amoCRM goes down for six minutes; the loop keeps retrying the plan.
    await decideDuringOutage(h, 6 * 60_000);
    expect(h.fake.calls.patches).toHaveLength(0);
    expect(await h.effects.executor.store.pendingPlans(lead)).toHaveLength(1);
    h.fake.faults.down = false;
    h.clock.advance(10_000);
    await h.effects.executor.resumeDue();
    expect(h.fake.calls.patches).toHaveLength(1);
    expect(await h.effects.executor.store.pendingPlans(lead)).toEqual([]);
  });

  it('when a reassignment reaches amoCRM only after an outage longer than the clock, then the new manager gets the full time from then and is not charged a miss', async () => {
    const lead = 826_001;
    const h = harness([lead]);
    await runningClocks(h, [lead]);
    await decideDuringOutage(h, 60_000);
    h.fake.faults.down = false;
    h.clock.advance(5_000);
    await h.effects.executor.resumeDue();
    expect(h.fake.calls.patches).toHaveLength(1);
    const second = h.fake.calls.patches[0]!.responsible_user_id!;
    const landedAt = h.clock.now().getTime();
    // The second manager's deadline (15 s after the decision) passed during the outage. Judged now, they would be
    // charged a miss for a lead they could see for no time at all.
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(1);
    expect((await h.engine.pickups.get(lead)) as PickupState).toMatchObject({
      phase: 'running',
      assignedUserId: second,
      misses: 1,
      missedUserIds: [FIRST],
    });
    expect(h.fake.notes.filter((n) => n.entity_id === lead).at(-1)?.params?.text).toMatch(
      /^Назначение дошло до amoCRM с опозданием/,
    );
    // Its full time after the landing, the lead moves on as usual.
    h.clock.advance(landedAt + 15_000 - h.clock.now().getTime() - 3_000);
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(1);
    h.clock.advance(3_000);
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(2);
    expect(await h.engine.pickups.get(lead)).toMatchObject({ misses: 2, missedUserIds: [FIRST, second] });
  });

  it('when a deadline timer is lost, then the sweep restores it from the pickup state', async () => {
    const leads = ids(3, 830_000);
    const h = harness(leads);
    await runningClocks(h, leads);
    await h.effects.timers.cancel([{ rule: PICKUP_RULE, leadId: leads[1]!, key: DEADLINE_KEY }]);
    expect(await h.effects.timers.count()).toBe(2);
    const swept = await h.engine.sweep();
    expect(swept.rescheduled).toBe(1);
    await h.effects.tick();
    expect(h.fake.calls.patches.map((p) => p.id).sort()).toEqual(leads);
  });

  it('when every lead in the stage has a live clock and its timer but one, then the sweep locks only that one and restores its timer', async () => {
    const leads = ids(4, 835_000);
    const h = harness(leads);
    await runningClocks(h, leads);
    await h.effects.timers.cancel([{ rule: PICKUP_RULE, leadId: leads[2]!, key: DEADLINE_KEY }]);
    const store = createLeadStore(redis, h.keys);
    const locked: number[] = [];
    const counting = {
      ...store,
      withLock: <T>(leadId: number, fn: () => Promise<T>) => (locked.push(leadId), store.withLock(leadId, fn)),
    };
    const engine = createPickupEngine({
      rules: () => rules,
      amo: h.fake.amo,
      leads: counting,
      pickups: createPickupStore(redis, h.keys),
      distribution: h.distribution,
      effects: h.effects,
      clock: h.clock,
      logger: pino({ level: 'silent' }),
    });
    const swept = await engine.sweep();
    expect(swept).toEqual({ found: 4, started: 0, rescheduled: 1, failed: 0 });
    expect(locked).toEqual([leads[2]]);
    expect(await h.effects.timers.count()).toBe(4);
  });

  it('when the worker dies right after the responsible PATCH, then the resumed intent does not write it again, posts the note once, and the manager who missed never gets the lead back', async () => {
    const lead = 840_001;
    const h = harness([lead]);
    await runningClocks(h, [lead]);
    // The deadline's plan is committed (state + intent) by the check, as onDue does under the lead's lock.
    const { timers, lease } = await h.effects.timers.claim(h.clock.now().getTime(), 10, 120_000);
    const result = await h.engine.onDue(timers);
    await h.effects.timers.settle(lease, timers);
    const committed = result.committed;
    expect(committed).toHaveLength(1);
    const plan = committed[0]!.plan;
    const patch = plan.effects.find((e) => e.kind === 'set_responsible');
    if (patch?.kind !== 'set_responsible') throw new Error('the deadline plan has no reassignment');
    // ...amoCRM applies the PATCH, and the process is killed before it marks anything.
    await h.fake.amo.updateLead({ id: lead, responsible_user_id: patch.toUserId });
    const second = patch.toUserId;
    expect(second).not.toBe(FIRST);

    // Another worker's recovery once the lease is over (here the second manager's deadline has passed too).
    h.clock.advance(61_000);
    const { outcomes } = await h.effects.executor.resumeDue();
    expect(outcomes).toEqual([{ kind: 'done', planId: plan.id, leadId: lead }]);
    expect(h.fake.calls.patches).toHaveLength(1); // the reconciliation saw the responsible already set
    expect(h.fake.notes.filter((n) => n.entity_id === lead)).toHaveLength(1);
    const recorded = await h.records.forLead(lead);
    expect(recorded.map((r) => r.kind)).toEqual(['violation', 'reassignment']);
    expect((await h.outbox.pending()).map((m) => m.template).sort()).toEqual(['lead_assigned', 'pickup_missed']);
    expect(await h.engine.pickups.get(lead)).toMatchObject({
      phase: 'running',
      assignedUserId: second,
      misses: 1,
      missedUserIds: [FIRST],
    });

    // The second manager misses too: the lead goes to a third, never back to the first.
    await h.effects.tick();
    const third = h.fake.state.get(lead)!.responsible;
    expect([FIRST, second]).not.toContain(third);
    expect(await h.engine.pickups.get(lead)).toMatchObject({ misses: 2, missedUserIds: [FIRST, second] });
  });

  it('when the note write fails after the PATCH landed, then the retry finishes the plan without a second PATCH', async () => {
    const lead = 850_001;
    const h = harness([lead]);
    await runningClocks(h, [lead]);
    const realNote = h.fake.amo.addLeadNote.bind(h.fake.amo);
    let failNotes = true;
    h.fake.amo.addLeadNote = async (note) => {
      if (failNotes)
        throw new (await import('../../src/amocrm/api/errors.js')).AmoUnavailableError(
          'amoCRM answered 502',
          502,
          'POST /api/v4/leads/notes',
        );
      return realNote(note);
    };
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(1);
    expect(h.fake.notes).toHaveLength(0);
    expect(await h.records.forLead(lead)).toHaveLength(0); // nothing recorded before the plan's writes landed
    failNotes = false;
    h.clock.advance(10_000);
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(1);
    expect(h.fake.notes).toHaveLength(1);
    expect((await h.records.forLead(lead)).map((r) => r.kind)).toEqual(['violation', 'reassignment']);
  });

  it('when a webhook job fails after folding the event, then its retry through the queue still assigns the lead, exactly once', async () => {
    const lead = 860_001;
    const h = harness([lead], { responsible: 9001 });
    const logger = createLogger({ level: 'silent' });
    const leads = createLeadStore(redis, h.keys);
    let failures = 1;
    const onLeadEvent = async (input: Parameters<PickupEngine['onLeadEvent']>[0]): Promise<Plan[]> => {
      const plans = await h.engine.onLeadEvent(input);
      if (input.event.kind === 'lead' && input.event.action === 'status' && failures-- > 0)
        throw new Error('worker crashed while the rules ran');
      return plans;
    };
    const handler = createWebhookEventHandler({ leads, clock: h.clock, logger, effects: h.effects, onLeadEvent });
    const queues = createQueues({ connection: redis, prefix: h.keys.bullPrefix, logger });
    const workers = createWorkers({
      connection: connectTestRedis(),
      prefix: h.keys.bullPrefix,
      logger,
      metrics: h.metrics,
      concurrency: 1,
      handlers: { 'webhook-event': handler },
    });
    try {
      // The lead is created in another stage, then moved into the pickup stage: the move's job fails once.
      const added: LeadEvent = {
        kind: 'lead',
        action: 'add',
        leadId: lead,
        short: false,
        tags: [],
        customFields: [],
        pipelineId: PIPELINE,
        statusId: 7100004,
        responsibleUserId: 9001,
        createdUserId: 9001,
        modifiedUserId: 9001,
        updatedAt: START,
        dedupeKey: `lead:${lead}:add:retry`,
        deliveryId: 'd1',
        receivedAt: START,
        account: { subdomain: 'demo-realty' },
      };
      await queues.add('webhook-event', { event: added });
      await waitFor(async () => (await leads.get(lead)) !== undefined, 'the first event');
      const moved: LeadEvent = {
        ...added,
        action: 'status',
        statusId: STAGE,
        oldStatusId: 7100004,
        updatedAt: '2026-11-24T10:00:05Z',
        dedupeKey: `lead:${lead}:status:retry`,
      };
      await queues.add('webhook-event', { event: moved }, { backoff: { type: 'fixed', delay: 50 } });
      await waitFor(
        async () => (await h.records.forLead(lead)).length > 0,
        'the retried job to assign the lead',
        15_000,
      );
      expect(failures).toBe(-1); // the first attempt failed, the second ran
      expect(h.fake.calls.patches).toHaveLength(1);
      expect(h.fake.state.get(lead)!.responsible).not.toBe(9001);
      expect((await h.records.forLead(lead)).map((r) => r.kind)).toEqual(['assignment']);
    } finally {
      await workers.close();
      await queues.close();
    }
  });

  it('when a resumed plan finds that the lead was given to someone else since, then it does not undo that change', async () => {
    const lead = 890_001;
    const h = harness([lead]);
    await runningClocks(h, [lead]);
    const { timers, lease } = await h.effects.timers.claim(h.clock.now().getTime(), 10, 20_000);
    const { committed } = await h.engine.onDue(timers);
    await h.effects.timers.settle(lease, timers);
    expect(committed).toHaveLength(1); // committed, then the worker died before any write
    // Meanwhile the РОП gives the lead to 9104 by hand.
    h.fake.state.get(lead)!.responsible = 9104;
    h.clock.advance(21_000);
    await h.effects.executor.resumeDue();
    expect(h.fake.calls.patches).toHaveLength(0);
    expect(h.fake.notes).toHaveLength(0); // a note about an assignment that was not made would mislead
    expect(await h.effects.executor.store.pendingPlans(lead)).toEqual([]);
    // Positive control: without the person's change the same resumed plan is carried out.
    const other = 890_002;
    const g = harness([other]);
    await runningClocks(g, [other]);
    const claimed = await g.effects.timers.claim(g.clock.now().getTime(), 10, 20_000);
    await g.engine.onDue(claimed.timers);
    g.clock.advance(21_000);
    await g.effects.executor.resumeDue();
    expect(g.fake.calls.patches).toHaveLength(1);
  });

  it("when a deadline falls while the previous decision is still being written, then the check waits for it instead of reading it as a person's change", async () => {
    const lead = 890_101;
    const h = harness([lead], { responsible: 9001 });
    const now = h.clock.now().getTime();
    // The assignment to 9101 is committed (clock running, deadline now) but its PATCH has not landed yet.
    const pickup: PickupState = {
      leadId: lead,
      clock: 1,
      phase: 'running',
      department: DEPT,
      assignedUserId: FIRST,
      assignedAt: now - 15_000,
      deadlineAt: now,
      missedUserIds: [],
      misses: 0,
    };
    const [inFlight] = await h.effects.executor.commit([
      {
        id: 'assign-in-flight',
        rule: 'R1',
        leadId: lead,
        reason: 'assignment',
        state: { pickup },
        effects: [
          { kind: 'set_responsible', leadId: lead, toUserId: FIRST, fromUserId: 9001 },
          { kind: 'schedule_timer', rule: PICKUP_RULE, leadId: lead, key: DEADLINE_KEY, dueAt: now },
        ],
      },
    ]);
    await h.effects.timers.schedule([{ rule: PICKUP_RULE, leadId: lead, key: DEADLINE_KEY, dueAt: now }]);
    await h.effects.tick();
    expect(h.fake.calls.patches).toHaveLength(0); // no decision from a half-written state
    expect(await h.engine.pickups.get(lead)).toMatchObject({ clock: 1, assignedUserId: FIRST, misses: 0 });
    await h.effects.executor.drain([inFlight!]);
    expect(h.fake.state.get(lead)!.responsible).toBe(FIRST);
    h.clock.advance(3_000);
    await h.effects.tick();
    // Now the deadline is judged on what amoCRM shows: the assignment landed 15 s after it was decided, so the
    // manager's 15 s run from the landing...
    expect(await h.engine.pickups.get(lead)).toMatchObject({ clock: 1, misses: 0, deadlineAt: now + 15_000 });
    // ...and once they are over with nothing done, the first manager missed it.
    h.clock.advance(12_000);
    await h.effects.tick();
    expect(await h.engine.pickups.get(lead)).toMatchObject({ misses: 1, missedUserIds: [FIRST] });
  });

  it("when the previous decision lands while the deadline's read of amoCRM is on its way, then that stale read is not taken for a person's change", async () => {
    const lead = 890_151;
    const h = harness([lead], { responsible: 9001 });
    const now = h.clock.now().getTime();
    const pickup: PickupState = {
      leadId: lead,
      clock: 1,
      phase: 'running',
      department: DEPT,
      assignedUserId: FIRST,
      assignedAt: now - 15_000,
      deadlineAt: now,
      missedUserIds: [],
      misses: 0,
    };
    const [inFlight] = await h.effects.executor.commit([
      {
        id: 'assign-racing',
        rule: 'R1',
        leadId: lead,
        reason: 'assignment',
        state: { pickup },
        effects: [
          { kind: 'set_responsible', leadId: lead, toUserId: FIRST, fromUserId: 9001 },
          { kind: 'schedule_timer', rule: PICKUP_RULE, leadId: lead, key: DEADLINE_KEY, dueAt: now },
        ],
      },
    ]);
    await h.effects.timers.schedule([{ rule: PICKUP_RULE, leadId: lead, key: DEADLINE_KEY, dueAt: now }]);
    // amoCRM answers the read with the lead as it was, and the assignment's PATCH lands before that answer arrives.
    const amo = h.fake.amo as unknown as { getLeadsByIds: (...args: unknown[]) => Promise<unknown> };
    const read = amo.getLeadsByIds.bind(amo);
    let reads = 0;
    amo.getLeadsByIds = async (...args: unknown[]) => {
      reads += 1;
      const stale = await read(...args);
      if (reads === 1) await h.effects.executor.drain([inFlight!]);
      return stale;
    };
    await h.effects.tick();
    await h.effects.executor.drain([inFlight!]);
    expect(h.fake.calls.patches.map((p) => p.responsible_user_id)).toEqual([FIRST]);
    expect(await h.engine.pickups.get(lead)).toMatchObject({ clock: 1, assignedUserId: FIRST, misses: 0 });
  });

  it('when a webhook job is handed to a second worker after its commit, then the lead is not decided again', async () => {
    const lead = 890_201;
    const h = harness([lead], { responsible: 9001 });
    const logger = createLogger({ level: 'silent' });
    const leads = createLeadStore(redis, h.keys);
    const handler = createWebhookEventHandler({
      leads,
      clock: h.clock,
      logger,
      effects: h.effects,
      onLeadEvent: (input) => h.engine.onLeadEvent(input),
    });
    const queues = createQueues({ connection: redis, prefix: h.keys.bullPrefix, logger });
    const workers = createWorkers({
      connection: connectTestRedis(),
      prefix: h.keys.bullPrefix,
      logger,
      metrics: h.metrics,
      concurrency: 1,
      handlers: { 'webhook-event': handler },
    });
    try {
      const added: LeadEvent = {
        kind: 'lead',
        action: 'add',
        leadId: lead,
        short: false,
        tags: [],
        customFields: [],
        pipelineId: PIPELINE,
        statusId: STAGE,
        responsibleUserId: 9001,
        createdUserId: 9001,
        modifiedUserId: 9001,
        updatedAt: START,
        dedupeKey: `lead:${lead}:add:twice`,
        deliveryId: 'd',
        receivedAt: START,
        account: { subdomain: 'demo-realty' },
      };
      const jobId = await queues.add('webhook-event', { event: added });
      await waitFor(async () => (await h.records.forLead(lead)).length > 0, 'the assignment');
      const assignee = h.fake.state.get(lead)!.responsible;
      // The manager calls: the pickup is taken.
      await queues.add('webhook-event', {
        event: {
          kind: 'note',
          entityType: 'lead',
          entityId: lead,
          noteId: 1,
          noteType: 11,
          createdUserId: assignee,
          dedupeKey: `note:${lead}:call`,
          deliveryId: 'd2',
          receivedAt: START,
          account: { subdomain: 'demo-realty' },
        },
      });
      await waitFor(async () => (await h.engine.pickups.get(lead)).phase === 'taken', 'the call to take the lead');
      // The lead-added job runs again (as when its first worker was killed after the commit and BullMQ re-ran it).
      await queues.get('events').remove(jobId);
      await queues.add('webhook-event', { event: added });
      await waitFor(
        async () => (await (await queues.get('events').getJob(jobId))?.getState()) === 'completed',
        'the redelivered job',
      );
      expect(await h.engine.pickups.get(lead)).toMatchObject({ phase: 'taken', clock: 1 });
      expect(h.fake.calls.patches).toHaveLength(1);
    } finally {
      await workers.close();
      await queues.close();
    }
  });

  it('when the process is told to stop during a timer pass, then it finishes the batch in hand and takes no new one', async () => {
    const h = harness([880_001, 880_002]);
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    h.effects.registerDueHandler('slow', async (due) => {
      seen.push(...due.map((d) => d.leadId));
      await gate;
      return {
        plans: due.map((d) => ({
          id: `slow-${d.leadId}`,
          rule: 'slow',
          leadId: d.leadId,
          reason: 'test',
          state: { slow: 'done' },
          effects: [],
        })),
      };
    });
    const now = h.clock.now().getTime();
    await h.effects.timers.schedule([{ rule: 'slow', leadId: 880_001, key: 'k', dueAt: now }]);
    h.effects.start(10);
    await waitFor(() => seen.length === 1, 'the pass to start');
    await h.effects.timers.schedule([{ rule: 'slow', leadId: 880_002, key: 'k', dueAt: now }]);
    const stopping = h.effects.stop();
    release();
    await stopping;
    expect(await h.effects.executor.store.readState(880_001, ['slow'])).toEqual({ slow: 'done' }); // the batch in hand finished
    expect(await h.effects.timers.get('slow', 880_001, 'k')).toBeUndefined(); // and was settled
    expect(seen).toEqual([880_001]); // the later timer waits for another process
    expect(await h.effects.timers.get('slow', 880_002, 'k')).toBe(now);
  });

  it('when a lock holder works longer than the lock time, then the lock is renewed and nobody else gets the lead meanwhile', async () => {
    const h = harness([870_001]);
    const leads = createLeadStore(redis, h.keys, { lockMs: 300 });
    let intruded = 'no';
    await leads.withLock(870_001, async () => {
      await new Promise((r) => setTimeout(r, 1_000));
      intruded = await leads.withLock(870_001, async () => 'yes').catch(() => 'no');
    });
    expect(intruded).toBe('no');
    // Positive control: once released, the lead can be locked again.
    expect(await leads.withLock(870_001, async () => 'yes')).toBe('yes');
    expect(LEAD_LOCK_MS).toBeGreaterThan(0);
  });
});
