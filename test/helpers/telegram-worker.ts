/**
 * A Telegram delivery worker as its own OS process, for the test with two of them on one Redis.
 * Usage: node --import tsx test/helpers/telegram-worker.ts <redisUrl> <prefix> <apiRoot> <token>
 * (TELEGRAM_TEST_LIMITS in the environment overrides the fast test limits.)
 */
import { createQueues, telegramQueue } from '../../src/jobs/queues.js';
import { createWorkers } from '../../src/jobs/worker.js';
import { systemClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { connectRedis } from '../../src/lib/redis.js';
import { createKeys } from '../../src/store/keys.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { createTelegram, type TelegramDeps } from '../../src/telegram/index.js';
import { FAST_SHARED_LIMITS } from './telegram.js';
import { demoRules } from './rules.js';

const [url = '', prefix = '', apiRoot = '', token = ''] = process.argv.slice(2);
/** TELEGRAM_TEST_LIMITS: `{ sharedLimits? }` as JSON, for the test of limits across processes. */
const limits = JSON.parse(process.env.TELEGRAM_TEST_LIMITS ?? '{}') as Partial<Pick<TelegramDeps, 'sharedLimits'>>;
const redis = connectRedis(url, 'worker', {}, process.env.REDIS_CLUSTER_NODES || undefined);
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', base: { pid: process.pid } });
const keys = createKeys(prefix);
const queues = createQueues({ connection: redis, prefix: keys.bullPrefix, logger });
const rules = await demoRules();
const telegram = createTelegram({
  telegram: { apiRoot, token },
  redis,
  keys,
  queues: telegramQueue(queues),
  clock: systemClock,
  logger,
  records: createRecordStore(redis, keys),
  rules: () => ({ ...rules, telegram: { ...rules.telegram!, burstThreshold: 1000 } }),
  amoBaseUrl: 'https://demo-realty.amocrm.ru',
  sharedLimits: limits.sharedLimits ?? FAST_SHARED_LIMITS,
  retryDelayMs: () => 50,
});
createWorkers({
  connection: redis,
  prefix: keys.bullPrefix,
  logger,
  metrics: createMetrics({ defaultMetrics: false }),
  handlers: telegram.handlers,
  concurrency: 4,
});
process.stdout.write('ready\n');
