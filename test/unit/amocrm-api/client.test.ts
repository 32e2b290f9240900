import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import nock from 'nock';
import type { Redis } from 'ioredis';
import { createAmoClient, type AmoClientOptions } from '../../../src/amocrm/api/client.js';
import {
  AmoAuthRevokedError,
  AmoBlockedError,
  AmoNotFoundError,
  AmoPaymentRequiredError,
  AmoUnavailableError,
  AmoUnexpectedError,
  AmoValidationError,
  type AmoError,
} from '../../../src/amocrm/api/errors.js';
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

function client(overrides: Partial<AmoClientOptions> = {}, sleeps: number[] = []) {
  const keyPrefix = uniquePrefix('amo');
  prefixes.push(keyPrefix);
  return {
    keyPrefix,
    client: createAmoClient({
      baseUrl: BASE,
      auth: { kind: 'long-lived', token: 'LONG' },
      redis,
      keyPrefix,
      rps: 1000,
      batchWindowMs: 5,
      transport: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
      ...overrides,
    }),
  };
}

/** A real sleep that also records what it was asked, for waits that must pass in Redis' clock. */
const realSleep = (sleeps: number[]) => async (ms: number) => {
  sleeps.push(ms);
  await new Promise((r) => setTimeout(r, ms));
};

const lead = (id: number) => ({
  id,
  name: `L${id}`,
  price: 0,
  responsible_user_id: 1,
  status_id: 2,
  pipeline_id: 3,
  created_at: 1,
  updated_at: 2,
  _embedded: { tags: [] },
});

describe('amoCRM client manners (nock)', () => {
  it('when 20 calls run while the OAuth token is expired, then exactly one refresh happens and all succeed', async () => {
    const { client: c, keyPrefix } = client({
      auth: { kind: 'oauth', clientId: 'id', clientSecret: 'secret', redirectUri: 'https://x/cb' },
    });
    await redis.set(
      `${keyPrefix}:amo:agency.amocrm.ru:tokens`,
      JSON.stringify({ accessToken: 'OLD', refreshToken: 'R1', expiresAt: Date.now() - 1000 }),
    );
    let refreshes = 0;
    nock(BASE)
      .post(
        '/oauth2/access_token',
        (b: Record<string, string>) => b.grant_type === 'refresh_token' && b.refresh_token === 'R1',
      )
      .times(5)
      .reply(200, () => {
        refreshes++;
        return { token_type: 'Bearer', expires_in: 86400, access_token: 'NEW', refresh_token: 'R2' };
      });
    nock(BASE).get('/api/v4/leads/7').matchHeader('authorization', 'Bearer NEW').times(20).reply(200, lead(7));
    const results = await Promise.all(Array.from({ length: 20 }, () => c.getLead(7)));
    expect(results.every((r) => r?.id === 7)).toBe(true);
    expect(refreshes).toBe(1);
    const stored = JSON.parse((await redis.get(`${keyPrefix}:amo:agency.amocrm.ru:tokens`))!);
    expect(stored).toMatchObject({ accessToken: 'NEW', refreshToken: 'R2' });
  });

  it('when a call gets 401, then one refresh and one retry; a revoked refresh is a loud error, alerted once', async () => {
    const alerts: string[] = [];
    const { client: c, keyPrefix } = client({
      auth: { kind: 'oauth', clientId: 'id', clientSecret: 'secret', redirectUri: 'https://x/cb' },
      onAlert: (k) => void alerts.push(k),
    });
    const key = `${keyPrefix}:amo:agency.amocrm.ru:tokens`;
    await redis.set(key, JSON.stringify({ accessToken: 'A', refreshToken: 'R', expiresAt: Date.now() + 86_400_000 }));
    nock(BASE)
      .get('/api/v4/leads/1')
      .matchHeader('authorization', 'Bearer A')
      .reply(401, { title: 'Unauthorized', status: 401 });
    nock(BASE).post('/oauth2/access_token').reply(200, { expires_in: 86400, access_token: 'B', refresh_token: 'R2' });
    nock(BASE).get('/api/v4/leads/1').matchHeader('authorization', 'Bearer B').reply(200, lead(1));
    expect((await c.getLead(1))?.id).toBe(1);

    nock(BASE).get('/api/v4/leads/2').reply(401, { title: 'Unauthorized', status: 401 });
    nock(BASE)
      .post('/oauth2/access_token')
      .reply(401, { hint: 'Token has been revoked', title: 'Некорректный запрос', status: 401 });
    const err = await c.getLead(2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmoAuthRevokedError);
    // Not a rejected request: a job keeps its retries for when an admin has re-authorised.
    expect(err).toMatchObject({ retryable: true, status: 401 });
    expect(String(err)).toMatch(/Re-authorise/);
    expect(String(err)).not.toMatch(/secret|Bearer/);
    expect(alerts.filter((a) => a === 'auth_revoked').length).toBeGreaterThanOrEqual(1);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('when amoCRM blocks the account while the token is refreshed, then it is a block to wait out, not revoked access', async () => {
    const alerts: string[] = [];
    const { client: c, keyPrefix } = client({
      auth: { kind: 'oauth', clientId: 'id', clientSecret: 'secret', redirectUri: 'https://x/cb' },
      onAlert: (k) => void alerts.push(k),
    });
    const key = `${keyPrefix}:amo:agency.amocrm.ru:tokens`;
    const stored = JSON.stringify({ accessToken: 'OLD', refreshToken: 'R1', expiresAt: Date.now() - 1000 });
    await redis.set(key, stored);
    // amocrm.md §2, sample 59: the block is an nginx HTML page, on every endpoint.
    nock(BASE)
      .post('/oauth2/access_token')
      .reply(
        403,
        '<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>',
        { 'content-type': 'text/html' },
      );
    const err = (await c.getLead(1).catch((e: unknown) => e)) as AmoBlockedError;
    expect(err).toBeInstanceOf(AmoBlockedError);
    expect(err).toMatchObject({
      retryable: true,
      status: 403,
      endpoint: 'POST /oauth2/access_token',
      retryAfterMs: 600_000,
    });
    expect(alerts).toEqual(['blocked']);
    expect(await redis.get(key)).toBe(stored);
    // The block holds every request, the token endpoint included: nothing more is sent.
    const next = await c.getLead(1).catch((e: unknown) => e);
    expect(next).toBeInstanceOf(AmoBlockedError);
    expect(nock.isDone()).toBe(true);
  });

  it('when amoCRM answers 429 with a short retry_after, then the client waits it out on the shared back-off and succeeds', async () => {
    const sleeps: number[] = [];
    const { client: c, keyPrefix } = client({ transport: { sleep: realSleep(sleeps), random: () => 0.5 } });
    nock(BASE).get('/api/v4/leads/3').reply(429, { title: 'Too Many Requests', status: 429, retry_after: 0.3 });
    nock(BASE).get('/api/v4/leads/3').reply(200, lead(3));
    expect((await c.getLead(3))?.id).toBe(3);
    // Slept once or more until the 300 ms deadline kept in Redis had passed, never longer than it.
    expect(sleeps.length).toBeGreaterThanOrEqual(1);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(300);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThan(200);
    expect(await redis.exists(`${keyPrefix}:amo:{agency.amocrm.ru}:backoff`)).toBe(0);
  });

  it('when amoCRM answers 429 with a long retry_after, then the request fails at once with a retryable error carrying the wait', async () => {
    const sleeps: number[] = [];
    const { client: c, keyPrefix } = client({}, sleeps);
    // amocrm.md §2, the documented 429 body.
    nock(BASE).get('/api/v4/leads/3').reply(429, {
      title: 'Too Many Requests',
      type: 'https://httpstatus.es/429',
      status: 429,
      detail: 'Too Many Requests',
      retry_after: 300,
    });
    const err = (await c.getLead(3).catch((e: unknown) => e)) as AmoUnavailableError;
    expect(err).toBeInstanceOf(AmoUnavailableError);
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 300_000 });
    expect(sleeps).toEqual([]);
    expect(nock.isDone()).toBe(true);
    const ttl = await redis.pttl(`${keyPrefix}:amo:{agency.amocrm.ru}:backoff`);
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    // The next call, from this or any process on the same Redis, is not sent either.
    const next = (await c.getLead(4).catch((e: unknown) => e)) as AmoUnavailableError;
    expect(next).toMatchObject({ retryable: true, status: 429 });
    expect(next.retryAfterMs).toBeGreaterThan(290_000);
  });

  it('when amoCRM answers 429 without retry_after, then the shared wait doubles with each 429 of the last minute', async () => {
    const sleeps: number[] = [];
    const { client: c, keyPrefix } = client({ backoff: { baseMs: 1_000, maxInRequestWaitMs: 0 } }, sleeps);
    const key = `${keyPrefix}:amo:{agency.amocrm.ru}:backoff`;
    const waits: number[] = [];
    for (const id of [1, 2, 3]) {
      nock(BASE).get(`/api/v4/leads/${id}`).reply(429, '<html>429 Too Many Requests</html>');
      const err = (await c.getLead(id).catch((e: unknown) => e)) as AmoUnavailableError;
      waits.push(err.retryAfterMs ?? -1);
      await redis.del(key); // let the next call through to meet its own 429
    }
    expect(waits).toEqual([1_000, 2_000, 4_000]);
  });
  it('when amoCRM answers 5xx or the network fails, then retries are bounded with growing backoff', async () => {
    const sleeps: number[] = [];
    const { client: c } = client(
      { transport: { maxAttempts: 3, sleep: async (ms) => void sleeps.push(ms), random: () => 1 } },
      sleeps,
    );
    nock(BASE).get('/api/v4/leads/4').reply(502, '<html>bad gateway</html>');
    nock(BASE).get('/api/v4/leads/4').replyWithError('ECONNRESET');
    nock(BASE).get('/api/v4/leads/4').reply(504, '');
    await expect(c.getLead(4)).rejects.toThrow(/504/);
    expect(sleeps).toEqual([500, 1000, 2000]);
  });

  it('when every try times out, then no retry starts after the request has run for a minute', async () => {
    const sleeps: number[] = [];
    let clock = 0;
    // Each try costs 20 s (axios' timeout), told by the injected clock; backoff with random 1 is 500, 1000, 2000 ms.
    const { client: c } = client({
      transport: { sleep: async (ms) => void sleeps.push(ms), random: () => 1, now: () => clock },
    });
    let tries = 0;
    nock(BASE)
      .get('/api/v4/leads/4')
      .times(5)
      .reply(() => {
        tries++;
        clock += 20_000;
        return [504, ''];
      });
    const err = (await c.getLead(4).catch((e: unknown) => e)) as AmoUnavailableError;
    expect(err).toMatchObject({ retryable: true, status: 504 });
    // After three tries the clock reads 60 s; the fourth would start after 2 s more of backoff, past the 60 s budget.
    expect(tries).toBe(3);
    expect(sleeps).toEqual([500, 1000]);
  });

  it('when a 403 HTML page follows 429s, then the client stops and fails fast with a retryable error during the cool-down', async () => {
    const alerts: string[] = [];
    const sleeps: number[] = [];
    const { client: c } = client({
      onAlert: (k) => void alerts.push(k),
      backoff: { baseMs: 20, blockCooldownMs: 60_000 },
      transport: { sleep: realSleep(sleeps) },
    });
    nock(BASE).get('/api/v4/leads/5').reply(429, '<html>429 Too Many Requests</html>');
    nock(BASE).get('/api/v4/leads/5').reply(403, '<html><body>403 Forbidden</body></html>');
    const first = (await c.getLead(5).catch((e: unknown) => e)) as AmoBlockedError;
    expect(first).toBeInstanceOf(AmoBlockedError);
    expect(first).toMatchObject({ retryable: true, status: 403, retryAfterMs: 60_000 });
    const second = (await c.getLead(5).catch((e: unknown) => e)) as AmoBlockedError;
    expect(second).toBeInstanceOf(AmoBlockedError);
    expect(second.retryAfterMs).toBeGreaterThan(50_000);
    expect(second.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(alerts).toEqual(['blocked']);
    expect(nock.isDone()).toBe(true);
  });

  it('when a JSON 403 comes with no 429 before it, then it is an ordinary refusal, not a block', async () => {
    const alerts: string[] = [];
    const { client: c } = client({ onAlert: (k) => void alerts.push(k) });
    // amocrm.md §2: GET /api/v4/users is admin-only, 403 otherwise.
    nock(BASE).get('/api/v4/leads/6').reply(403, { title: 'Forbidden', status: 403, detail: 'Access denied' });
    nock(BASE).get('/api/v4/leads/7').reply(200, lead(7));
    const err = (await c.getLead(6).catch((e: unknown) => e)) as AmoError;
    expect(err).toMatchObject({ retryable: false, status: 403 });
    expect(err).not.toBeInstanceOf(AmoBlockedError);
    expect((await c.getLead(7))?.id).toBe(7);
    expect(alerts).toEqual([]);
  });

  it.each([
    [400, AmoValidationError],
    [402, AmoPaymentRequiredError],
    [404, AmoNotFoundError],
    [405, AmoUnexpectedError],
    [422, AmoValidationError],
  ])('when amoCRM answers %i, then the request is sent once and fails as not retryable', async (status, kind) => {
    const { client: c } = client();
    let sent = 0;
    nock(BASE)
      .get('/api/v4/leads/8')
      .times(5)
      .reply(() => {
        sent++;
        return [status, { title: 'Error', status, detail: 'no' }];
      });
    const err = (await c.getLead(8).catch((e: unknown) => e)) as AmoError;
    expect(err).toBeInstanceOf(kind);
    expect(err.retryable).toBe(false);
    expect(sent).toBe(1);
  });

  it('when amoCRM rejects a write, then every field error surfaces with its path', async () => {
    const { client: c } = client();
    nock(BASE)
      .patch('/api/v4/leads')
      .reply(400, {
        'validation-errors': [
          {
            request_id: '0',
            errors: [
              {
                code: 'NotSupportedChoice',
                path: 'custom_fields_values.0.field_id',
                detail: 'The value you selected is not a valid choice.',
              },
              { code: 'InvalidType', path: 'status_id', detail: 'This value should be of type int.' },
            ],
          },
        ],
        title: 'Bad Request',
        status: 400,
        detail: 'Request validation failed',
      });
    const err = (await c.updateLead({ id: 1, status_id: 5 }).catch((e: unknown) => e)) as AmoValidationError;
    expect(err).toBeInstanceOf(AmoValidationError);
    expect(err.fieldErrors.map((f) => f.path)).toEqual(['custom_fields_values.0.field_id', 'status_id']);
    expect(err.retryable).toBe(false);
  });

  it('when 120 lead updates are queued together, then they go out as 1 request (up to 250 a request) and each caller gets its own id', async () => {
    const { client: c } = client();
    const sizes: number[] = [];
    nock(BASE)
      .patch('/api/v4/leads')
      .times(1)
      .reply(200, (_uri, body) => {
        const items = body as Array<{ id: number }>;
        sizes.push(items.length);
        return { _links: {}, _embedded: { leads: items.map((i) => ({ id: i.id, updated_at: 1 })) } };
      });
    const ids = await Promise.all(
      Array.from({ length: 120 }, (_, i) => c.updateLead({ id: 1000 + i, responsible_user_id: 9 })),
    );
    expect(ids).toEqual(Array.from({ length: 120 }, (_, i) => 1000 + i));
    expect(sizes).toEqual([120]);
  });

  it('when a stage holds 50,010 leads (more than the 200 pages other lists stop at), then listLeads reads all 201 pages', async () => {
    const { client: c } = client({ rps: 100_000 });
    nock(BASE)
      .get('/api/v4/leads')
      .query(true)
      .times(201)
      .reply(200, (uri) => {
        const page = Number(new URL(uri, BASE).searchParams.get('page'));
        const n = page <= 200 ? 250 : 10;
        const leads = Array.from({ length: n }, (_, i) => lead((page - 1) * 250 + i + 1));
        return {
          _links: page <= 200 ? { next: { href: `${BASE}/api/v4/leads?page=${page + 1}` } } : {},
          _embedded: { leads },
        };
      });
    const leads = await c.listLeads({ 'filter[statuses][0][status_id]': 2 });
    expect(leads).toHaveLength(50_010);
    expect(leads.at(-1)?.id).toBe(200 * 250 + 10);
  });

  it('when a list is empty, then 204 is an empty result, not an error', async () => {
    const { client: c } = client();
    nock(BASE).get('/api/v4/leads').query(true).reply(204);
    nock(BASE).get('/api/v4/leads/99').reply(204);
    expect(await c.listLeads({ 'filter[responsible_user_id]': 1 })).toEqual([]);
    expect(await c.getLead(99)).toBeNull();
  });

  it('when events span pages, then the client follows _links.next and sends amoCRM filters', async () => {
    const { client: c } = client();
    const ev = (i: number) => ({
      id: `01H${i}`,
      type: 'outgoing_call',
      entity_id: 5,
      entity_type: 'lead',
      created_by: 9101,
      created_at: 1700000000 + i,
      value_after: [],
      value_before: [],
    });
    const seen: string[] = [];
    nock(BASE)
      .get(
        (uri) =>
          uri.startsWith('/api/v4/events') && uri.endsWith('page=1') && Boolean(seen.push(decodeURIComponent(uri))),
      )
      .reply(200, {
        _links: { next: { href: '...' } },
        _embedded: { events: Array.from({ length: 100 }, (_, i) => ev(i)) },
      });
    nock(BASE)
      .get((uri) => uri.startsWith('/api/v4/events') && uri.endsWith('page=2'))
      .reply(200, { _links: {}, _embedded: { events: [ev(100)] } });
    const events = await c.listEvents({
      types: ['outgoing_call', 'lead_status_changed'],
      entityType: 'lead',
      entityIds: [5, 6],
      createdFrom: 1700000000,
    });
    expect(events).toHaveLength(101);
    expect(seen[0]).toContain('filter[type]=outgoing_call,lead_status_changed');
    expect(seen[0]).toContain('filter[entity_id][]=5&filter[entity_id][]=6');
    expect(seen[0]).toContain('filter[created_at][from]=1700000000');
  });
  it('when leads are read with their contacts, then the query carries with=contacts and the ids, and the main contact comes back', async () => {
    const { client: c } = client();
    const seen: string[] = [];
    nock(BASE)
      .get((uri) => uri.startsWith('/api/v4/leads?') && Boolean(seen.push(decodeURIComponent(uri))))
      .reply(200, {
        _links: {},
        _embedded: {
          leads: [
            {
              ...lead(7),
              _embedded: {
                tags: [],
                contacts: [
                  { id: 41, is_main: false },
                  { id: 42, is_main: true },
                ],
              },
            },
          ],
        },
      });
    const leads = await c.getLeadsByIds([7, 8, 7], 'sla', { with: ['contacts'] });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('with=contacts');
    expect(seen[0]).toContain('filter[id][]=7&filter[id][]=8');
    expect(seen[0]).not.toContain('filter[id][]=7&filter[id][]=8&filter[id][]=7');
    expect(leads[0]?._embedded?.contacts).toEqual([
      { id: 41, is_main: false },
      { id: 42, is_main: true },
    ]);
  });

  it('when leads are read without options, then no with= is sent', async () => {
    const { client: c } = client();
    const seen: string[] = [];
    nock(BASE)
      .get((uri) => uri.startsWith('/api/v4/leads?') && Boolean(seen.push(decodeURIComponent(uri))))
      .reply(200, { _links: {}, _embedded: { leads: [lead(7)] } });
    await c.getLeadsByIds([7]);
    expect(seen[0]).not.toContain('with=');
  });

  it('when more than 250 contacts are asked for, then they go in requests of 250 ids, each with filter[id][], and owners come back', async () => {
    const { client: c } = client();
    const seen: string[] = [];
    const ids = Array.from({ length: 251 }, (_, i) => 1000 + i);
    nock(BASE)
      .get((uri) => uri.startsWith('/api/v4/contacts?') && Boolean(seen.push(decodeURIComponent(uri))))
      .times(2)
      .reply(200, (uri) => {
        const asked = [...decodeURIComponent(uri).matchAll(/filter\[id\]\[\]=(\d+)/g)].map((m) => Number(m[1]));
        return {
          _links: {},
          _embedded: {
            contacts: asked.map((id) => ({ id, name: `C${id}`, responsible_user_id: id === 1250 ? 9103 : 9101 })),
          },
        };
      });
    const contacts = await c.getContactsByIds([...ids, 1000], 'sla');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.match(/filter\[id\]\[\]=/g)).toHaveLength(250);
    expect(seen[0]).toContain('limit=250');
    expect(seen[1]).toContain('filter[id][]=1250');
    expect(seen[1]!.match(/filter\[id\]\[\]=/g)).toHaveLength(1);
    expect(contacts).toHaveLength(251);
    expect(contacts.find((x) => x.id === 1250)?.responsible_user_id).toBe(9103);
  });
});
