/**
 * The two dead letters, read together for the operator: plans amoCRM refused for good (`<prefix>:effects:dead-letter`,
 * src/effects/executor.ts and the loop guard) and webhook items that could not be read (`keys.deadLetter()`,
 * src/store/webhook-inbox.ts). Both are lists with the newest entry first, each entry JSON with its `at`.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

/** How many of the newest entries of each list are looked at; more than this in the window counts as this. */
const SCAN = 200;

/** Entries added at or after `sinceMs`, in both lists. */
export async function recentDeadLetters(redis: Redis, keys: Keys, sinceMs: number): Promise<number> {
  let count = 0;
  for (const key of [keys.of('effects', 'dead-letter'), keys.deadLetter()]) {
    for (const row of await redis.lrange(key, 0, SCAN - 1)) {
      let at = Number.NaN;
      try {
        at = Date.parse(String((JSON.parse(row) as { at?: unknown }).at));
      } catch {
        // An entry that is not JSON was not written by this service; it does not count.
      }
      if (!(at >= sinceMs)) break; // newest first: the rest are older
      count++;
    }
  }
  return count;
}
