/**
 * Real Redis for integration tests. Each test file gets its own key prefix so files never see each other's keys;
 * `.ci/run` starts a throwaway server and passes REDIS_URL. With REDIS_CLUSTER_NODES set (`npm run test:cluster`)
 * every connection is an ioredis Cluster, exactly as the service makes it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis, scanKeys } from '../../src/lib/redis.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES || undefined;

export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}`;
}

export function connectTestRedis(): Redis {
  return connectRedis(TEST_REDIS_URL, 'worker', {}, TEST_REDIS_CLUSTER_NODES);
}

/** Deletes every key under a prefix (SCAN on every master, never KEYS), one key per command: they span slots. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, `${prefix}*`);
  for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map((k) => redis.unlink(k)));
}
