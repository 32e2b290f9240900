/**
 * Wires the service from its parts: Redis, queues, stores, the HTTP app and the workers, per ROLE.
 * main.ts calls it for production; the demo and the tests call it with their own clock, logger and options.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Env } from './env.js';
import { expectedSubdomain } from './env.js';
import { systemClock, type Clock } from './lib/clock.js';
import type { Logger } from './lib/logger.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { checkRedisDurability, connectRedis } from './lib/redis.js';
import { createWebhookReceiver } from './amocrm/webhook-receiver.js';
import { buildApp, buildHealthApp } from './http/build-app.js';
import type { ReadinessCheck } from './http/routes/health.js';
import { JOBS, jobIdFor, type WebhookEventJob } from './jobs/catalog.js';
import { createQueues, type Queues } from './jobs/queues.js';
import { createWorkers, type Handlers, type Workers } from './jobs/worker.js';
import { createWebhookEventHandler, type OnLeadEvent } from './jobs/handlers/webhook-event.js';
import type { Effects } from './effects/index.js';
import { createKeys, type Keys } from './store/keys.js';
import { createLeadStore, type LeadStore } from './store/lead-store.js';
import { createWebhookArchive, createWebhookInbox, type WebhookInbox } from './store/webhook-inbox.js';

export type ServiceConfig = Pick<
  Env,
  | 'PORT'
  | 'HOST'
  | 'REDIS_URL'
  | 'REDIS_PREFIX'
  | 'ROLE'
  | 'WEBHOOK_TOKEN'
  | 'AMO_SUBDOMAIN'
  | 'AMO_BASE_URL'
  | 'WORKER_CONCURRENCY'
> &
  Partial<Pick<Env, 'RAW_BODY_RETENTION' | 'REDIS_CLUSTER_NODES' | 'TRUST_PROXY'>>;

export interface ServiceDeps {
  logger: Logger;
  clock?: Clock;
  metrics?: Metrics;
  timeZone?: string;
  plugins?: Array<(app: FastifyInstance) => void>;
  /** The role's readiness checks beyond Redis (src/http/routes/health.ts); called per request. */
  readiness?: () => Promise<ReadinessCheck[]>;
}

export interface ServiceContext {
  redis: Redis;
  keys: Keys;
  queues: Queues;
  leads: LeadStore;
  inbox: WebhookInbox;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
}

export interface Service extends ServiceContext {
  app?: FastifyInstance;
  workers?: Workers;
  /**
   * Starts the queue consumers when the role includes the worker: the built-in webhook-event handler (which calls
   * `onLeadEvent` with the lead's lock held) plus the rules' handlers. Separate from start-up so the composition
   * root can first connect to amoCRM and compile the rules.
   */
  startWorkers(options?: { onLeadEvent?: OnLeadEvent; effects?: Effects; handlers?: Handlers }): Workers | undefined;
  /** Address the HTTP server listens on, when the role includes web and listen() was called. */
  url?: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export async function startService(config: ServiceConfig, deps: ServiceDeps): Promise<Service> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? createMetrics();
  const redis = connectRedis(config.REDIS_URL, 'worker', {}, config.REDIS_CLUSTER_NODES);
  redis.on('error', (err) => logger.error({ err: { message: err.message } }, 'redis connection error'));
  await redis.ping();
  await checkRedisDurability(redis, logger);

  const keys = createKeys(config.REDIS_PREFIX);
  const bullPrefix = keys.bullPrefix;
  const queues = createQueues({ connection: redis, prefix: bullPrefix, logger });
  const leads = createLeadStore(redis, keys);
  const rawRetentionSeconds = config.RAW_BODY_RETENTION;
  const inboxOptions = {
    job: { options: JOBS['webhook-event'].options, idFor: (data: WebhookEventJob) => jobIdFor('webhook-event', data) },
    ...(rawRetentionSeconds !== undefined ? { rawRetentionSeconds } : {}),
  };
  const inbox = createWebhookInbox({ redis, keys, events: queues.get('events'), ...inboxOptions });
  const ctx: ServiceContext = { redis, keys, queues, leads, inbox, metrics, clock, logger };

  let app: FastifyInstance | undefined;
  if (config.ROLE !== 'worker') {
    const webRedis = connectRedis(config.REDIS_URL, 'web', {}, config.REDIS_CLUSTER_NODES);
    webRedis.on('error', (err) => logger.error({ err: { message: err.message } }, 'redis connection error (web)'));
    const webQueues = createQueues({ connection: webRedis, prefix: bullPrefix, logger });
    const webInbox = createWebhookInbox({ redis: webRedis, keys, events: webQueues.get('events'), ...inboxOptions });
    const receiver = createWebhookReceiver({
      token: config.WEBHOOK_TOKEN,
      subdomain: expectedSubdomain(config),
      ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
      inbox: webInbox,
      clock,
      logger,
      metrics,
    });
    app = await buildApp({
      logger,
      metrics,
      receiver,
      ...(config.TRUST_PROXY !== undefined ? { trustProxy: config.TRUST_PROXY } : {}),
      pingRedis: async () => {
        await webRedis.ping();
      },
      refreshGauges: async () => {
        const counts = await webQueues.counts();
        for (const [queue, byState] of Object.entries(counts)) {
          for (const [state, n] of Object.entries(byState)) metrics.queueDepth.set({ queue, state }, n);
        }
      },
      ...(deps.plugins ? { plugins: deps.plugins } : {}),
      ...(deps.readiness ? { readiness: deps.readiness } : {}),
      onClose: async () => {
        await webQueues.close();
        webInbox.close();
        webRedis.disconnect();
      },
    });
  }

  if (config.ROLE === 'worker') {
    // A worker serves no webhooks, but its health and metrics (amoCRM, rules, timers) on its own PORT.
    app = await buildHealthApp({
      logger,
      metrics,
      pingRedis: async () => {
        await redis.ping();
      },
      refreshGauges: async () => {
        const counts = await queues.counts();
        for (const [queue, byState] of Object.entries(counts)) {
          for (const [state, n] of Object.entries(byState)) metrics.queueDepth.set({ queue, state }, n);
        }
      },
      ...(deps.readiness ? { readiness: deps.readiness } : {}),
    });
  }

  let workers: Workers | undefined;
  const startWorkers = (
    options: { onLeadEvent?: OnLeadEvent; effects?: Effects; handlers?: Handlers } = {},
  ): Workers | undefined => {
    if (config.ROLE === 'web' || workers) return workers;
    const handlers: Handlers = {
      'webhook-event': createWebhookEventHandler({
        leads,
        clock,
        logger,
        archive: createWebhookArchive(redis, keys),
        ...(options.onLeadEvent ? { onLeadEvent: options.onLeadEvent } : {}),
        ...(options.effects ? { effects: options.effects } : {}),
      }),
      ...options.handlers,
    };
    workers = createWorkers({
      connection: redis,
      prefix: bullPrefix,
      logger,
      metrics,
      handlers,
      concurrency: config.WORKER_CONCURRENCY,
    });
    service.workers = workers;
    return workers;
  };

  let url: string | undefined;
  const service: Service = {
    ...ctx,
    ...(app ? { app } : {}),
    startWorkers,
    async listen() {
      if (!app) throw new Error('this process serves no HTTP');
      url = await app.listen({ port: config.PORT, host: config.HOST });
      service.url = url;
      return url;
    },
    async close() {
      // Stop accepting first, then let workers finish the jobs in hand, then close queues and Redis.
      if (app) await app.close();
      if (workers) await workers.close();
      await queues.close();
      inbox.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  return service;
}
