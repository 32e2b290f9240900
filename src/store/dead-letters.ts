/**
 * The two dead letters, read together for the operator: plans amoCRM refused for good (`<prefix>:effects:dead-letter`,
 * src/effects/executor.ts and the loop guard) and webhook items that could not be read (`keys.deadLetter()`,
 * src/store/webhook-inbox.ts). Both are lists with the newest entry first, each entry JSON with its `at`.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** Entries are read newest first, this many at a time, until one is older than the window. */
const PAGE = 20;
/** At most this many of each list are looked at; more than this in the window counts as this. */
const SCAN = 200;

const atOf = (row: string): number => {
  try {
    return Date.parse(String((JSON.parse(row) as { at?: unknown }).at));
  } catch {
    return Number.NaN; // an entry that is not JSON was not written by this service; it does not count
  }
};

/** Entries added at or after `sinceMs`, in both lists (usually one short read each: the newest is older). */
export async function recentDeadLetters(redis: Redis, keys: Keys, sinceMs: number): Promise<number> {
  let count = 0;
  for (const key of [keys.of('effects', 'dead-letter'), keys.deadLetter()]) {
    for (let start = 0; start < SCAN; start += PAGE) {
      const rows = await redis.lrange(key, start, start + PAGE - 1);
      const recent = rows.findIndex((row) => !(atOf(row) >= sinceMs));
      count += recent === -1 ? rows.length : recent;
      if (recent !== -1 || rows.length < PAGE) break;
    }
  }
  return count;
}
