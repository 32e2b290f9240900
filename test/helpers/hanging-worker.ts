/**
 * A worker process that takes one job and never finishes it, for the test that kills a worker mid-job.
 * Usage: node --import tsx test/helpers/hanging-worker.ts <redisUrl> <prefix>
 */
import { Redis } from 'ioredis';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createWorkers } from '../../src/jobs/worker.js';

const [url = '', prefix = ''] = process.argv.slice(2);
createWorkers({
  connection: new Redis(url, { maxRetriesPerRequest: null }),
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
