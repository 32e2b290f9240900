/**
 * A real worker process (the service's runtime with ROLE=worker, on the simulator's amoCRM), for the hot-reload
 * test. Prints one JSON line at start, at every rules change it applied and at every rejection it saw.
 * Usage: node --import tsx test/helpers/rules-worker.ts <redisUrl> <prefix> <rulesFile> <simulatorUrl>
 */
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime } from '../../src/runtime.js';
import { SIM_TOKEN } from './e2e.js';
import { TEST_TOKEN } from './service.js';

const [url = '', prefix = '', file = '', simUrl = ''] = process.argv.slice(2);
const print = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...line })}\n`);
};
const runtime = await startRuntime({
  service: {
    PORT: 0,
    HOST: '127.0.0.1',
    REDIS_URL: url,
    ...(process.env.REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES } : {}),
    REDIS_PREFIX: prefix,
    ROLE: 'worker',
    WEBHOOK_TOKEN: TEST_TOKEN,
    AMO_SUBDOMAIN: 'demo-realty',
    AMO_BASE_URL: simUrl,
    WORKER_CONCURRENCY: 2,
  },
  amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: 7 },
  rulesFile: file,
  rulesPollMs: 200,
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics({ defaultMetrics: false }),
});
const source = runtime.rulesSource;
// What the pickup engine reads on every decision: runtime.rules(), the same function it was given.
const state = (): Record<string, unknown> => ({
  version: source.snapshot().version,
  timeoutMs: runtime.rules().pickup.timeoutMs,
});
print({ event: 'started', ...state() });
source.onChange(() => print({ event: 'applied', ...state() }));
let seen = source.lastRejection();
setInterval(() => {
  const r = source.lastRejection();
  if (r !== seen) {
    seen = r;
    print({ event: 'rejected', paths: r?.errors.map((e) => e.path), ...state() });
  }
}, 50);
process.on('SIGTERM', () => {
  void runtime.close().then(() => process.exit(0));
});
