/**
 * A worker process that only follows the rules (the same source the runtime uses), for the hot-reload test.
 * Prints one JSON line at start, at every applied change and at every rejection.
 * Usage: node --import tsx test/helpers/rules-follower.ts <redisUrl> <prefix> <rulesFile>
 */
import { Redis } from 'ioredis';
import { createRulesSource } from '../../src/config/source.js';
import { createLogger } from '../../src/lib/logger.js';
import { systemClock } from '../../src/lib/clock.js';
import { createKeys } from '../../src/store/keys.js';
import { seedDirectory } from '../../sim/directory.js';

const [url = '', prefix = '', file = ''] = process.argv.slice(2);
const print = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...line })}\n`);
};
const directory = seedDirectory();
const source = await createRulesSource({
  file,
  redis: new Redis(url, { maxRetriesPerRequest: null }),
  subscriber: new Redis(url, { maxRetriesPerRequest: null }),
  keys: createKeys(prefix),
  logger: createLogger({ level: 'silent' }),
  clock: systemClock,
  directory: () => directory,
  pollMs: 200,
});
const state = (): Record<string, unknown> => ({ version: source.snapshot().version, timeoutMs: source.rules().pickup.timeoutMs });
print({ event: 'started', ...state() });
source.onChange(() => print({ event: 'applied', ...state() }));
let seen = source.lastRejection();
setInterval(() => {
  const r = source.lastRejection();
  if (r !== seen) {
    seen = r;
    print({ event: 'rejected', paths: r?.errors.map((e) => e.path), ...state() });
  }
}, 50);
