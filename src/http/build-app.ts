/** Builds the HTTP app without listening, so tests drive it with app.inject(). */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { WebhookReceiver } from '../amocrm/webhook-receiver.js';
import { registerErrorHandler } from './error-handler.js';
import { registerAmocrmWebhookRoute } from './routes/amocrm-webhook.js';
import { registerHealthRoutes, type HealthDeps, type ReadinessCheck } from './routes/health.js';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  receiver: WebhookReceiver;
  pingRedis: () => Promise<void>;
  refreshGauges?: () => Promise<void>;
  readiness?: () => Promise<ReadinessCheck[]>;
  trustProxy?: boolean | string;
  /** Extra routes (OAuth callback, admin) registered by the composition root. */
  plugins?: Array<(app: FastifyInstance) => void>;
  /** Runs when the app closes, after in-flight requests are answered. */
  onClose?: () => Promise<void>;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // pino 10's Logger is structurally a FastifyBaseLogger; Fastify's types pin their own pino version.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    // Behind a reverse proxy (TRUST_PROXY): req.ip and req.protocol come from its X-Forwarded-* headers.
    trustProxy: deps.trustProxy ?? false,
    // Webhook paths carry the token; request ids come from amoCRM's header when present.
    requestIdHeader: 'x-amocrm-requestid',
    return503OnClosing: true,
    // Fastify's two lines per request (incoming, completed) cost more CPU than the rest of the webhook path; the
    // webhook route logs its own outcome (rejections at warn, acceptances at debug) and has metrics. Other routes
    // keep request logging.
    logController: new LogController({ disableRequestLogging: (req) => req.url.startsWith('/webhooks/') }),
  });
  registerErrorHandler(app);
  registerAmocrmWebhookRoute(app, { receiver: deps.receiver, metrics: deps.metrics });
  registerHealthRoutes(app, {
    metrics: deps.metrics,
    pingRedis: deps.pingRedis,
    ...(deps.refreshGauges ? { refreshGauges: deps.refreshGauges } : {}),
    ...(deps.readiness ? { readiness: deps.readiness } : {}),
  });
  for (const plugin of deps.plugins ?? []) plugin(app);
  if (deps.onClose) app.addHook('onClose', deps.onClose);
  await app.ready();
  return app;
}

/** A worker's HTTP: health and metrics only, on its own port (PORT), so an orchestrator and Prometheus can see it. */
export async function buildHealthApp(
  deps: HealthDeps & { logger: Logger; onClose?: () => Promise<void> },
): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, return503OnClosing: true });
  registerHealthRoutes(app, deps);
  if (deps.onClose) app.addHook('onClose', deps.onClose);
  await app.ready();
  return app;
}
