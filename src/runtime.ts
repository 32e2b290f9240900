/**
 * The whole service: HTTP and queues (service.ts), the amoCRM client, the account directory, the compiled rules
 * and the pickup engine. `npm start` (main.ts), the demo and the end-to-end tests all start it through here;
 * only the amoCRM address and credentials differ.
 */
import type { Redis } from 'ioredis';
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
import { STAGE_RULE_DEFINITIONS, STAGE_RULE_LIST } from './rules/stage-rules/registry.js';
import type { Plan } from './rules/plan.js';
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
import {
  createTelegram,
  telegramWebhookRoute,
  wakeRouter,
  type IntakeActions,
  type Telegram,
} from './telegram/index.js';
import { createReports, loadWeightFactors, type Reports } from './reports/index.js';
import { createIntakeStore } from './store/intake-store.js';
import { activityPlans } from './reports/activity.js';
import { CHART_FONT, chartFontsAvailable } from './reports/chart.js';
import { createDisputes, type Disputes } from './ledger/disputes.js';
import { createViolationLedger } from './store/violation-ledger.js';
import { createReadiness } from './health.js';
import { createOperatorIncidents, type OperatorIncidents } from './ops/incidents.js';
import { WEBHOOK_DISABLED, WEBHOOK_RE_ENABLED_NOTE } from './ops/texts.js';
import { recentDeadLetters } from './store/dead-letters.js';
import { oauthRoutes } from './http/routes/oauth.js';
import { widgetRoutes } from './http/routes/widget.js';
import { ensureWebhook, WEBHOOK_CHECK_EVERY_MS, webhookDestination } from './amocrm/webhook-registration.js';
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
    /** amoCRM failing this long with no success is reported unreachable (readiness, alert). */
    unreachableAfterMs?: number;
  };
  /** A dead letter this recent keeps readiness degraded and the operator incident open (1 h by default). */
  deadLetterWindowMs?: number;
  /** How often the health monitor runs its checks and alerts on changes (10 s by default). */
  healthCheckEveryMs?: number;
  /** The service's public base URL: its account webhook is registered there and kept enabled (PUBLIC_URL). */
  publicUrl?: string;
  /** How often that registration is checked (10 minutes by default). */
  webhookCheckEveryMs?: number;
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
  /** The card widget's API (/widget/api): the secret its tokens are signed with; web processes only. */
  widget?: { secret: string; clientId?: string | undefined };
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
  /** Contesting and deciding violations (the ledger), as the widget and Telegram do. */
  disputes: Disputes;
  rulesSource: RulesSource;
  close(): Promise<void>;
}

export { RulesError };

/**
 * Starts the service for its role, in named steps: the rules source, the amoCRM client, the admin area, HTTP and
 * queues, Telegram, amoCRM authorisation, and (outside the web role) the rule engines with their workers and sweeps.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics ?? createMetrics();
  const directoryRef: { current?: DirectoryCache } = {};

  const rulesSide = await openRulesSource(options, clock, metrics, () => directoryRef.current?.get());
  const { source } = rulesSide;
  const { amo, amoRedis } = connectAmo(options, metrics);
  const admin =
    options.admin && options.service.ROLE !== 'worker'
      ? adminArea(options.admin, { options, clock, amo, source, rulesRedis: rulesSide.redis, directoryRef })
      : undefined;

  // The receiver reads amoCRM's local "Y-m-d H:i:s" task and note times in Moscow time, amoCRM's default for
  // Russian accounts; the rules themselves use the account's own zone from the directory.
  const telegramEnv: TelegramEnv = options.telegram ?? { apiRoot: 'https://api.telegram.org' };
  const telegramRef: { current?: Telegram } = {};
  const disputesRef: { current?: Disputes } = {};
  const engines: { current?: Engines } = {};
  const webhooks: { lastAt?: number } = {};
  const compiledOrNone = (): CompiledRules | undefined => {
    try {
      return source.rules();
    } catch {
      return undefined; // a web process compiles no rules
    }
  };
  const stateKeys = createKeys(options.service.REDIS_PREFIX);
  const incidents = createOperatorIncidents({
    redis: rulesSide.redis,
    keys: stateKeys,
    clock,
    logger,
    sink: () => telegramRef.current?.sink,
    chat: () => compiledOrNone()?.telegram?.operatorChat,
    timeZone: () => compiledOrNone()?.timeZone ?? 'Europe/Moscow',
  });
  const readiness = createReadiness({
    amo,
    clock,
    metrics,
    logger,
    ...(options.service.ROLE !== 'web'
      ? {
          rules: () => (engines.current ? compiledOrNone() : undefined),
          timers: () => engines.current?.effects.timers,
          lastWebhookAt: () => webhooks.lastAt,
          ruleWarnings: () => source.snapshot().warnings,
          deadLettersSince: (since: number) => recentDeadLetters(rulesSide.redis, stateKeys, since),
          incidents,
        }
      : {}),
    ...(options.deadLetterWindowMs !== undefined ? { deadLetterWindowMs: options.deadLetterWindowMs } : {}),
  });
  const service = await startService(options.service, {
    readiness: () => readiness.checks(),
    logger,
    clock,
    metrics,
    timeZone: 'Europe/Moscow',
    plugins: [
      ...(options.amo.auth.kind === 'oauth'
        ? [
            oauthRoutes({
              amo,
              redis: rulesSide.redis,
              keys: createKeys(options.service.REDIS_PREFIX),
              logger,
              metrics,
              records: createRecordStore(rulesSide.redis, createKeys(options.service.REDIS_PREFIX)),
              clock,
              clientId: options.amo.auth.clientId,
              clientSecret: options.amo.auth.clientSecret,
              domain: options.amo.domain ?? 'amocrm.ru',
              ...(options.service.AMO_SUBDOMAIN ? { subdomain: options.service.AMO_SUBDOMAIN } : {}),
            }),
          ]
        : []),
      telegramWebhookRoute(telegramEnv, () => telegramRef.current),
      ...(options.widget && options.service.ROLE !== 'worker'
        ? [
            widgetRoutes({
              widget: { ...options.widget, origins: [new URL(amoBaseUrl(options.amo)).origin] },
              redis: rulesSide.redis,
              keys: stateKeys,
              records: createRecordStore(rulesSide.redis, stateKeys),
              disputes: () => disputesRef.current,
              rules: compiledOrNone,
              clock,
              logger,
            }),
          ]
        : []),
      ...(admin?.plan.kind === 'routes' ? [admin.plan.plugin] : []),
    ],
  });
  const adminServer = admin?.plan.kind === 'own_port' ? await admin.plan.start() : undefined;
  const records = createRecordStore(service.redis, service.keys);
  const outbox = createOutbox(service.redis, service.keys, { onPushed: wakeRouter(telegramQueue(service.queues)) });
  const rules = (): CompiledRules => source.rules();
  const intake = createIntakeStore(service.redis, service.keys);
  const reports = createReports({ redis: service.redis, keys: service.keys, records, outbox, rules, clock, logger });
  const ledger = createViolationLedger(service.redis, service.keys);
  const disputes = createDisputes({ ledger, records, outbox, rules: compiledOrNone, clock, logger });
  disputesRef.current = disputes;
  const telegram = wireTelegram({
    disputes,
    options,
    telegramEnv,
    service,
    clock,
    metrics,
    records,
    outbox,
    amo,
    intake,
    reports,
    compiledOrNone,
    engines,
  });
  telegramRef.current = telegram;

  let webhookTimer: NodeJS.Timeout | undefined;
  const close = async (): Promise<void> => {
    readiness.stop();
    if (webhookTimer) clearInterval(webhookTimer);
    await telegram.stop();
    directoryRef.current?.stop();
    // Stop taking timers first and let the pass in hand finish; then the queues' jobs in hand.
    await engines.current?.effects.stop();
    await adminServer?.close();
    await admin?.queues.close();
    await source.close();
    rulesSide.close();
    await service.close();
    await amo.flush().catch(() => undefined);
    amoRedis.disconnect();
  };

  try {
    await authorise(options, amo, service);
    // Workers compile the rules against amoCRM's directory; so does a web process serving the card widget (its
    // names, departments and dispute times are the config in force, not defaults).
    const worker = options.service.ROLE !== 'web';
    if (worker || options.widget) {
      directoryRef.current = await createDirectoryCache({
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
    }
    if (worker) {
      engines.current = createEngines({ service, amo, records, outbox, clock, logger, metrics, source, rules, intake });
      await startWorkers({
        service,
        engines: engines.current,
        telegram,
        reports,
        rules,
        clock,
        logger,
        metrics,
        webhooks,
      });
      if (!chartFontsAvailable())
        logger.warn(
          { font: CHART_FONT },
          'no usable font for the monthly ranking chart: it would be drawn without names; install fonts-dejavu-core',
        );
    }
    readiness.start(options.healthCheckEveryMs);
    if (options.publicUrl && options.service.ROLE !== 'web')
      webhookTimer = keepWebhook(options, amo, metrics, incidents);
  } catch (err) {
    await close();
    throw err;
  }

  const e = engines.current;
  return {
    service,
    amo,
    rules,
    ...(e ? { pickup: e.pickup, stageRules: e.stage, cadence: e.cadence, effects: e.effects } : {}),
    records,
    outbox,
    disputes,
    ...(directoryRef.current ? { directory: directoryRef.current } : {}),
    telegram,
    reports,
    rulesSource: source,
    close,
  };
}

/** The rules follow the file and the admin's stored versions in every process (src/store/rules-source.ts). */
async function openRulesSource(
  options: RuntimeOptions,
  clock: Clock,
  metrics: Metrics,
  directory: () => AccountDirectory | undefined,
): Promise<{ source: RulesSource; redis: Redis; close(): void }> {
  const { logger } = options;
  const redis = connectRedis(options.service.REDIS_URL, 'worker', {}, options.service.REDIS_CLUSTER_NODES);
  const subscriber = connectRedis(options.service.REDIS_URL, 'worker', {}, options.service.REDIS_CLUSTER_NODES);
  for (const r of [redis, subscriber])
    r.on('error', (err) => logger.error({ err: { message: err.message } }, 'redis connection error (rules)'));
  const close = (): void => {
    redis.disconnect();
    subscriber.disconnect();
  };
  try {
    // Keys an older version wrote without their hash tags move to their new names before anything reads them.
    const moved = await renameUntaggedKeys(redis, createKeys(options.service.REDIS_PREFIX));
    if (moved > 0) logger.info({ moved }, 'moved keys written by an older version to their hash-tagged names');
    const source = await createRulesSource({
      file: options.rulesFile,
      redis,
      subscriber,
      keys: createKeys(options.service.REDIS_PREFIX),
      logger,
      clock,
      metrics,
      directory,
      ...(options.rulesPollMs !== undefined ? { pollMs: options.rulesPollMs } : {}),
    });
    return { source, redis, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** The amoCRM client on its own Redis connection: rate limit, back-off and tokens are shared through Redis. */
function connectAmo(options: RuntimeOptions, metrics: Metrics): { amo: AmoClient; amoRedis: Redis } {
  const { logger } = options;
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
    ...(options.amo.unreachableAfterMs !== undefined ? { unreachableAfterMs: options.amo.unreachableAfterMs } : {}),
    clock: options.clock ?? systemClock,
    onRequest: (method, status) => metrics.amoRequests.inc({ method, status: String(status) }),
    onAlert: (kind, message) => {
      metrics.amoAlerts.inc({ kind });
      logger.error({ alert: kind }, `ACTION NEEDED: ${message}`);
    },
  });
  return { amo, amoRedis };
}

/** The admin area (web roles): page, API and queue view, on the rules source and the stores (src/http/admin-server.ts). */
function adminArea(
  env: AdminEnv,
  deps: {
    options: RuntimeOptions;
    clock: Clock;
    amo: AmoClient;
    source: RulesSource;
    rulesRedis: Redis;
    directoryRef: { current?: DirectoryCache };
  },
) {
  const { clock, amo, rulesRedis } = deps;
  const keys = createKeys(deps.options.service.REDIS_PREFIX);
  const queues = createQueues({ connection: rulesRedis, prefix: keys.bullPrefix, logger: deps.options.logger });
  let fetched: { at: number; dir: Promise<AccountDirectory> } | undefined;
  const adminDirectory = (): Promise<AccountDirectory> => {
    if (deps.directoryRef.current) return Promise.resolve(deps.directoryRef.current.get());
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
  const plan = planAdmin(env, deps.options.logger, () => ({
    source: deps.source,
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
}

/**
 * Telegram over the service's stores. The bot asks for instants; the reports count whole local days (the same
 * numbers as the digest). The bot's buttons act through the same rules and stores, recorded with who pressed them.
 */
function wireTelegram(deps: {
  options: RuntimeOptions;
  telegramEnv: TelegramEnv;
  service: Service;
  clock: Clock;
  metrics: Metrics;
  records: RecordStore;
  outbox: Outbox;
  amo: AmoClient;
  intake: ReturnType<typeof createIntakeStore>;
  reports: Reports;
  disputes: Disputes;
  compiledOrNone: () => CompiledRules | undefined;
  engines: { current?: Engines };
}): Telegram {
  const { service, clock, intake, reports, compiledOrNone } = deps;
  const actor = (userId: number | undefined, reason: string) => ({
    ...(userId !== undefined ? { userId } : {}),
    name: userId !== undefined ? (compiledOrNone()?.userNames.get(userId) ?? `user ${userId}`) : 'unknown',
    reason,
    at: clock.now().getTime(),
  });
  const pickup = (): PickupEngine => {
    if (!deps.engines.current) throw new Error('the pickup rule runs in worker processes only');
    return deps.engines.current.pickup;
  };
  const intakeTarget = (target: Parameters<IntakeActions['pause']>[0]) =>
    target.kind === 'manager' ? target : { kind: 'department' as const, name: target.department };
  return createTelegram({
    telegram: deps.telegramEnv,
    redis: service.redis,
    keys: service.keys,
    queues: telegramQueue(service.queues),
    clock,
    logger: deps.options.logger,
    metrics: deps.metrics,
    records: deps.records,
    outbox: deps.outbox,
    rules: compiledOrNone,
    amoBaseUrl: amoBaseUrl(deps.options.amo),
    amo: deps.amo,
    disputes: deps.disputes,
    intake: {
      pause: async (target, { by, reason }) => void (await intake.pause(intakeTarget(target), actor(by, reason))),
      resume: async (target, { by }) =>
        void (await intake.resume(intakeTarget(target), actor(by, 'resumed from Telegram'))),
    },
    pickup: {
      takenByButton: async (leadId, userId) => pickup().checkTakenNow(leadId, userId),
      reassign: async (leadId, byUserId) => pickup().reassignByHead(leadId, byUserId),
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
}

/** Without tokens, the code from AMO_AUTH_CODE, or wait for the admin to install the integration (/oauth/callback). */
async function authorise(options: RuntimeOptions, amo: AmoClient, service: Service): Promise<void> {
  if (options.amo.auth.kind !== 'oauth' || (await amo.hasTokens())) return;
  if (options.amo.auth.authCode) {
    await amo.exchangeAuthCode(options.amo.auth.authCode);
    options.logger.info('amoCRM authorised with AMO_AUTH_CODE');
    return;
  }
  // Serve /oauth/callback while waiting, or amoCRM's redirect could never arrive.
  if (service.app && !service.url) await service.listen();
  options.logger.warn(
    { url: service.url },
    'amoCRM is not authorised yet: install the integration in amoCRM (it redirects to /oauth/callback) or set AMO_AUTH_CODE; waiting',
  );
  while (!(await amo.hasTokens())) await new Promise((r) => setTimeout(r, options.authPollMs ?? 5_000));
}

interface Engines {
  effects: Effects;
  pickup: PickupEngine;
  stage: StageRulesEngine;
  cadence: CadenceEngine;
}

/** The effect executor and the rule engines, with every rule's due handler registered from the rule registry. */
function createEngines(deps: {
  service: Service;
  amo: AmoClient;
  records: RecordStore;
  outbox: Outbox;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  source: RulesSource;
  rules: () => CompiledRules;
  intake: ReturnType<typeof createIntakeStore>;
}): Engines {
  const { service, amo, clock, logger, rules } = deps;
  const effects = createEffects({
    redis: service.redis,
    keys: service.keys,
    amo,
    records: deps.records,
    outbox: deps.outbox,
    clock,
    logger,
    metrics: deps.metrics,
    isShadow: (rule) => deps.source.isShadow(rule),
    batchWindowMs: () => rules().pickup.batchWindowMs,
  });
  const pickup = createPickupEngine({
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
      paused: await deps.intake.list(),
    }),
  });
  effects.registerDueHandler(PICKUP_RULE, (due) => pickup.onDue(due));
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
  for (const def of STAGE_RULE_LIST)
    if (def.handlers.onDue) effects.registerDueHandler(def.id, (due) => stage.onDue(due));
  // The stage rules' sweep is itself a timer (lead 0), so one worker runs it per interval and it survives restarts.
  effects.registerDueHandler(STAGE_SWEEP_RULE, async (due) => {
    await stage.sweep();
    const every = rules().stageRules?.weeklyUpdate?.sweepIntervalMs ?? 3_600_000;
    return {
      plans: due.map((d) =>
        sweepPlan(`${STAGE_SWEEP_RULE}:sweep:${d.dueAt}`, 'stage rules sweep done', clock.now().getTime() + every),
      ),
    };
  });
  const cadence = createCadenceEngine({ rules, amo, leads: service.leads, effects, clock, logger });
  effects.registerDueHandler(CADENCE_RULE, (due) => cadence.onDue(due));
  return { effects, pickup, stage, cadence };
}

/** The stage rules' sweep runs under the id of the rule whose check it is (R10), as timer `<id>|0|sweep`. */
const STAGE_SWEEP_RULE = STAGE_RULE_DEFINITIONS.weeklyUpdate.id;

const sweepPlan = (id: string, reason: string, dueAt: number): Plan => ({
  id,
  rule: STAGE_SWEEP_RULE,
  leadId: 0,
  reason,
  effects: [{ kind: 'schedule_timer', rule: STAGE_SWEEP_RULE, leadId: 0, key: 'sweep', dueAt }],
});

/** The job workers with every rule's plans per event, the timer loop, and the sweeps and ticks on their schedules. */
async function startWorkers(deps: {
  service: Service;
  engines: Engines;
  telegram: Telegram;
  reports: Reports;
  rules: () => CompiledRules;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** When amoCRM received the last webhook event handled here (readiness: webhook freshness). */
  webhooks: { lastAt?: number };
}): Promise<void> {
  const { service, engines, rules, clock, logger } = deps;
  const seen = (receivedAt: string): void => {
    const at = Date.parse(receivedAt);
    if (Number.isFinite(at) && at > (deps.webhooks.lastAt ?? 0)) {
      deps.webhooks.lastAt = at;
      deps.metrics.webhookLastEvent.set(at / 1000);
    }
  };
  const { effects, pickup, stage, cadence } = engines;
  const compiled = rules();
  service.startWorkers({
    effects,
    // Every rule's plans for the event, committed together with the lead's state; the activity records the
    // reports count (calls, stages, sources) ride along as one more plan.
    onLeadEvent: async (input) => {
      seen(input.event.receivedAt);
      return [
        ...(await pickup.onLeadEvent(input)),
        ...(await stage.onLeadEvent(input)),
        ...(await cadence.onLeadEvent(input)),
        ...activityPlans(input.event, input.before, input.after, rules()),
      ];
    },
    handlers: {
      'pickup-sweep': () => pickup.sweep(),
      'cadence-sweep': () => cadence.sweep(),
      'reports-tick': createReportsTickHandler(deps.reports),
      ...deps.telegram.handlers,
    },
  });
  // Due timers gather for up to the batch window (or until a batch is full): deadlines falling together are
  // re-read and written together, and a single deadline waits at most one window (plus one poll, a fifth of it).
  effects.start(Math.min(1_000, Math.max(100, Math.round(compiled.pickup.batchWindowMs / 5))));
  if (compiled.stageRules) {
    const at = clock.now().getTime();
    await effects.executor.execute([sweepPlan(`${STAGE_SWEEP_RULE}:sweep:start:${at}`, 'first stage rules sweep', at)]);
  }
  await deps.telegram.start();
  await scheduleReportsTick(service.queues.get('timers'));
  await service.queues.every('pickup-sweep', compiled.pickup.sweepIntervalMs, { reason: 'schedule' });
  if (compiled.cadences.bindings.length > 0) {
    await service.queues.every('cadence-sweep', compiled.cadences.sweepIntervalMs, { reason: 'schedule' });
    // Leads already in a bound stage join at start, not only at the first scheduled sweep.
    void cadence
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

/** Registers the account webhook now and checks it on a schedule (a failure is logged and tried at the next check). */
function keepWebhook(
  options: RuntimeOptions,
  amo: AmoClient,
  metrics: Metrics,
  incidents: OperatorIncidents,
): NodeJS.Timeout {
  const destination = webhookDestination(options.publicUrl!, options.service.WEBHOOK_TOKEN);
  const check = (): Promise<void> =>
    ensureWebhook({
      amo,
      destination,
      logger: options.logger,
      metrics,
      onDisabled: () => incidents.open('webhook_disabled', WEBHOOK_DISABLED),
    })
      // Registered (again): an incident opened by this or an earlier check is over.
      .then(() => incidents.resolve('webhook_disabled', WEBHOOK_RE_ENABLED_NOTE))
      .catch((err: unknown) =>
        options.logger.warn(
          { err: { message: (err as Error).message } },
          'could not check the account webhook; trying again at the next check',
        ),
      );
  void check();
  const timer = setInterval(() => void check(), options.webhookCheckEveryMs ?? WEBHOOK_CHECK_EVERY_MS);
  timer.unref();
  return timer;
}
