/**
 * What a hostile or careless request gets from the admin API: a Russian explanation and a 4xx, never a file read
 * from a path in a draft, a 500 or a stack overflow; who is asking is checked before the body is looked at; the
 * queue view's writes need this service's own page.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { ADMIN_TOKEN, bearer, signIn, startAdminHarness, type AdminHarness } from '../../helpers/admin.js';
import { connectTestRedis, uniquePrefix } from '../../helpers/redis.js';
import { createKeys } from '../../../src/store/keys.js';

describe('admin API: safe inputs', () => {
  let h: AdminHarness;
  const redis = connectTestRedis();
  const queue = new Queue('events', { connection: redis, prefix: createKeys(uniquePrefix('safe')).bullPrefix });

  beforeAll(async () => {
    h = await startAdminHarness({ signInPerMinute: 100, queues: [queue] });
  });
  afterAll(async () => {
    await h.close();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  const validate = (payload: unknown, headers: Record<string, string> = bearer) =>
    h.app.inject({ method: 'POST', url: '/admin/api/config/validate', headers, payload: payload as object });

  it('when a draft names a file elsewhere as its calendar, then it is refused by name and nothing of the file comes back', async () => {
    for (const calendar of [
      '/etc/passwd',
      '../../../../etc/passwd',
      'calendars/../../secrets.yaml',
      '/proc/self/environ',
    ]) {
      const text = h.demoText.replace(/^calendar: .*$/m, `calendar: ${calendar}`);
      const res = await validate({ text });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { ok: boolean; errors: Array<{ path: string; message: string }> };
      expect(body.ok).toBe(false);
      expect(body.errors).toEqual([{ path: 'calendar', message: expect.stringContaining('calendars/') }]);
      expect(res.body).not.toContain('root:');
      expect(res.body).not.toContain('ENOENT');
    }
    // A name that is not there: the calendars that are, never whether some other file exists.
    const missing = await validate({ text: h.demoText.replace(/^calendar: .*$/m, 'calendar: calendars/nope.yaml') });
    expect(missing.json()).toMatchObject({
      ok: false,
      errors: [{ path: 'calendar', message: expect.stringContaining('ru-2025-2027.yaml') }],
    });
  });

  it('when a draft is a YAML alias bomb, then validate, apply and the dry run refuse it with 4xx, not 500', async () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    ].join('\n');
    const v = await validate({ text: bomb });
    expect(v.statusCode).toBe(200);
    expect(v.json()).toMatchObject({
      ok: false,
      errors: [{ path: 'rules', message: expect.stringContaining('alias') }],
    });
    const apply = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/apply',
      headers: bearer,
      payload: { text: bomb, comment: 'bomb' },
    });
    expect(apply.statusCode).toBe(422);
    const dry = await h.app.inject({
      method: 'POST',
      url: '/admin/api/dry-run',
      headers: bearer,
      payload: { text: bomb },
    });
    expect(dry.statusCode).toBe(422);
  });

  it('when a draft nests 20,000 levels deep, as JSON or as YAML, then 400 or a validation error in Russian, never a stack overflow', async () => {
    const nested = `${'{"x":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const json = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/validate',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: `{"config":{"departments":${nested}}}`,
    });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ error: { code: 'too_deep', message: expect.stringContaining('глубже') } });
    const yaml = await validate({ text: `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}` });
    expect(yaml.statusCode).toBe(200);
    expect(yaml.json()).toMatchObject({ ok: false, errors: [{ path: expect.stringMatching(/^rules/) }] });
  });

  it('when a body is too large or not JSON, then 413 / 400 with a Russian explanation', async () => {
    const big = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/validate',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: JSON.stringify({ text: 'x'.repeat(1_100_000) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: { code: 'too_large', message: expect.stringContaining('1 МБ') } });
    const broken = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/validate',
      headers: { ...bearer, 'content-type': 'application/json' },
      payload: '{"text": ',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ error: { code: 'bad_body', message: 'Тело запроса не читается как JSON.' } });
  });

  it('when an anonymous caller sends a malformed body, then 401 before any validation detail', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/apply',
      payload: { text: 42, config: 'x', comment: { nested: true } },
    });
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toMatch(/text|config|comment|expected/i);
    const deep = await h.app.inject({
      method: 'POST',
      url: '/admin/api/config/validate',
      payload: '{"a":'.repeat(100),
    });
    expect(deep.statusCode).toBe(401);
  });

  it('when the OpenAPI document is asked for without the admin token, then 401', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/admin/api/openapi.json' })).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'GET', url: '/admin/api/openapi.json', headers: bearer })).statusCode).toBe(
      200,
    );
  });

  it('when a page elsewhere makes the admin’s browser pause a queue, then 403, recorded; from the service’s own page it works', async () => {
    const { cookie } = await signIn(h.app);
    const url = `/admin/queues/api/queues/${queue.name}/pause`;
    const foreign = await h.app.inject({
      method: 'PUT',
      url,
      headers: { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json()).toMatchObject({ error: { code: 'csrf' } });
    expect(await queue.isPaused()).toBe(false);
    const noOrigin = await h.app.inject({ method: 'PUT', url, headers: { cookie } });
    expect(noOrigin.statusCode).toBe(403);
    const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
      entries: Array<{ action: string; outcome: string }>;
    };
    expect(audit.entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: `queues PUT ${url}`, outcome: 'refused' })]),
    );
    const own = await h.app.inject({
      method: 'PUT',
      url,
      headers: { cookie, host: 'admin.agency.test', origin: 'https://admin.agency.test' },
    });
    expect(own.statusCode).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    // The token as a bearer (scripts) needs no origin.
    const resume = await h.app.inject({
      method: 'PUT',
      url: `/admin/queues/api/queues/${queue.name}/resume`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(resume.statusCode).toBe(200);
    expect(await queue.isPaused()).toBe(false);
  });

  it('when the queue view is opened from the page, then its base href is allowed and no font is fetched from a CDN', async () => {
    const { cookie } = await signIn(h.app);
    const res = await h.app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toContain("base-uri 'self'");
    expect(res.body).toContain('<base href="/admin/queues/');
    expect(res.body).not.toContain('fonts.googleapis.com');
  });
});
