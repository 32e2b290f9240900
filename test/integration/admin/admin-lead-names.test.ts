/**
 * GET /admin/api/directory lists the account's lead custom fields and lead tags, read by the amoCRM client from
 * the simulator (GET /api/v4/leads/custom_fields and /api/v4/leads/tags).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createAmoClient } from '../../../src/amocrm/api/client.js';
import { fetchLeadNames } from '../../../src/amocrm/api/directory.js';
import { createSimulator, type Simulator } from '../../../sim/server.js';
import { bearer, startAdminHarness } from '../../helpers/admin.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../../helpers/redis.js';

const TOKEN = 'sim-long-lived-token';

interface DirectoryBody {
  users: Array<{ name: string }>;
  leadFields: Array<{ id: number; name: string; type: string }>;
  tags: Array<{ id: number; name: string }>;
}

describe('admin directory: lead custom fields and tags', () => {
  let sim: Simulator;
  let redis: Redis;
  const keyPrefix = uniquePrefix('amo');

  beforeAll(async () => {
    sim = createSimulator({ longLivedToken: TOKEN, controlApi: false });
    await sim.listen();
    redis = connectTestRedis();
    const stage = sim.account.statusByName('Передан в работу').id;
    sim.account.createLead({ name: 'A', statusId: stage, by: 9001, tags: ['горячий', 'vip'] });
    sim.account.createLead({ name: 'B', statusId: stage, by: 9001, tags: ['vip', 'повтор'] });
  });
  afterAll(async () => {
    await sim.close();
    await dropPrefix(redis, keyPrefix);
    redis.disconnect();
  });

  it('when the directory is read, then it lists the fields and the tags amoCRM returns', async () => {
    const amo = createAmoClient({
      baseUrl: sim.baseUrl!,
      auth: { kind: 'long-lived', token: TOKEN },
      redis,
      keyPrefix,
      rps: 1000,
    });
    const h = await startAdminHarness({ leadNames: () => fetchLeadNames(amo) });
    try {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/directory', headers: bearer });
      expect(res.statusCode).toBe(200);
      const body = res.json() as DirectoryBody;
      expect(body.leadFields).toEqual([
        { id: 801001, name: 'Дата и время встречи', type: 'date_time' },
        { id: 801002, name: 'Агент объекта', type: 'text' },
      ]);
      // Tag ids are given in order of first use; "vip" is listed once.
      expect(body.tags).toEqual([
        { id: 300, name: 'горячий' },
        { id: 301, name: 'vip' },
        { id: 302, name: 'повтор' },
      ]);
      expect(body.users.map((u) => u.name)).toContain('Анна Смирнова');
    } finally {
      await h.close();
    }
  });

  it('when amoCRM cannot give the fields and tags, then the other names still come back with empty lists', async () => {
    const h = await startAdminHarness({ leadNames: () => Promise.reject(new Error('amoCRM is unavailable')) });
    try {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/directory', headers: bearer });
      expect(res.statusCode).toBe(200);
      const body = res.json() as DirectoryBody;
      expect(body.leadFields).toEqual([]);
      expect(body.tags).toEqual([]);
      expect(body.users.map((u) => u.name)).toContain('Анна Смирнова');
    } finally {
      await h.close();
    }
  });
});
