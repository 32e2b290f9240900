/** Telegram delivery on real Redis and BullMQ against the Bot API stub on loopback, with a clock tests move. */
import { createLogger } from '../../src/lib/logger.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createQueues, telegramQueue, type Queues } from '../../src/jobs/queues.js';
import { createWorkers, type Workers } from '../../src/jobs/worker.js';
import { createKeys, type Keys } from '../../src/store/keys.js';
import { createOutbox, type Outbox, type OutboxMessage } from '../../src/store/outbox.js';
import { createRecordStore, type RecordStore } from '../../src/store/record-store.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createTelegram, wakeRouter, type Telegram, type TelegramDeps } from '../../src/telegram/index.js';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import type { Redis } from 'ioredis';
import { connectTestRedis, dropPrefix, uniquePrefix } from './redis.js';

export const STUB_TOKEN = '123456:stub-token-for-tests_abcdefghij';
export const DEPT1_CHAT = '-1001000000001';
export const AMO_BASE = 'https://demo-realty.amocrm.ru';

export interface TelegramHarness {
  stub: TelegramStub;
  redis: Redis;
  keys: Keys;
  queues: Queues;
  workers: Workers | undefined;
  startWorkers(): void;
  outbox: Outbox;
  records: RecordStore;
  telegram: Telegram;
  clock: ReturnType<typeof createManualClock>;
  prefix: string;
  push(message: Omit<OutboxMessage, 'at' | 'reason'> & { reason?: string }, id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Fast limits for most tests; the limits test uses grammY's defaults (Telegram's). */
/** The same, for the limits shared through Redis. */
export const FAST_SHARED_LIMITS = {
  global: { max: 1000, windowMs: 1000 },
  perChatMs: 20,
  group: { minMs: 20, max: 1000, windowMs: 60_000 },
};

export async function startTelegramHarness(options: {
  rules: CompiledRules;
  now?: string;
  token?: string | undefined;
  deps?: Partial<TelegramDeps>;
  stubRandom?: () => number;
  /** Start the queue workers later (h.startWorkers()), e.g. to route a burst before any delivery runs. */
  manualWorkers?: boolean;
  webhookUrl?: string;
}): Promise<TelegramHarness> {
  const prefix = uniquePrefix('tg');
  const stub = createTelegramStub({ token: STUB_TOKEN, ...(options.stubRandom ? { random: options.stubRandom } : {}) });
  const apiRoot = await stub.listen();
  const redis = connectTestRedis();
  const keys = createKeys(prefix);
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const queues = createQueues({ connection: redis, prefix: keys.bullPrefix, logger });
  const outbox = createOutbox(redis, keys, { onPushed: wakeRouter(telegramQueue(queues)) });
  const records = createRecordStore(redis, keys);
  const clock = createManualClock(options.now ?? '2026-03-03T09:00:00Z');
  const token = 'token' in options ? options.token : STUB_TOKEN;
  const telegram = createTelegram({
    telegram: {
      apiRoot,
      ...(token ? { token } : {}),
      ...(options.webhookUrl ? { webhookUrl: options.webhookUrl } : {}),
    },
    redis,
    keys,
    queues: telegramQueue(queues),
    clock,
    logger,
    records,
    outbox,
    rules: () => options.rules,
    amoBaseUrl: AMO_BASE,
    sharedLimits: FAST_SHARED_LIMITS,
    retryDelayMs: () => 50,
    ...options.deps,
  });
  let workers: Workers | undefined;
  const startWorkers = (): void => {
    workers ??= createWorkers({
      connection: redis,
      prefix: keys.bullPrefix,
      logger,
      metrics: createMetrics({ defaultMetrics: false }),
      handlers: telegram.handlers,
      concurrency: 4,
    });
  };
  if (!options.manualWorkers) startWorkers();
  return {
    stub,
    redis,
    keys,
    queues,
    get workers() {
      return workers;
    },
    startWorkers,
    outbox,
    records,
    telegram,
    clock,
    prefix,
    push: (message, id) => outbox.push({ at: clock.now().toISOString(), reason: 'test', ...message }, id),
    async close() {
      await telegram.stop();
      await workers?.close();
      await queues.close();
      await stub.close();
      await dropPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}

/** Links a manager's private chat the way a person does: a one-time code, then /start <code>. */
export async function linkChat(h: TelegramHarness, userId: number, name: string, chatId: number): Promise<void> {
  const code = await h.telegram.links.createCode({ userId, name }, 3600_000);
  const linked = await h.telegram.links.consume(code, String(chatId));
  if (!linked) throw new Error('link failed');
}

/** A seeded PRNG (mulberry32), so a "30% of calls fail" run is the same every time. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Waits until every chat queue and the route list are empty and no delivery job is pending. */
export async function settled(h: TelegramHarness, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const route = await h.redis.llen(h.keys.tagged('outbox', 'route'));
    const routing = await h.redis.llen(h.keys.tagged('outbox', 'routing'));
    const chats = await h.redis.smembers(h.keys.tagged('tg', 'chats'));
    let queued = 0;
    for (const c of chats) queued += await h.redis.llen(h.keys.tagged('tg', 'chat', c, 'queue'));
    const counts = await h.queues.get('telegram').getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    // The sweep's scheduler (after telegram.start()) always has its next run waiting: that is not pending work.
    const scheduled = (await h.queues.get('telegram').getDelayed()).filter((j) => j.name === 'telegram-sweep').length;
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0) - scheduled;
    if (route + routing + queued + jobs === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `telegram not settled: route ${route}, routing ${routing}, queued ${queued}, jobs ${JSON.stringify(counts)}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}
