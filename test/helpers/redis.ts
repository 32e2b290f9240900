/**
 * Real Redis for integration tests. Each test file gets its own key prefix so files never see each other's keys;
 * `.ci/run` starts a throwaway server and passes REDIS_URL. With REDIS_CLUSTER_NODES set (`npm run test:cluster`)
 * every connection is an ioredis Cluster, exactly as the service makes it.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { connectRedis } from '../../src/lib/redis.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES || undefined;

export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}`;
}

export function connectTestRedis(): Redis {
  return connectRedis(TEST_REDIS_URL, 'worker', {}, TEST_REDIS_CLUSTER_NODES);
}

/** Deletes every key under a prefix (SCAN, never KEYS); on a cluster, on every master, one key per command. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const cluster = (redis as unknown as { isCluster?: boolean }).isCluster === true;
  const nodes = cluster ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (cluster) await Promise.all(keys.map((k) => redis.unlink(k)));
      else await redis.unlink(...keys);
    } while (cursor !== '0');
  }
}
