/**
 * Key families that gained a Redis Cluster hash tag (`<prefix>:tg:…` → `<prefix>:{tg}:…`, likewise `outbox` and
 * `rules`; docs/operations.md, "Redis keys and retention"). A Redis written by an older version keeps its Telegram links and
 * queues, its queued messages and its rules versions: each old key is moved to its new name, with its TTL.
 *
 * Runs at start, before anything reads these keys, once per prefix (a marker key); any number of processes may run
 * it at once. DUMP and RESTORE move a key between slots of a cluster too; a key that already exists under its new
 * name (written by this version) wins, and the old one is dropped.
 */
import type { Redis } from 'ioredis';
import { scanKeys } from '../lib/redis.js';
import type { KeyGroup, Keys } from './keys.js';

const RENAMED: KeyGroup[] = ['tg', 'outbox', 'rules'];

/** Glob-escapes a literal for SCAN MATCH. */
const literal = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

/** Moves every key of the old families to its tagged name; returns how many keys were moved. */
export async function renameUntaggedKeys(redis: Redis, keys: Keys): Promise<number> {
  const marker = keys.of('keys', 'tagged');
  if ((await redis.exists(marker)) === 1) return 0;
  let moved = 0;
  for (const group of RENAMED) {
    const from = keys.of(group, '');
    for (const old of await scanKeys(redis, `${literal(from)}*`)) {
      const target = keys.tagged(group, old.slice(from.length));
      const [dump, ttl] = await Promise.all([redis.dumpBuffer(old), redis.pttl(old)]);
      if (dump === null || ttl === -2) continue;
      try {
        await redis.restore(target, ttl > 0 ? ttl : 0, dump);
        moved++;
      } catch (err) {
        if (!/BUSYKEY/.test((err as Error).message)) throw err;
      }
      await redis.del(old);
    }
  }
  await redis.set(marker, '1');
  return moved;
}
