/** Redis connections and the start-up check of the settings a durable queue needs. */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null);
 * the web path must fail fast instead, so a webhook is answered 503 (and retried by amoCRM) rather than hang.
 */
export function connectRedis(url: string, purpose: 'worker' | 'web', extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    purpose === 'worker'
      ? { maxRetriesPerRequest: null, ...extra }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, ...extra };
  return new Redis(url, options);
}

/**
 * An evicting or non-persistent Redis silently loses acknowledged webhooks and timers.
 * The check warns loudly instead of refusing, because managed Redis often forbids CONFIG GET.
 */
export async function checkRedisDurability(redis: Redis, logger: Logger): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== 'noeviction') {
      warnings.push(`Redis maxmemory-policy is "${policy}"; it must be "noeviction" or queued events and timers can be evicted`);
    }
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, save] = (await redis.config('GET', 'save')) as [string, string];
    if (aof !== 'yes' && (save ?? '').trim() === '') {
      warnings.push('Redis has no persistence (appendonly no, no save points): a Redis restart loses every queued event and timer');
    } else if (aof !== 'yes') {
      warnings.push('Redis appendonly is off: a crash loses events acknowledged since the last RDB snapshot; enable AOF');
    }
  } catch (err) {
    warnings.push(`could not read Redis settings (${(err as Error).message}); make sure maxmemory-policy is noeviction and AOF is on`);
  }
  for (const w of warnings) logger.warn({ check: 'redis-durability' }, `WARNING: ${w}`);
  return warnings;
}
