/**
 * A worker process that takes one job and never finishes it, for the test that kills a worker mid-job.
 * Usage: node --import tsx test/helpers/hanging-worker.ts <redisUrl> <prefix>
 */
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createWorkers } from '../../src/jobs/worker.js';
import { connectRedis } from '../../src/lib/redis.js';

const [url = '', prefix = ''] = process.argv.slice(2);
createWorkers({
  connection: connectRedis(url, 'worker', {}, process.env.REDIS_CLUSTER_NODES || undefined),
  prefix,
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics({ defaultMetrics: false }),
  concurrency: 1,
  handlers: {
    'webhook-event': () => {
      process.stdout.write('started\n');
      return new Promise(() => undefined);
    },
  },
});
process.stdout.write('ready\n');
