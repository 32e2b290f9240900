/** Liveness (the process answers) and readiness (Redis answers); Prometheus metrics. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../lib/metrics.js';

export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { metrics: Metrics; pingRedis: () => Promise<void>; refreshGauges?: () => Promise<void> },
): void {
  app.get('/health/live', async () => ({ status: 'ok' }));

  app.get('/health/ready', async (_req, res) => {
    try {
      await deps.pingRedis();
      return { status: 'ok', redis: 'ok' };
    } catch (err) {
      return res.code(503).send({ status: 'unavailable', redis: (err as Error).message });
    }
  });

  app.get('/metrics', async (_req, res) => {
    if (deps.refreshGauges) await deps.refreshGauges().catch(() => undefined);
    return res.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
