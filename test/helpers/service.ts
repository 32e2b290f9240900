/** Starts the real service (web + worker) on real Redis under a unique prefix, with a silent logger. */
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startService, type Service, type ServiceConfig, type ServiceDeps } from '../../src/service.js';
import { TEST_REDIS_CLUSTER_NODES, TEST_REDIS_URL, uniquePrefix } from './redis.js';

export const TEST_TOKEN = 'test-webhook-token-0123456789abcdef';

export function testConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    PORT: 0,
    HOST: '127.0.0.1',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: uniquePrefix('svc'),
    ROLE: 'all',
    WEBHOOK_TOKEN: TEST_TOKEN,
    AMO_SUBDOMAIN: 'etesttask',
    AMO_BASE_URL: undefined,
    WORKER_CONCURRENCY: 4,
    ...(TEST_REDIS_CLUSTER_NODES !== undefined ? { REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES } : {}),
    ...overrides,
  };
}

/** The service with its plain workers (no rules): webhook → queue → lead state. */
export async function startTestService(
  overrides: Partial<ServiceConfig> = {},
  deps: Partial<ServiceDeps> = {},
): Promise<Service> {
  const service = await startService(testConfig(overrides), {
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
    ...deps,
  });
  service.startWorkers();
  return service;
}
