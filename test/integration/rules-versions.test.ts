import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createVersionStore, VERSIONS_KEPT } from '../../src/store/rule-versions.js';
import { createKeys } from '../../src/store/keys.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';

const save = (text: string) => ({
  text,
  author: 'file',
  comment: '',
  origin: 'file' as const,
  at: '2026-03-03T09:00:00Z',
});

describe('stored rules versions', () => {
  const redis: Redis[] = [];
  const prefixes: string[] = [];
  const connect = (): Redis => {
    const r = connectTestRedis();
    redis.push(r);
    return r;
  };

  beforeAll(() => void connect());
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis[0]!, p);
    for (const r of redis) r.disconnect();
  });

  it('when more than 200 versions are saved, then the oldest drop out with their texts and the newest stays current', async () => {
    const prefix = uniquePrefix('versions');
    prefixes.push(prefix);
    const store = createVersionStore(redis[0]!, createKeys(prefix));
    for (let i = 1; i <= VERSIONS_KEPT + 2; i++)
      expect(await store.save(save(`timeout: ${i}`))).toEqual({ kind: 'saved', version: i });

    expect(await store.current()).toBe(202);
    expect((await store.list(1000)).map((v) => v.version)).toHaveLength(200);
    expect(await store.get(1)).toBeUndefined();
    expect(await store.get(2)).toBeUndefined();
    expect((await store.get(3))?.text).toBe('timeout: 3');
    expect((await store.get(202))?.diff).toContain('+timeout: 202');
    expect(await redis[0]!.exists(`${prefix}:{rules}:v:1`, `${prefix}:{rules}:v:2`)).toBe(0);
  });

  it('when four connections import different files at once, then each gets its own number and none is lost', async () => {
    const prefix = uniquePrefix('versions-race');
    prefixes.push(prefix);
    const stores = [0, 1, 2, 3].map(() => createVersionStore(connect(), createKeys(prefix)));
    const results = await Promise.all(stores.flatMap((s, i) => [0, 1, 2].map((j) => s.save(save(`file ${i}.${j}`)))));

    const numbers = results.map((r) => (r.kind === 'saved' ? r.version : 0)).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const texts = await Promise.all(numbers.map(async (n) => (await stores[0]!.get(n))?.text));
    expect(new Set(texts).size).toBe(12);
    expect(await stores[0]!.current()).toBe(12);
  });
});
