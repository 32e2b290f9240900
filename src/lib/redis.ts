/** Redis connections and the start-up check of the settings a durable queue needs. */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

/** `host:port,host:port` (REDIS_CLUSTER_NODES) → ioredis startup nodes. */
export function parseClusterNodes(nodes: string): Array<{ host: string; port: number }> {
  return nodes.split(',').map((pair) => {
    const at = pair.lastIndexOf(':');
    return { host: pair.slice(0, at).trim(), port: Number(pair.slice(at + 1)) };
  });
}

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null);
 * the web path must fail fast instead, so a webhook is answered 503 (and retried by amoCRM) rather than hang.
 *
 * With `clusterNodes` (REDIS_CLUSTER_NODES) the connection is an ioredis Cluster. It is returned as `Redis`
 * because every store uses only the commands both share (single-slot commands, pipelines and scripts whose keys
 * share a hash tag, see src/store/keys.ts), and BullMQ accepts either.
 */
export function connectRedis(url: string, purpose: 'worker' | 'web', extra: RedisOptions = {}, clusterNodes?: string): Redis {
  const options: RedisOptions =
    purpose === 'worker'
      ? { maxRetriesPerRequest: null, ...extra }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, ...extra };
  if (clusterNodes !== undefined && clusterNodes !== '') {
    return new Cluster(parseClusterNodes(clusterNodes), { redisOptions: options }) as unknown as Redis;
  }
  return new Redis(url, options);
}

/**
 * An evicting or non-persistent Redis silently loses acknowledged webhooks and timers.
 * The check warns loudly instead of refusing, because managed Redis often forbids CONFIG GET.
 */
export async function checkRedisDurability(redis: Redis, logger: Logger): Promise<string[]> {
  const warnings: string[] = [];
  // On a cluster, CONFIG GET goes to one node; each node is checked the same way.
  const nodes = (redis as unknown as { isCluster?: boolean }).isCluster === true ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) warnings.push(...(await checkNode(node)));
  for (const w of warnings) logger.warn({ check: 'redis-durability' }, `WARNING: ${w}`);
  return warnings;
}

async function checkNode(redis: Redis): Promise<string[]> {
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
  return warnings;
}
