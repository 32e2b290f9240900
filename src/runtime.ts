/**
 * The whole service: HTTP and queues (service.ts), the amoCRM client, the account directory, the compiled rules
 * and the pickup engine. `npm start` (main.ts), the demo and the end-to-end tests all start it through here;
 * only the amoCRM address and credentials differ.
 */
import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import { amoBaseUrl, createAmoClient, type AmoClient } from './amocrm/api/client.js';
import {
  createDirectoryCache,
  fetchDirectory,
  fetchLeadNames,
  type DirectoryCache,
  type LeadNames,
} from './amocrm/api/directory.js';
import { planAdmin, type AdminEnv } from './http/admin-server.js';
import { QUEUE_NAMES } from './jobs/catalog.js';
import { createQueues, telegramQueue } from './jobs/queues.js';
import type { AccountDirectory } from './rules/directory.js';
import { createWebhookArchive } from './store/webhook-inbox.js';
import { createRulesSource, RulesError, type RulesSource } from './store/rules-source.js';
import type { AmoAuthConfig, TelegramEnv } from './env.js';
import { createEffects, type Effects } from './effects/index.js';
import { createPickupEngine, PICKUP_RULE, type PickupEngine } from './jobs/handlers/pickup.js';
import { CADENCE_RULE, createCadenceEngine, type CadenceEngine } from './jobs/handlers/cadence.js';
import { createDistributionStore } from './store/distribution-store.js';
import { createStageRulesEngine, type StageRulesEngine } from './jobs/handlers/stage-rules.js';
import { STAGE_RULE_LIST } from './rules/stage-rules/registry.js';
import { createPickupStore } from './store/pickup-store.js';
import { systemClock, type Clock } from './lib/clock.js';
import type { Logger } from './lib/logger.js';
import { createMetrics, type Metrics } from './lib/metrics.js';
import { connectRedis } from './lib/redis.js';
import { createKeys } from './store/keys.js';
import type { CompiledRules } from './rules/types.js';
import { createOutbox, type Outbox } from './store/outbox.js';
import { createRecordStore, type RecordStore } from './store/record-store.js';
import { renameUntaggedKeys } from './store/rename-keys.js';
import { startService, type Service, type ServiceConfig } from './service.js';
import { createTelegram, telegramWebhookRoute, wakeRouter, type Telegram } from './telegram/index.js';
import { createReports, loadWeightFactors, type Reports } from './reports/index.js';
import { createIntakeStore } from './store/intake-store.js';
import { activityPlans } from './reports/activity.js';
import { createReportsTickHandler, scheduleReportsTick } from './jobs/handlers/reports.js';

export interface RuntimeOptions {
  service: ServiceConfig;
  amo: {
    subdomain?: string;
    domain?: string;
    baseUrl?: string;
    auth: AmoAuthConfig;
    rps: number;
    blockCooldownMs?: number;
  };
  rulesFile: string;
  logger: Logger;
  clock?: Clock;
  metrics?: Metrics;
  /** Milliseconds between checks for OAuth tokens while waiting for the admin to authorise. */
  authPollMs?: number;
  /** Bot token, API root, webhook; without a token messages are logged (Telegram.onWouldSend). */
  telegram?: TelegramEnv;
  /** Milliseconds between checks of the rules file and the current rules version. */
  rulesPollMs?: number;
  /** The admin area's settings; without them (or in a worker) there is no admin area. */
  admin?: AdminEnv;
}

export interface Runtime {
  service: Service;
  amo: AmoClient;
  rules: () => CompiledRules;
  pickup?: PickupEngine;
  stageRules?: StageRulesEngine;
  cadence?: CadenceEngine;
  effects?: Effects;
  records: RecordStore;
  outbox: Outbox;
  directory?: DirectoryCache;
  telegram: Telegram;
  reports: Reports;
  rulesSource: RulesSource;
  close(): Promise<void>;
}

export { RulesError };

function oauthCallbackRoute(amo: AmoClient, logger: Logger) {
  return (app: FastifyInstance): void => {
    app.get<{ Querystring: { code?: string; error?: string } }>('/oauth/callback', async (req, res) => {
      const code = req.query.code;
      if (!code)
        return res.code(400).send({
          error: {
            code: 'bad_request',
            message: `amoCRM did not send an authorization code${req.query.error ? `: ${req.query.error}` : ''}`,
          },
        });
      try {
        await amo.exchangeAuthCode(code);
        logger.info('amoCRM authorised through /oauth/callback');
        return res.type('text/html; charset=utf-8').send('<p>amoCRM подключён. Окно можно закрыть.</p>');
      } catch (err) {
        logger.error({ err: { message: (err as Error).message } }, 'amoCRM authorisation failed');
        return res.code(502).send({ error: { code: 'authorisation_failed', message: (err as Error).message } });
      }
    });
  };
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? createMetrics();

  // The rules follow the file and the admin's stored versions in every process (src/store/rules-source.ts).
  let directory: DirectoryCache | undefined;
  const rulesRedis = connectRedis(options.service.REDIS_URL, 'worker', {}, options.service.REDIS_CLUSTER_NODES);
  const rulesSubscriber = connectRedis(options.service.REDIS_URL, 'worker', {}, options.service.REDIS_CLUSTER_NODES);
  for (const r of [rulesRedis, rulesSubscriber])
    r.on('error', (err) => logger.error({ err: { message: err.message } }, 'redis connection error (rules)'));
  const closeRulesRedis = (): void => {
    rulesRedis.disconnect();
    rulesSubscriber.disconnect();
  };
  // Keys an older version wrote without their hash tags move to their new names before anything reads them.
  const moved = await renameUntaggedKeys(rulesRedis, createKeys(options.service.REDIS_PREFIX)).catch((err: unknown) => {
    closeRulesRedis();
    throw err;
  });
  if (moved > 0) logger.info({ moved }, 'moved keys written by an older version to their hash-tagged names');
  const source: RulesSource = await createRulesSource({
    file: options.rulesFile,
    redis: rulesRedis,
    subscriber: rulesSubscriber,
    keys: createKeys(options.service.REDIS_PREFIX),
    logger,
    clock,
    metrics,
    directory: () => directory?.get(),
    ...(options.rulesPollMs !== undefined ? { pollMs: options.rulesPollMs } : {}),
  }).catch((err: unknown) => {
    closeRulesRedis();
    throw err;
  });

  const amoRedis = connectRedis(options.service.REDIS_URL, 'worker', {}, options.service.REDIS_CLUSTER_NODES);
  amoRedis.on('error', (err) =>
    logger.error({ err: { message: err.message } }, 'redis connection error (amoCRM client)'),
  );
  const amo = createAmoClient({
    ...(options.amo.baseUrl ? { baseUrl: options.amo.baseUrl } : {}),
    ...(options.amo.subdomain ? { subdomain: options.amo.subdomain } : {}),
    ...(options.amo.domain ? { domain: options.amo.domain } : {}),
    auth:
      options.amo.auth.kind === 'long-lived'
        ? options.amo.auth
        : {
            kind: 'oauth',
            clientId: options.amo.auth.clientId,
            clientSecret: options.amo.auth.clientSecret,
            redirectUri: options.amo.auth.redirectUri,
          },
    redis: amoRedis,
    keyPrefix: options.service.REDIS_PREFIX,
    rps: options.amo.rps,
    ...(options.amo.blockCooldownMs !== undefined ? { backoff: { blockCooldownMs: options.amo.blockCooldownMs } } : {}),
    onRequest: (method, status) => metrics.amoRequests.inc({ method, status: String(status) }),
    onAlert: (kind, message) => {
      metrics.amoAlerts.inc({ kind });
      logger.error({ alert: kind }, `ACTION NEEDED: ${message}`);
    },
  });

  // The admin area (web roles): page, API and queue view, on the rules source and the stores (src/http/admin-server.ts).
  const adminArea = (env: AdminEnv) => {
    const keys = createKeys(options.service.REDIS_PREFIX);
    const queues = createQueues({ connection: rulesRedis, prefix: keys.bullPrefix, logger });
    let fetched: { at: number; dir: Promise<AccountDirectory> } | undefined;
    const adminDirectory = (): Promise<AccountDirectory> => {
      if (directory) return Promise.resolve(directory.get());
      if (!fetched || clock.now().getTime() - fetched.at > 60_000)
        fetched = { at: clock.now().getTime(), dir: fetchDirectory(amo) };
      return fetched.dir;
    };
    // Lead custom fields and tags are for the editor only: read on demand, at most once a minute.
    let namesFetched: { at: number; names: Promise<LeadNames> } | undefined;
    const leadNames = (): Promise<LeadNames> => {
      if (!namesFetched || clock.now().getTime() - namesFetched.at > 60_000) {
        const names = fetchLeadNames(amo);
        namesFetched = { at: clock.now().getTime(), names };
        // A failed read is not kept for a minute: the next request tries again.
        names.catch(() => {
          if (namesFetched?.names === names) namesFetched = undefined;
        });
      }
      return namesFetched.names;
    };
    const plan = planAdmin(env, logger, () => ({
      source,
      redis: rulesRedis,
      keys,
      inbox: createWebhookArchive(rulesRedis, keys),
      records: createRecordStore(rulesRedis, keys),
      queues: Object.values(QUEUE_NAMES).map((name) => queues.get(name)),
      directory: adminDirectory,
      leadNames,
      clock,
    }));
    return { plan, queues };
  };

  // The receiver reads amoCRM's local "Y-m-d H:i:s" task and note times in Moscow time, amoCRM's default for
  // Russian accounts; the rules themselves use the account's own zone from the directory.
  const telegramEnv: TelegramEnv = options.telegram ?? { apiRoot: 'https://api.telegram.org' };
  const telegramRef: { current?: Telegram } = {};
  const admin = options.admin && options.service.ROLE !== 'worker' ? adminArea(options.admin) : undefined;
  const service = await startService(options.service, {
    logger,
    clock,
    metrics,
    timeZone: 'Europe/Moscow',
    plugins: [
      oauthCallbackRoute(amo, logger),
      telegramWebhookRoute(telegramEnv, () => telegramRef.current),
      ...(admin?.plan.kind === 'routes' ? [admin.plan.plugin] : []),
    ],
  });
  const adminServer = admin?.plan.kind === 'own_port' ? await admin.plan.start() : undefined;
  const records = createRecordStore(service.redis, service.keys);
  const outbox = createOutbox(service.redis, service.keys, { onPushed: wakeRouter(telegramQueue(service.queues)) });
  let pickup: PickupEngine | undefined;
  let cadence: CadenceEngine | undefined;
  let effects: Effects | undefined;
  let stageRules: StageRulesEngine | undefined;
  const rules = (): CompiledRules => source.rules();

  const compiledOrNone = (): CompiledRules | undefined => {
    try {
      return source.rules();
    } catch {
      return undefined; // a web process compiles no rules
    }
  };
  const intake = createIntakeStore(service.redis, service.keys);
  const actor = (userId: number | undefined, reason: string) => ({
    ...(userId !== undefined ? { userId } : {}),
    name: userId !== undefined ? (compiledOrNone()?.userNames.get(userId) ?? `user ${userId}`) : 'unknown',
    reason,
    at: clock.now().getTime(),
  });
  const reports = createReports({ redis: service.redis, keys: service.keys, records, outbox, rules, clock, logger });
  const telegram = createTelegram({
    telegram: telegramEnv,
    redis: service.redis,
    keys: service.keys,
    queues: telegramQueue(service.queues),
    clock,
    logger,
    records,
    outbox,
    rules: compiledOrNone,
    amoBaseUrl: amoBaseUrl(options.amo),
    amo,
    // The bot asks for instants; the reports count whole local days (the same numbers as the digest).
    // The bot's buttons act through the same rules and stores, recorded with who pressed them.
    intake: {
      pause: async (target, { by, reason }) =>
        void (await intake.pause(
          target.kind === 'manager' ? target : { kind: 'department', name: target.department },
          actor(by, reason),
        )),
      resume: async (target, { by }) =>
        void (await intake.resume(
          target.kind === 'manager' ? target : { kind: 'department', name: target.department },
          actor(by, 'resumed from Telegram'),
        )),
    },
    pickup: {
      takenByButton: async (leadId, userId) => {
        if (!pickup) throw new Error('the pickup rule runs in worker processes only');
        return pickup.checkTakenNow(leadId, userId);
      },
      reassign: async (leadId, byUserId) => {
        if (!pickup) throw new Error('the pickup rule runs in worker processes only');
        return pickup.reassignByHead(leadId, byUserId);
      },
    },
    reports: {
      report: ({ department, from, to }) => {
        const zone = compiledOrNone()?.timeZone ?? 'Europe/Moscow';
        const day = (d: Date): string => DateTime.fromJSDate(d, { zone }).toISODate() ?? '';
        return reports.report({ ...(department !== undefined ? { department } : {}), from: day(from), to: day(to) });
      },
      ranking: {
        factors: (month, department) => reports.factors(month, department),
        revert: (month, userId, by) => reports.revertWeightFactor(month, userId, by),
        tail: (department, month) => reports.rankingTail(department, month),
      },
    },
  });
  telegramRef.current = telegram;
  const close = async (): Promise<void> => {
    await telegram.stop();
    directory?.stop();
    // Stop taking timers first and let the pass in hand finish; then the queues' jobs in hand.
    await effects?.stop();
    await adminServer?.close();
    await admin?.queues.close();
    await source.close();
    closeRulesRedis();
    await service.close();
    await amo.flush().catch(() => undefined);
    amoRedis.disconnect();
  };

  try {
    if (options.amo.auth.kind === 'oauth' && !(await amo.hasTokens())) {
      if (options.amo.auth.authCode) {
        await amo.exchangeAuthCode(options.amo.auth.authCode);
        logger.info('amoCRM authorised with AMO_AUTH_CODE');
      } else {
        // Serve /oauth/callback while waiting, or amoCRM's redirect could never arrive.
        if (service.app && !service.url) await service.listen();
        logger.warn(
          { url: service.url },
          'amoCRM is not authorised yet: install the integration in amoCRM (it redirects to /oauth/callback) or set AMO_AUTH_CODE; waiting',
        );
        while (!(await amo.hasTokens())) await new Promise((r) => setTimeout(r, options.authPollMs ?? 5_000));
      }
    }

    if (options.service.ROLE !== 'web') {
      directory = await createDirectoryCache({
        client: amo,
        onError: (err) =>
          logger.warn(
            { err: { message: (err as Error).message } },
            'could not refresh the amoCRM directory; keeping the last one',
          ),
        // A renamed stage or a deactivated manager becomes a warning that disables its part (src/config/compile.ts).
        onChange: () => source.recompile(),
      });
      source.recompile();
      const compiled = source.rules();

      effects = createEffects({
        redis: service.redis,
        keys: service.keys,
        amo,
        records,
        outbox,
        clock,
        logger,
        metrics,
        isShadow: (rule) => source.isShadow(rule),
        batchWindowMs: () => rules().pickup.batchWindowMs,
      });
      pickup = createPickupEngine({
        rules,
        amo,
        leads: service.leads,
        pickups: createPickupStore(service.redis, service.keys),
        distribution: createDistributionStore(service.redis, service.keys),
        effects,
        clock,
        logger,
        // R11: the month's lowered weights of the ranking's worst; R2: intake paused by a РОП or admin at run time.
        context: async (ctx) => ({
          ...ctx,
          weightFactors: await loadWeightFactors(service.redis, service.keys, ctx.now),
          paused: await intake.list(),
        }),
      });
      const engine = pickup;
      effects.registerDueHandler(PICKUP_RULE, (due) => engine.onDue(due));
      const stage = createStageRulesEngine({
        rules,
        amo,
        redis: service.redis,
        keys: service.keys,
        leads: service.leads,
        effects,
        clock,
        logger,
      });
      stageRules = stage;
      for (const def of STAGE_RULE_LIST)
        if (def.handlers.onDue) effects.registerDueHandler(def.id, (due) => stage.onDue(due));
      // R10's sweep is itself a timer (lead 0), so one worker runs it per interval and it survives restarts.
      effects.registerDueHandler('R10', async (due) => {
        await stage.sweep();
        const every = rules().stageRules?.weeklyUpdate?.sweepIntervalMs ?? 3_600_000;
        return {
          plans: due.map((d) => ({
            id: `R10:sweep:${d.dueAt}`,
            rule: 'R10',
            leadId: 0,
            reason: 'stage rules sweep done',
            effects: [
              {
                kind: 'schedule_timer' as const,
                rule: 'R10',
                leadId: 0,
                key: 'sweep',
                dueAt: clock.now().getTime() + every,
              },
            ],
          })),
        };
      });
      const cadences = createCadenceEngine({ rules, amo, leads: service.leads, effects, clock, logger });
      cadence = cadences;
      effects.registerDueHandler(CADENCE_RULE, (due) => cadences.onDue(due));
      service.startWorkers({
        effects,
        // Every rule's plans for the event, committed together with the lead's state; the activity records the
        // reports count (calls, stages, sources) ride along as one more plan.
        onLeadEvent: async (input) => [
          ...(await engine.onLeadEvent(input)),
          ...(await stage.onLeadEvent(input)),
          ...(await cadences.onLeadEvent(input)),
          ...activityPlans(input.event, input.before, input.after, rules()),
        ],
        handlers: {
          'pickup-sweep': () => engine.sweep(),
          'cadence-sweep': () => cadences.sweep(),
          'reports-tick': createReportsTickHandler(reports),
          ...telegram.handlers,
        },
      });
      // Due timers gather for up to the batch window (or until a batch is full): deadlines falling together are
      // re-read and written together, and a single deadline waits at most one window (plus one poll, a fifth of it).
      effects.start(Math.min(1_000, Math.max(100, Math.round(compiled.pickup.batchWindowMs / 5))));
      if (compiled.stageRules) {
        await effects.executor.execute([
          {
            id: `R10:sweep:start:${clock.now().getTime()}`,
            rule: 'R10',
            leadId: 0,
            reason: 'first stage rules sweep',
            effects: [{ kind: 'schedule_timer', rule: 'R10', leadId: 0, key: 'sweep', dueAt: clock.now().getTime() }],
          },
        ]);
      }
      await telegram.start();
      await scheduleReportsTick(service.queues.get('timers'));
      await service.queues.get('timers').upsertJobScheduler(
        'pickup-sweep',
        { every: compiled.pickup.sweepIntervalMs },
        {
          name: 'pickup-sweep',
          data: { reason: 'schedule' },
          opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
        },
      );
      if (compiled.cadences.bindings.length > 0) {
        await service.queues.get('timers').upsertJobScheduler(
          'cadence-sweep',
          { every: compiled.cadences.sweepIntervalMs },
          {
            name: 'cadence-sweep',
            data: { reason: 'schedule' },
            opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
          },
        );
        // Leads already in a bound stage join at start, not only at the first scheduled sweep.
        void cadences
          .sweep()
          .catch((err: unknown) =>
            logger.error(
              { err: { message: (err as Error).message } },
              'cadence sweep at start failed; the scheduled one will retry',
            ),
          );
      }
      logger.info(
        {
          departments: compiled.departments.map((d) => ({ name: d.name, managers: d.managers.length })),
          pickupStage: compiled.pickup.stageName,
          timeoutMs: compiled.pickup.timeoutMs,
        },
        'rules compiled; workers started',
      );
    }
  } catch (err) {
    await close();
    throw err;
  }

  return {
    service,
    amo,
    rules,
    ...(pickup ? { pickup } : {}),
    ...(stageRules ? { stageRules } : {}),
    ...(cadence ? { cadence } : {}),
    ...(effects ? { effects } : {}),
    records,
    outbox,
    ...(directory ? { directory } : {}),
    telegram,
    reports,
    rulesSource: source,
    close,
  };
}
