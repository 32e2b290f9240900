/**
 * The limits of one process, for sizing a deployment:
 *
 * 1. The rule core on a recorded day: a working day of one agency's webhook events (leads arriving 09:00-21:00,
 *    calls, notes, stage moves, completed tasks; seeded) replayed through the pure pickup and distribution rules
 *    (`replay` of the admin dry run, the same functions the worker calls) on one core: events and decisions a
 *    second.
 * 2. The worker shell at deadlines: N running clocks due at once, decided by the real pickup engine and the effect
 *    executor on real Redis, with amoCRM answered in memory (so the figure is the worker's own cost, not amoCRM's
 *    latency): decisions a second of one worker process, CPU per decision, and amoCRM requests per decision.
 *
 * From 2 and the account's limit of 7 amoCRM requests a second: how many deadline decisions a second one account
 * can carry, and how many worker processes it takes to reach that.
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { replay } from '../src/admin/dry-run.js';
import type { Plan } from '../src/effects/types.js';
import { DEADLINE_KEY, PICKUP_RULE } from '../src/jobs/handlers/pickup.js';
import { createManualClock } from '../src/lib/clock.js';
import { connectRedis } from '../src/lib/redis.js';
import type { LeadEvent, NoteEvent, TaskEvent, WebhookEvent } from '../src/rules/events.js';
import type { CompiledRules, PickupState } from '../src/rules/types.js';
import { createFakeAmo, type FakeLead } from '../test/helpers/fake-amo.js';
import { wirePickup } from '../test/helpers/pickup-harness.js';
import { demoRules, PIPELINE, STAGE } from '../test/helpers/rules.js';

export interface CoreFigures {
  leads: number;
  events: number;
  decisions: number;
  cpuMs: number;
  eventsPerSecond: number;
  decisionsPerSecond: number;
}

export interface ShellFigures {
  leads: number;
  seconds: number;
  cpuMsPerDecision: number;
  decisionsPerSecond: number;
  /** Requests as the in-memory amoCRM counted them (every write singly). */
  amoRequests: number;
  batches: number;
  /** With each batch's writes as one PATCH and one notes POST, as the real client sends them. */
  requestsPerDecision: number;
  /** Deadline decisions a second the account's 7 requests a second carry at this batching. */
  accountDecisionsPerSecond: number;
  /** Worker processes (one core each) it takes to make that many decisions. */
  workersToSaturate: number;
}

const DAY = '2026-11-24'; // a Tuesday
const MANAGERS_1 = [9101, 9102, 9103, 9104];
const MANAGERS_2 = [9201, 9202, 9203, 9204];

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A working day of webhook events: each lead arrives in the pickup stage, people call, write, move and close tasks. */
export function recordedDay(leads: number, seed = 7): WebhookEvent[] {
  const random = seeded(seed);
  const start = Date.parse(`${DAY}T06:00:00Z`); // 09:00 in Moscow
  const span = 12 * 3600_000;
  const account = { subdomain: 'demo-realty' };
  const events: WebhookEvent[] = [];
  let n = 0;
  const at = (ms: number) => ({
    deliveryId: `d${n}`,
    receivedAt: new Date(ms).toISOString(),
    account,
    dedupeKey: `k${n++}`,
  });
  for (let i = 0; i < leads; i++) {
    const leadId = 30_000_000 + i;
    const t0 = start + Math.floor(random() * span);
    const managers = leadId % 2 === 0 ? MANAGERS_1 : MANAGERS_2;
    const who = managers[Math.floor(random() * managers.length)]!;
    const lead = (ms: number, over: Partial<LeadEvent>): LeadEvent => ({
      ...at(ms),
      kind: 'lead',
      action: 'status',
      leadId,
      short: false,
      tags: [],
      customFields: [],
      pipelineId: PIPELINE,
      statusId: STAGE,
      responsibleUserId: 9001,
      modifiedUserId: 0,
      updatedAt: new Date(ms).toISOString(),
      ...over,
    });
    const note = (ms: number, noteType: number): NoteEvent => ({
      ...at(ms),
      kind: 'note',
      entityType: 'lead',
      entityId: leadId,
      noteId: n,
      noteType,
      createdUserId: who,
    });
    events.push(lead(t0, { action: 'add', createdUserId: 0 }));
    const r = random();
    if (r < 0.6) events.push(note(t0 + 60_000 + Math.floor(random() * 600_000), 11)); // a call within the clock
    if (r < 0.4) events.push(note(t0 + 20 * 60_000, 4)); // a note after it
    if (r < 0.3)
      events.push(
        lead(t0 + 30 * 60_000, { statusId: 7100010, oldStatusId: STAGE, responsibleUserId: who, modifiedUserId: who }),
      );
    if (r < 0.2) {
      const task: TaskEvent = {
        ...at(t0 + 40 * 60_000),
        kind: 'task',
        action: 'update',
        taskId: n,
        entityType: 'lead',
        entityId: leadId,
        isCompleted: true,
        modifiedUserId: who,
      };
      events.push(task);
    }
  }
  return events;
}

/** The rule core alone, on one core. */
export async function runCoreBench(leads = 2_000): Promise<CoreFigures> {
  const rules = await demoRules((c) => {
    (c.rules.pickup as { timeout: string }).timeout = 'PT15M';
  });
  const events = recordedDay(leads);
  const window = { from: Date.parse(`${DAY}T00:00:00Z`), to: Date.parse(`${DAY}T23:59:59Z`) };
  replay(events.slice(0, 200), rules, window); // warm up
  const cpu = process.cpuUsage();
  const outcome = replay(events, rules, window);
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  let decisions = 0;
  for (const c of outcome.byUser.values()) decisions += c.assigned + c.reassignedAway + c.tasksCreated + c.violations;
  return {
    leads,
    events: outcome.events,
    decisions,
    cpuMs: Math.round(cpuMs),
    eventsPerSecond: Math.round((outcome.events / cpuMs) * 1000),
    decisionsPerSecond: Math.round((decisions / cpuMs) * 1000),
  };
}

/** The worker's deadline path: `leads` running clocks due now, decided by the real engine on real Redis. */
export async function runShellBench(redisUrl: string, leads = 2_000): Promise<ShellFigures> {
  const rules: CompiledRules = await demoRules();
  const redis = connectRedis(redisUrl, 'worker');
  const prefix = `bench-capacity-${Date.now()}`;
  const clock = createManualClock(`${DAY}T10:00:00Z`); // 13:00 in Moscow, on shift
  const ids = Array.from({ length: leads }, (_, i) => 40_000_000 + i * 2); // even: department 1
  const fake = createFakeAmo(
    ids.map((id): FakeLead => ({ id, responsible: 9101, statusId: STAGE, pipelineId: PIPELINE })),
    [],
    { now: () => clock.now().getTime() },
  );
  const { keys, effects } = wirePickup({
    redis,
    prefix,
    rules: () => rules,
    fake,
    clock,
    logger: pino({ level: 'silent' }),
  });
  try {
    const now = clock.now().getTime();
    const plans: Plan[] = ids.map((id) => {
      const pickup: PickupState = {
        leadId: id,
        clock: 1,
        phase: 'running',
        department: 'Отдел продаж 1',
        assignedUserId: 9101,
        assignedAt: now - 15_000,
        deadlineAt: now,
        missedUserIds: [],
        misses: 0,
      };
      return {
        id: `setup-${id}`,
        rule: 'bench',
        leadId: id,
        reason: 'setup',
        state: { pickup },
        effects: [{ kind: 'schedule_timer', rule: PICKUP_RULE, leadId: id, key: DEADLINE_KEY, dueAt: now }],
      };
    });
    for (let i = 0; i < plans.length; i += 250) await effects.executor.execute(plans.slice(i, i + 250));
    const before = { ...fake.calls, patches: fake.calls.patches.length };
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    while (fake.calls.patches.length < leads) {
      await effects.tick();
    }
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    const requests =
      fake.calls.leadsReads -
      before.leadsReads +
      (fake.calls.eventsReads - before.eventsReads) +
      (fake.calls.patches.length - before.patches) +
      (fake.calls.notesPosted - before.notesPosted) +
      (fake.calls.contactsReads - before.contactsReads);
    // The in-memory amoCRM takes each write singly; the real client sends a batch's PATCHes and notes as one request
    // each (up to 250 items; a batch is at most 250 leads, one leads read apiece).
    const batches = fake.calls.leadsReads - before.leadsReads;
    const batchedRequests =
      batches +
      (fake.calls.eventsReads - before.eventsReads) +
      (fake.calls.contactsReads - before.contactsReads) +
      2 * batches;
    const cpuMsPerDecision = (used.user + used.system) / 1000 / leads;
    const decisionsPerSecond = Math.round(leads / seconds);
    const requestsPerDecision = batchedRequests / leads;
    const accountDecisionsPerSecond = Math.round(7 / requestsPerDecision);
    return {
      leads,
      seconds: +seconds.toFixed(1),
      cpuMsPerDecision: +cpuMsPerDecision.toFixed(3),
      decisionsPerSecond,
      amoRequests: requests,
      batches,
      requestsPerDecision: +requestsPerDecision.toFixed(3),
      accountDecisionsPerSecond,
      workersToSaturate: Math.ceil(accountDecisionsPerSecond / decisionsPerSecond),
    };
  } finally {
    const found = await redis.keys(`${keys.prefix}*`);
    for (let i = 0; i < found.length; i += 500) await redis.del(...found.slice(i, i + 500));
    redis.disconnect();
  }
}
