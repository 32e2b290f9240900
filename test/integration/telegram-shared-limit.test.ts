/**
 * The Redis-held Telegram limits (src/telegram/shared-limit.ts) as reserved slots: the instants written to each log
 * are checked against the limits by hand, independent of how long the calls here take.
 */
import { createKeys } from '../../src/store/keys.js';
import { createSharedLimiter, sharedLimitKeys } from '../../src/telegram/shared-limit.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

const redis = connectTestRedis();
const prefix = uniquePrefix('tg-limit');
const keys = createKeys(prefix);
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await dropPrefix(redis, `${prefix}-hold`);
  redis.disconnect();
});

const slots = async (key: string): Promise<number[]> => {
  const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
  return flat.filter((_, i) => i % 2 === 1).map(Number);
};

test('when calls ask for slots faster than the limits allow, then every slot keeps the group, per-chat and overall limits', async () => {
  const reserve = createSharedLimiter(redis, keys, {
    global: { max: 4, windowMs: 1000 },
    perChatMs: 300,
    group: { minMs: 100, max: 3, windowMs: 1000 },
  });
  const k = sharedLimitKeys(keys);
  // Five calls to one group, two to a private chat, all at once.
  for (let i = 0; i < 5; i++) await reserve('-100500');
  for (let i = 0; i < 2; i++) await reserve('4242');

  const group = await slots(k.chat('-100500'));
  expect(group).toHaveLength(5);
  for (let i = 1; i < group.length; i++) expect(group[i]! - group[i - 1]!).toBeGreaterThanOrEqual(100); // 1 per 100 ms
  for (let i = 3; i < group.length; i++) expect(group[i]! - group[i - 3]!).toBeGreaterThanOrEqual(1000); // 3 per second
  const chat = await slots(k.chat('4242'));
  expect(chat[1]! - chat[0]!).toBeGreaterThanOrEqual(300);
  const all = await slots(k.global);
  expect(all).toHaveLength(7);
  for (let i = 4; i < all.length; i++) expect(all[i]! - all[i - 4]!).toBeGreaterThanOrEqual(1000); // 4 per second overall
});

test('when a method is held after a 429, then its slots for every chat start after the hold; another method is not held', async () => {
  const reserve = createSharedLimiter(redis, createKeys(`${prefix}-hold`), {
    global: { max: 100, windowMs: 1000 },
    perChatMs: 0,
    group: { minMs: 0, max: 100, windowMs: 1000 },
  });
  await reserve.hold('sendPhoto', 1500);
  expect(await reserve('778', 'editMessageText')).toBeLessThan(100);
  expect(await reserve('777', 'sendPhoto')).toBeGreaterThanOrEqual(1400);
  expect(await reserve('-100777', 'sendPhoto')).toBeGreaterThanOrEqual(1400);
  // A shorter hold never shortens the one in force.
  await reserve.hold('sendPhoto', 10);
  expect(await reserve('779', 'sendPhoto')).toBeGreaterThanOrEqual(1300);
});
