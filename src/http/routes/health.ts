/**
 * Liveness (the process answers), readiness (Redis answers, and what the process depends on is well, with the reason
 * when it is not), and Prometheus metrics. Readiness is 503 only when Redis does not answer (nothing can be accepted
 * or done); a degraded dependency (amoCRM unreachable or blocking, timers late, no webhooks in working hours) is 200
 * with `status: "degraded"` and each check's reason, so a web process keeps accepting webhooks while amoCRM is down.
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../lib/metrics.js';

export interface ReadinessCheck {
  name: string;
  status: 'ok' | 'degraded' | 'unknown';
  reason?: string;
  [detail: string]: unknown;
}

export interface HealthDeps {
  metrics: Metrics;
  pingRedis: () => Promise<void>;
  refreshGauges?: () => Promise<void>;
  /** The role's own checks (amoCRM, timers, webhooks), run on every readiness request. */
  readiness?: () => Promise<ReadinessCheck[]>;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  app.get('/health/ready', async (_req, res) => {
    try {
      await deps.pingRedis();
    } catch (err) {
      return res.code(503).send({ status: 'unavailable', redis: (err as Error).message });
    }
    const checks = deps.readiness
      ? await deps
          .readiness()
          .catch((err: unknown) => [{ name: 'checks', status: 'unknown' as const, reason: (err as Error).message }])
      : [];
    const degraded = checks.filter((c) => c.status === 'degraded');
    return {
      status: degraded.length > 0 ? 'degraded' : 'ok',
      redis: 'ok',
      ...(degraded.length > 0 ? { reasons: degraded.map((c) => `${c.name}: ${c.reason ?? 'degraded'}`) } : {}),
      checks: Object.fromEntries(checks.map(({ name, ...rest }) => [name, rest])),
    };
  });

  app.get('/metrics', async (_req, res) => {
    if (deps.refreshGauges) await deps.refreshGauges().catch(() => undefined);
    return res.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
