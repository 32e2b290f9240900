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
export function connectRedis(
  url: string,
  purpose: 'worker' | 'web',
  extra: RedisOptions = {},
  clusterNodes?: string,
): Redis {
  const options: RedisOptions =
    purpose === 'worker'
      ? { maxRetriesPerRequest: null, ...extra }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, ...extra };
  if (clusterNodes !== undefined && clusterNodes !== '') {
    return new Cluster(parseClusterNodes(clusterNodes), { redisOptions: options }) as unknown as Redis;
  }
  return new Redis(url, options);
}

/** The nodes that hold keys: every master of a cluster, or the one server. */
export function keyNodes(redis: Redis): Redis[] {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true
    ? (redis as unknown as Cluster).nodes('master')
    : [redis];
}

/**
 * Every key matching `pattern` (SCAN, never KEYS). A cluster's SCAN walks one node only, so each master is walked
 * in turn; a key that moves between nodes during the walk may be missed or seen twice, as with SCAN itself.
 */
export async function scanKeys(redis: Redis, pattern: string, count = 1000): Promise<string[]> {
  const found = new Set<string>();
  for (const node of keyNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      for (const k of keys) found.add(k);
    } while (cursor !== '0');
  }
  return [...found];
}

/**
 * An evicting or non-persistent Redis silently loses acknowledged webhooks and timers.
 * The check warns loudly instead of refusing, because managed Redis often forbids CONFIG GET.
 */
export async function checkRedisDurability(redis: Redis, logger: Logger): Promise<string[]> {
  const warnings: string[] = [];
  // On a cluster, CONFIG GET goes to one node; each node is checked the same way.
  for (const node of keyNodes(redis)) warnings.push(...(await checkNode(node)));
  for (const w of warnings) logger.warn({ check: 'redis-durability' }, `WARNING: ${w}`);
  return warnings;
}

async function checkNode(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== 'noeviction') {
      warnings.push(
        `Redis maxmemory-policy is "${policy}"; it must be "noeviction" or queued events and timers can be evicted`,
      );
    }
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, save] = (await redis.config('GET', 'save')) as [string, string];
    if (aof !== 'yes' && (save ?? '').trim() === '') {
      warnings.push(
        'Redis has no persistence (appendonly no, no save points): a Redis restart loses every queued event and timer',
      );
    } else if (aof !== 'yes') {
      warnings.push(
        'Redis appendonly is off: a crash loses events acknowledged since the last RDB snapshot; enable AOF',
      );
    }
  } catch (err) {
    warnings.push(
      `could not read Redis settings (${(err as Error).message}); make sure maxmemory-policy is noeviction and AOF is on`,
    );
  }
  return warnings;
}
