/**
 * The pickup rule and Telegram together, as the service wires them: webhook events and deadlines go through the
 * real pickup engine and effect executor (fake amoCRM, clock moved by hand), its messages through the real outbox,
 * router and delivery workers to the Bot API stub, and the bot's buttons back into the engine and the intake store.
 */
import type { ApiEvent } from '../../src/amocrm/api/schemas.js';
import { createEffects, type Effects } from '../../src/effects/index.js';
import { createPickupEngine, PICKUP_RULE, type PickupEngine } from '../../src/jobs/handlers/pickup.js';
import { createWebhookEventHandler } from '../../src/jobs/handlers/webhook-event.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import type { LeadEvent, NoteEvent } from '../../src/rules/events.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createDistributionStore } from '../../src/store/distribution-store.js';
import { createIntakeStore, type IntakeStore } from '../../src/store/intake-store.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createPickupStore, type PickupStore } from '../../src/store/pickup-store.js';
import { createFakeAmo } from './fake-amo.js';
import { ADMIN, PIPELINE, STAGE } from './rules.js';
import type { TelegramDeps } from '../../src/telegram/index.js';
import { startTelegramHarness, type TelegramHarness } from './telegram.js';

export const HEAD1 = 9100; // Дмитрий Лебедев, РОП of Отдел продаж 1
export const DEPT1_MANAGERS = [9101, 9102, 9103, 9104];
export const NAMES: Record<number, string> = {
  9100: 'Дмитрий Лебедев',
  9101: 'Анна Смирнова',
  9102: 'Борис Кузнецов',
  9103: 'Виктор Попов',
  9104: 'Галина Соколова',
};
/** Each manager's private chat: 5000 + the last digits of their id (Анна 9101 → 5001). */
export const chatOf = (userId: number): number => userId - 4100;
/** The РОП's own Telegram account, which presses buttons in the department chat. */
export const HEAD1_TG = 7100;

export interface PickupTelegram extends TelegramHarness {
  fake: ReturnType<typeof createFakeAmo>;
  effects: Effects;
  engine: PickupEngine;
  pickups: PickupStore;
  intake: IntakeStore;
  /** A lead created by the admin straight in the pickup stage, as its webhook arrives. */
  newLead(leadId: number): Promise<void>;
  /** The manager calls the client: amoCRM logs the call; with `webhook`, its note webhook arrives too. */
  call(leadId: number, userId: number, options?: { webhook?: boolean }): Promise<void>;
  /** Moves the clock and fires the timers that came due (deadlines). */
  advance(ms: number): Promise<void>;
}

let seq = 0;

export async function startPickupTelegram(options: {
  rules: CompiledRules;
  now: string;
  stubRandom?: () => number;
  manualWorkers?: boolean;
  deps?: Partial<TelegramDeps>;
}): Promise<PickupTelegram> {
  const fake = createFakeAmo([]);
  const ref: { engine?: PickupEngine; intake?: IntakeStore } = {};
  const actor = (by: number | undefined, reason: string) => ({
    ...(by !== undefined ? { userId: by } : {}),
    name: by !== undefined ? (options.rules.userNames.get(by) ?? `user ${by}`) : 'unknown',
    reason,
    at: h.clock.now().getTime(),
  });
  const h: TelegramHarness = await startTelegramHarness({
    rules: options.rules,
    now: options.now,
    ...(options.stubRandom ? { stubRandom: options.stubRandom } : {}),
    ...(options.manualWorkers ? { manualWorkers: true } : {}),
    deps: {
      amo: {
        getLead: async (id) => ((await fake.amo.getLeadsByIds([id], 'sla'))[0] ?? null) as never,
        listEvents: (filter) => fake.amo.listEvents(filter),
      },
      // The same wiring as src/runtime.ts: the buttons act through the pickup engine and the intake store.
      pickup: {
        takenByButton: (leadId, userId) => ref.engine!.checkTakenNow(leadId, userId),
        reassign: (leadId, by) => ref.engine!.reassignByHead(leadId, by),
      },
      intake: {
        pause: async (target, { by, reason }) =>
          void (await ref.intake!.pause(
            target.kind === 'manager' ? target : { kind: 'department', name: target.department },
            actor(by, reason),
          )),
        resume: async (target, { by }) =>
          void (await ref.intake!.resume(
            target.kind === 'manager' ? target : { kind: 'department', name: target.department },
            actor(by, 'resumed from Telegram'),
          )),
      },
      ...options.deps,
    },
  });
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const intake = createIntakeStore(h.redis, h.keys);
  const effects = createEffects({
    redis: h.redis,
    keys: h.keys,
    amo: fake.amo,
    records: h.records,
    outbox: h.outbox,
    clock: h.clock,
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const leads = createLeadStore(h.redis, h.keys);
  const pickups = createPickupStore(h.redis, h.keys);
  const engine = createPickupEngine({
    rules: () => options.rules,
    amo: fake.amo,
    leads,
    pickups,
    distribution: createDistributionStore(h.redis, h.keys),
    effects,
    clock: h.clock,
    logger,
    context: async (ctx) => ({ ...ctx, paused: await intake.list() }),
  });
  effects.registerDueHandler(PICKUP_RULE, (due) => engine.onDue(due));
  ref.engine = engine;
  ref.intake = intake;
  const handle = createWebhookEventHandler({
    leads,
    clock: h.clock,
    logger,
    effects,
    onLeadEvent: (input) => engine.onLeadEvent(input),
  });
  const base = () => ({
    deliveryId: `d${++seq}`,
    receivedAt: h.clock.now().toISOString(),
    account: { subdomain: 'demo-realty' },
  });

  return Object.assign(h, {
    fake,
    effects,
    engine,
    pickups,
    intake,
    async newLead(leadId: number) {
      fake.state.set(leadId, { id: leadId, responsible: ADMIN, statusId: STAGE, pipelineId: PIPELINE });
      const at = h.clock.now().toISOString();
      const event: LeadEvent = {
        ...base(),
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
        updatedAt: at,
        dedupeKey: `lead:${leadId}:add`,
      };
      await handle({ event });
    },
    async call(leadId: number, userId: number, callOptions: { webhook?: boolean } = {}) {
      const at = h.clock.now();
      fake.events.push({
        id: `ev${++seq}`,
        type: 'outgoing_call',
        entity_id: leadId,
        entity_type: 'lead',
        created_by: userId,
        created_at: Math.floor(at.getTime() / 1000),
      } as ApiEvent);
      if (callOptions.webhook === false) return;
      const event: NoteEvent = {
        ...base(),
        kind: 'note',
        entityType: 'lead',
        entityId: leadId,
        noteId: ++seq,
        noteType: 11,
        createdUserId: userId,
        createdAt: at.toISOString(),
        dedupeKey: `note:${leadId}:${seq}`,
      };
      await handle({ event });
    },
    async advance(ms: number) {
      h.clock.advance(ms);
      await effects.tick();
    },
  });
}
