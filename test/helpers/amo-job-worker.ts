/**
 * A worker process whose `pickup-sweep` job calls amoCRM through the real client with OAuth, and whose log goes to
 * stdout through the production logger: for the tests of error classification and secret-free logs.
 * Usage: node --import tsx test/helpers/amo-job-worker.ts <redisUrl> <prefix> <baseUrl> <clientSecret>
 * The job's `reason` picks the call: `update-lead` (PATCH /api/v4/leads) or `read-lead` (GET /api/v4/leads/42).
 */
import { createAmoClient } from '../../src/amocrm/api/client.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { connectRedis } from '../../src/lib/redis.js';
import { createKeys } from '../../src/store/keys.js';
import { createWorkers } from '../../src/jobs/worker.js';

const [url = '', prefix = '', baseUrl = '', clientSecret = ''] = process.argv.slice(2);
const amo = createAmoClient({
  baseUrl,
  auth: {
    kind: 'oauth',
    clientId: 'integration-id',
    clientSecret,
    redirectUri: 'https://robot.example/oauth/callback',
  },
  redis: connectRedis(url, 'worker', {}, process.env.REDIS_CLUSTER_NODES || undefined),
  keyPrefix: prefix,
  rps: 7,
  transport: { maxAttempts: 1 },
});
createWorkers({
  connection: connectRedis(url, 'worker', {}, process.env.REDIS_CLUSTER_NODES || undefined),
  prefix: createKeys(prefix).bullPrefix,
  logger: createLogger({ level: 'info' }),
  metrics: createMetrics({ defaultMetrics: false }),
  concurrency: 1,
  handlers: {
    'pickup-sweep': async (data) => {
      if (data.reason === 'update-lead') return amo.updateLead({ id: 42, status_id: 5 });
      return (await amo.getLead(42))?.id;
    },
  },
});
process.stdout.write('ready\n');
