/** The client's lead custom fields and lead tags lists: every page is read and only id, name (and type) are kept. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import type { Redis } from 'ioredis';
import { createAmoClient } from '../../../src/amocrm/api/client.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../../helpers/redis.js';

const BASE = 'https://agency.amocrm.ru';
let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = connectTestRedis();
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
  nock.enableNetConnect();
});

function client() {
  const keyPrefix = uniquePrefix('amo');
  prefixes.push(keyPrefix);
  return createAmoClient({
    baseUrl: BASE,
    auth: { kind: 'long-lived', token: 'LONG' },
    redis,
    keyPrefix,
    rps: 1000,
    transport: { sleep: async () => undefined, random: () => 0.5 },
  });
}

const next = (path: string, page: number) => ({
  self: { href: `${BASE}${path}?page=${page}` },
  next: { href: `${BASE}${path}?page=${page + 1}` },
});
const self = (path: string, page: number) => ({ self: { href: `${BASE}${path}?page=${page}` } });

describe('lead custom fields and tags (nock)', () => {
  it('reads the custom fields over two pages of 50', async () => {
    const path = '/api/v4/leads/custom_fields';
    nock(BASE)
      .get(path)
      .query({ page: '1', limit: '50' })
      .reply(200, {
        _page: 1,
        _links: next(path, 1),
        _embedded: {
          custom_fields: [
            {
              id: 801001,
              name: 'Дата и время встречи',
              type: 'date_time',
              entity_type: 'leads',
              sort: 510,
              enums: null,
            },
            { id: 801002, name: 'Агент объекта', type: 'text', entity_type: 'leads', sort: 511, enums: null },
          ],
        },
      });
    nock(BASE)
      .get(path)
      .query({ page: '2', limit: '50' })
      .reply(200, {
        _page: 2,
        _links: self(path, 2),
        _embedded: {
          custom_fields: [
            {
              id: 801003,
              name: 'Источник',
              type: 'select',
              entity_type: 'leads',
              enums: [{ id: 1, value: 'Авито', sort: 1 }],
            },
          ],
        },
      });
    const fields = await client().listLeadCustomFields();
    expect(fields).toEqual([
      { id: 801001, name: 'Дата и время встречи', type: 'date_time' },
      { id: 801002, name: 'Агент объекта', type: 'text' },
      { id: 801003, name: 'Источник', type: 'select' },
    ]);
    expect(nock.isDone()).toBe(true);
  });

  it('reads the tags over two pages of 250, color dropped', async () => {
    const path = '/api/v4/leads/tags';
    nock(BASE)
      .get(path)
      .query({ page: '1', limit: '250' })
      .reply(200, {
        _page: 1,
        _links: next(path, 1),
        _embedded: {
          tags: [
            { id: 242722, name: 'lead quente', color: '6A0F49' },
            { id: 18134, name: 'FIV', color: null },
          ],
        },
      });
    nock(BASE)
      .get(path)
      .query({ page: '2', limit: '250' })
      .reply(200, {
        _page: 2,
        _links: self(path, 2),
        _embedded: { tags: [{ id: 300, name: 'горячий', color: null }] },
      });
    const tags = await client().listLeadTags();
    expect(tags).toEqual([
      { id: 242722, name: 'lead quente' },
      { id: 18134, name: 'FIV' },
      { id: 300, name: 'горячий' },
    ]);
    expect(nock.isDone()).toBe(true);
  });

  it('an account without tags (204) gives an empty list', async () => {
    nock(BASE).get('/api/v4/leads/tags').query({ page: '1', limit: '250' }).reply(204);
    expect(await client().listLeadTags()).toEqual([]);
    expect(nock.isDone()).toBe(true);
  });
});
