/**
 * Telegram for the service in one factory: delivery of the outbox (BullMQ handlers), the bot (long polling by one
 * process at a time, or webhook mode), deep links, and — without a bot token — a log of what would have been sent
 * (`onWouldSend` lets the demo print it). The composition root wires it in a few lines:
 *
 *   const telegram = createTelegram({ ... });
 *   service.startWorkers({ handlers: { ...telegram.handlers, ... } });
 *   await telegram.start();
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Bot } from 'grammy';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../amocrm/api/client.js';
import type { TelegramEnv } from '../env.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { CompiledRules } from '../rules/types.js';
import type { Keys } from '../store/keys.js';
import type { Outbox } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import {
  installBot,
  recordReports,
  type DisputeActions,
  type IntakeActions,
  type PickupActions,
  type ReportsPort,
} from './bot.js';
import { createDelivery, type Delivery } from './delivery.js';
import { DEFAULT_TELEGRAM } from './hygiene.js';
import { TelegramUpdateJobSchema, type TelegramHandlers, type TelegramQueue } from './jobs.js';
import { createLinkStore, deepLink, type LinkStore } from './links.js';
import { createSharedLimiter, SHARED_TELEGRAM_LIMITS, type SharedLimits } from './shared-limit.js';
import { configureApi, createDrySink, createGrammySink, type TelegramSink, type WouldSend } from './sink.js';

export type { WouldSend } from './sink.js';
export type { IntakeActions, PickupActions, RankingActions, ReportsPort } from './bot.js';

export interface TelegramDeps {
  telegram: TelegramEnv;
  redis: Redis;
  keys: Keys;
  /** The job queues (the composition root passes the service's). */
  queues: TelegramQueue;
  clock: Clock;
  logger: Logger;
  records: RecordStore;
  rules: () => CompiledRules | undefined;
  metrics?: Pick<Metrics, 'telegramDeliveries'>;
  /** `https://<subdomain>.amocrm.ru` (or the simulator): links to leads are `<base>/leads/detail/<id>`. */
  amoBaseUrl: string;
  outbox?: Outbox;
  amo?: Pick<AmoClient, 'getLead' | 'listEvents'>;
  pickup?: PickupActions;
  intake?: IntakeActions;
  disputes?: DisputeActions;
  reports?: ReportsPort;
  /** Overrides of Telegram's limits (tests), shared by every process through Redis. */
  sharedLimits?: SharedLimits;
  maxInlineRetrySec?: number;
  retryDelayMs?: (attempt: number) => number;
  /** Long polling is done by one process at a time; this is how long its claim lasts without renewal. */
  pollerLeaseMs?: number;
}

export interface Telegram {
  handlers: TelegramHandlers;
  delivery: Delivery;
  /** Where messages go (the Bot API, or the log without a token), for senders outside the outbox. */
  sink: TelegramSink;
  links: LinkStore;
  bot?: Bot;
  /** Schedules the sweep, routes what waits, and starts the bot (polling, or registers the webhook). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Without a bot token: called with every message that would have been sent. Returns the unsubscribe. */
  onWouldSend(listener: (m: WouldSend) => void): () => void;
  /** A one-time deep link that links the opener's chat to the amoCRM user. */
  createLink(user: { userId: number; name: string }): Promise<{ code: string; link: string; expiresAt: Date }>;
  /** For the webhook route: checks the update's shape and queues it for a worker. */
  acceptUpdate(update: unknown): Promise<boolean>;
}

/** Telegram's secret-token header value: the configured one, or one derived from the bot token. */
export function webhookSecret(env: TelegramEnv): string | undefined {
  if (env.webhookSecret) return env.webhookSecret;
  if (!env.token) return undefined;
  return createHash('sha256').update(`telegram-webhook:${env.token}`).digest('hex').slice(0, 48);
}

/** Tells the router a message was pushed (pass as the outbox's `onPushed`). */
export function wakeRouter(queues: Pick<TelegramQueue, 'add'>): (id: string) => Promise<void> {
  return async (id) => {
    await queues.add('telegram-route', { reason: id });
  };
}

/**
 * POST /telegram/webhook, registered only in webhook mode: checks Telegram's secret-token header, then hands the
 * update to a worker through the queue (verify, enqueue, acknowledge). `telegram()` is bound once it exists.
 */
export function telegramWebhookRoute(env: TelegramEnv, telegram: () => Pick<Telegram, 'acceptUpdate'> | undefined) {
  return (app: FastifyInstance): void => {
    const secret = webhookSecret(env);
    if (!env.webhookUrl || !secret) return;
    const expected = Buffer.from(secret);
    app.post('/telegram/webhook', async (req, res) => {
      const given = Buffer.from(String(req.headers['x-telegram-bot-api-secret-token'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        return res.code(401).send({ error: { code: 'unauthorized', message: 'wrong or missing secret token' } });
      const t = telegram();
      if (!t) return res.code(503).send({ error: { code: 'not_ready', message: 'telegram is starting' } });
      const accepted = await t.acceptUpdate(req.body);
      return accepted
        ? res.code(200).send({ ok: true })
        : res.code(400).send({ error: { code: 'bad_request', message: 'not a Telegram update' } });
    });
  };
}

export function createTelegram(deps: TelegramDeps): Telegram {
  const log = deps.logger.child({ component: 'telegram' });
  const listeners = new Set<(m: WouldSend) => void>();
  const token = deps.telegram.token;
  const links = createLinkStore(deps.redis, deps.keys);
  const leadUrl = (leadId: number): string => `${deps.amoBaseUrl.replace(/\/+$/, '')}/leads/detail/${leadId}`;
  // Telegram counts the bot's account, not a process: delivery and the bot's replies share one Redis-held budget.
  const reserve = createSharedLimiter(deps.redis, deps.keys, deps.sharedLimits ?? SHARED_TELEGRAM_LIMITS);
  // One Bot API client: the bot's own `bot.api`, with the shared limits, the 429 holds and retries;
  // delivery sends through the same object.
  const bot = token ? new Bot(token, { client: { apiRoot: deps.telegram.apiRoot } }) : undefined;
  const api = bot
    ? configureApi(bot.api, {
        reserve,
        ...(deps.maxInlineRetrySec !== undefined ? { maxInlineRetrySec: deps.maxInlineRetrySec } : {}),
      })
    : undefined;
  const sink = api ? createGrammySink(api) : createDrySink(log, listeners);

  const delivery = createDelivery({
    redis: deps.redis,
    keys: deps.keys,
    queues: deps.queues,
    clock: deps.clock,
    logger: deps.logger,
    rules: deps.rules,
    sink,
    links,
    records: deps.records,
    leadUrl,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.retryDelayMs ? { retryDelayMs: deps.retryDelayMs } : {}),
    // The client's name and source cost an amoCRM request; only worth it when messages are really sent.
    ...(deps.amo && token
      ? {
          leadInfo: async (leadId: number) => {
            const lead = await deps.amo!.getLead(leadId, 'normal');
            if (!lead) return undefined;
            const source =
              (lead as { _embedded?: { source?: { name?: string } } })._embedded?.source?.name ??
              lead._embedded?.tags?.[0]?.name;
            return { ...(lead.name ? { name: lead.name } : {}), ...(source ? { source } : {}) };
          },
        }
      : {}),
  });

  if (bot) {
    installBot({
      bot,
      redis: deps.redis,
      keys: deps.keys,
      links,
      rules: deps.rules,
      clock: deps.clock,
      logger: deps.logger,
      records: deps.records,
      leadUrl,
      reports: deps.reports ?? recordReports({ records: deps.records, rules: deps.rules }),
      ...(deps.outbox ? { outbox: deps.outbox } : {}),
      ...(deps.amo ? { amo: deps.amo } : {}),
      ...(deps.pickup ? { pickup: deps.pickup } : {}),
      ...(deps.intake ? { intake: deps.intake } : {}),
      ...(deps.disputes ? { disputes: deps.disputes } : {}),
    });
  }

  const handlers: TelegramHandlers = {
    'telegram-route': async () => ({ routed: await delivery.route() }),
    'telegram-chat': async (data) => delivery.drainChat(data.chatId),
    'telegram-sweep': async () => delivery.sweep(),
    'telegram-update': async (data) => {
      if (!bot) return { skipped: 'no bot token' };
      if (!bot.isInited()) await bot.init();
      await bot.handleUpdate(data.update as unknown as Parameters<Bot['handleUpdate']>[0]);
      return { handled: data.update.update_id };
    },
  };

  // Long polling by one process at a time (two pollers make Telegram answer 409 Conflict).
  const instance = randomBytes(8).toString('hex');
  const pollerKey = deps.keys.tagged('tg', 'poller');
  const leaseMs = deps.pollerLeaseMs ?? 30_000;
  let leaseTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let polling = false;
  let stopped = false;

  const claimPolling = async (): Promise<void> => {
    if (!bot || stopped) return;
    if (polling) {
      const renewed = await deps.redis.eval(
        `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`,
        1,
        pollerKey,
        instance,
        String(leaseMs),
      );
      if (renewed !== 1) {
        log.warn('telegram: lost the polling lease; another process polls now');
        polling = false;
        await bot.stop();
      }
      return;
    }
    if ((await deps.redis.set(pollerKey, instance, 'PX', leaseMs, 'NX')) !== 'OK') return;
    polling = true;
    const b = bot;
    void b
      .start({
        allowed_updates: ['message', 'callback_query'],
        onStart: (info) => log.info({ bot: info.username }, 'telegram: bot polling for updates'),
      })
      .catch((err: unknown) => {
        polling = false;
        log.error(
          { err: { message: (err as Error).message } },
          'telegram: polling stopped with an error; will try again',
        );
        void deps.redis.eval(
          `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`,
          1,
          pollerKey,
          instance,
        );
      });
  };

  return {
    handlers,
    delivery,
    sink,
    links,
    ...(bot ? { bot } : {}),
    async start() {
      stopped = false;
      const every = deps.rules()?.telegram?.sweepIntervalMs ?? DEFAULT_TELEGRAM.sweepIntervalMs;
      await deps.queues.every('telegram-sweep', every, { reason: 'schedule' });
      await deps.queues.add('telegram-route', { reason: `start-${instance}` });
      if (!bot) {
        log.warn('TELEGRAM_BOT_TOKEN is not set: messages are logged, not sent');
        return;
      }
      const b = bot;
      // Telegram being unreachable at start must not stop the service: delivery retries on its own, the bot here.
      const startBot = async (): Promise<void> => {
        if (stopped) return;
        try {
          await b.init();
          if (deps.telegram.webhookUrl) {
            await b.api.setWebhook(deps.telegram.webhookUrl, {
              secret_token: webhookSecret(deps.telegram)!,
              allowed_updates: ['message', 'callback_query'],
            });
            log.info({ bot: b.botInfo.username }, 'telegram: webhook registered');
            return;
          }
          await claimPolling();
          leaseTimer = setInterval(
            () =>
              void claimPolling().catch((err: unknown) =>
                log.warn({ err: { message: (err as Error).message } }, 'telegram: polling lease check failed'),
              ),
            Math.max(1000, Math.floor(leaseMs / 3)),
          );
        } catch (err) {
          log.error(
            { err: { message: (err as Error).message } },
            'telegram: the bot could not start (Telegram unreachable or the token refused); trying again in 30 s',
          );
          retryTimer = setTimeout(() => void startBot(), 30_000);
        }
      };
      await startBot();
    },
    async stop() {
      stopped = true;
      if (leaseTimer) clearInterval(leaseTimer);
      if (retryTimer) clearTimeout(retryTimer);
      if (bot && polling) {
        polling = false;
        await bot.stop().catch(() => undefined);
        await deps.redis
          .eval(
            `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`,
            1,
            pollerKey,
            instance,
          )
          .catch(() => undefined);
      }
    },
    onWouldSend(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async createLink(user) {
      const ttl = deps.rules()?.telegram?.linkCodeTtlMs ?? DEFAULT_TELEGRAM.linkCodeTtlMs;
      const code = await links.createCode(user, ttl);
      const username = bot ? (bot.isInited() ? bot.botInfo.username : (await bot.api.getMe()).username) : 'your_bot';
      return { code, link: deepLink(username, code), expiresAt: new Date(deps.clock.now().getTime() + ttl) };
    },
    async acceptUpdate(update) {
      const parsed = TelegramUpdateJobSchema.safeParse({ update });
      if (!parsed.success) return false;
      await deps.queues.add('telegram-update', parsed.data);
      return true;
    },
  };
}
