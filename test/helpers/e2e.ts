/** End-to-end harness: the simulator on loopback and one or more full service runtimes on real Redis. */
import type { Clock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { createSimulator, type Simulator } from '../../sim/server.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_CLUSTER_NODES, TEST_REDIS_URL, uniquePrefix } from './redis.js';
import { TEST_TOKEN } from './service.js';

export const SIM_TOKEN = 'e2e-long-lived-token';

export interface E2E {
  sim: Simulator;
  runtimes: Runtime[];
  prefix: string;
  close(): Promise<void>;
}

export async function startE2E(
  options: {
    processes?: number;
    rulesFile?: string;
    clock?: Clock;
    amoUnreachableAfterMs?: number;
    healthCheckEveryMs?: number;
    /** A Telegram Bot API (the stub) for every process. */
    telegram?: { token: string; apiRoot: string };
    /** The card widget: the simulator signs its tokens with this secret, the service verifies them. */
    widgetSecret?: string;
  } = {},
): Promise<E2E> {
  const prefix = uniquePrefix('e2e');
  const clock = options.clock;
  const sim = createSimulator({
    longLivedToken: SIM_TOKEN,
    webhookBatchWindowMs: 50,
    webhookRetryLadderMs: [500, 1000],
    ...(clock ? { now: () => clock.now().getTime() } : {}),
    ...(options.widgetSecret ? { widget: { secret: options.widgetSecret } } : {}),
  });
  const simUrl = await sim.listen();
  const runtimes: Runtime[] = [];
  for (let i = 0; i < (options.processes ?? 1); i++) {
    runtimes.push(
      await startRuntime({
        service: {
          PORT: 0,
          HOST: '127.0.0.1',
          REDIS_URL: TEST_REDIS_URL,
          ...(TEST_REDIS_CLUSTER_NODES !== undefined ? { REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES } : {}),
          REDIS_PREFIX: prefix,
          ROLE: i === 0 ? 'all' : 'worker',
          WEBHOOK_TOKEN: TEST_TOKEN,
          AMO_SUBDOMAIN: 'demo-realty',
          AMO_BASE_URL: simUrl,
          WORKER_CONCURRENCY: 4,
        },
        amo: {
          baseUrl: simUrl,
          auth: { kind: 'long-lived', token: SIM_TOKEN },
          rps: 7,
          ...(options.amoUnreachableAfterMs !== undefined ? { unreachableAfterMs: options.amoUnreachableAfterMs } : {}),
        },
        ...(options.healthCheckEveryMs !== undefined ? { healthCheckEveryMs: options.healthCheckEveryMs } : {}),
        rulesFile: options.rulesFile ?? 'test/fixtures/rules.e2e.yaml',
        logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', base: { process: i } }),
        metrics: createMetrics({ defaultMetrics: false }),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.telegram ? { telegram: options.telegram } : {}),
        ...(options.widgetSecret ? { widget: { secret: options.widgetSecret } } : {}),
      }),
    );
  }
  const url = await runtimes[0]!.service.listen();
  sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${TEST_TOKEN}`]);
  if (sim.widget) sim.widget.settings.service_url = url;
  return {
    sim,
    runtimes,
    prefix,
    async close() {
      await sim.webhooks.close();
      for (const r of runtimes) await r.close();
      await sim.close();
      const redis = connectTestRedis();
      await dropPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}
