/**
 * The webhook receiver alone (`ROLE=web`) in its own OS process, for tests that kill it mid-delivery.
 * Usage: node --import tsx test/helpers/web-process.ts <redisUrl> <prefix>; prints `listening <url>`.
 */
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startService } from '../../src/service.js';
import { testConfig } from './service.js';

const [url = '', prefix = ''] = process.argv.slice(2);
const service = await startService(testConfig({ REDIS_URL: url, REDIS_PREFIX: prefix, ROLE: 'web' }), {
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics({ defaultMetrics: false }),
});
process.stdout.write(`listening ${await service.listen()}\n`);
