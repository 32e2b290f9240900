import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createKeys } from '../../src/store/keys.js';
import { renameUntaggedKeys } from '../../src/store/rename-keys.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

describe('keys written without hash tags by an older version', () => {
  let redis: Redis;
  const prefixes: string[] = [];

  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  it('when the service starts on them, then links, queued messages and rules versions move to their tagged names with their TTL', async () => {
    const prefix = uniquePrefix('rename');
    prefixes.push(prefix);
    await redis.set(`${prefix}:tg:user:7:chat`, '5001');
    await redis.set(`${prefix}:tg:chat:5001:user`, '7');
    await redis.rpush(`${prefix}:outbox:route`, 'm1', 'm2');
    await redis.set(`${prefix}:outbox:seen:m1`, '1', 'EX', 3600);
    await redis.set(`${prefix}:rules:current`, '3');
    await redis.set(`${prefix}:rules:v:3`, '{"version":3}');
    // Not a renamed family: stays where it is.
    await redis.set(`${prefix}:record:seen:x`, '1');

    expect(await renameUntaggedKeys(redis, createKeys(prefix))).toBe(6);

    expect(await redis.get(`${prefix}:{tg}:user:7:chat`)).toBe('5001');
    expect(await redis.get(`${prefix}:{tg}:chat:5001:user`)).toBe('7');
    expect(await redis.lrange(`${prefix}:{outbox}:route`, 0, -1)).toEqual(['m1', 'm2']);
    const ttl = await redis.ttl(`${prefix}:{outbox}:seen:m1`);
    expect(ttl).toBeGreaterThan(3000);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect(await redis.ttl(`${prefix}:{rules}:current`)).toBe(-1);
    expect(await redis.get(`${prefix}:{rules}:v:3`)).toBe('{"version":3}');
    for (const old of [
      `${prefix}:tg:user:7:chat`,
      `${prefix}:tg:chat:5001:user`,
      `${prefix}:outbox:route`,
      `${prefix}:outbox:seen:m1`,
      `${prefix}:rules:current`,
      `${prefix}:rules:v:3`,
    ]) {
      expect(await redis.exists(old)).toBe(0);
    }
    expect(await redis.get(`${prefix}:record:seen:x`)).toBe('1');
  });

  it('when a key exists under both names, then the tagged one wins; and a second start moves nothing', async () => {
    const prefix = uniquePrefix('rename2');
    prefixes.push(prefix);
    await redis.set(`${prefix}:tg:user:7:chat`, 'old-chat');
    await redis.set(`${prefix}:{tg}:user:7:chat`, 'new-chat');

    expect(await renameUntaggedKeys(redis, createKeys(prefix))).toBe(0);
    expect(await redis.get(`${prefix}:{tg}:user:7:chat`)).toBe('new-chat');
    expect(await redis.exists(`${prefix}:tg:user:7:chat`)).toBe(0);

    // Positive control for the marker: an old key written after the first run is left alone.
    await redis.set(`${prefix}:tg:user:8:chat`, '5002');
    expect(await renameUntaggedKeys(redis, createKeys(prefix))).toBe(0);
    expect(await redis.get(`${prefix}:tg:user:8:chat`)).toBe('5002');
  });
});
