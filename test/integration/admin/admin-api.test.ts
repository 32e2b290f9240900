import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify from 'fastify';
import { encodeWebhookBody } from '../../../sim/webhooks.js';
import { adminTokenProblem } from '../../../src/admin/auth.js';
import { planAdmin } from '../../../src/http/admin-server.js';
import { createLogger } from '../../../src/lib/logger.js';
import { seedDirectory } from '../../../sim/directory.js';
import { ADMIN_TOKEN, bearer, NOW, signIn, startAdminHarness, type AdminHarness } from '../../helpers/admin.js';

const withTimeout = (text: string, timeout: string): string => text.replace('timeout: PT15S', `timeout: ${timeout}`);

describe('admin API (app.inject)', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdminHarness({ signInPerMinute: 100 });
  });
  afterAll(async () => {
    await h.close();
  });

  describe('refusals', () => {
    it('when no token or session is sent, then 401', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/config' });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    });

    it('when the bearer token is wrong, then 401 and the token is not echoed', async () => {
      const res = await h.app.inject({
        method: 'GET',
        url: '/admin/api/config',
        headers: { authorization: 'Bearer wrong-token-wrong-token-wrong-token' },
      });
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain('wrong-token');
    });

    it('when the right bearer is sent, then 200 (control)', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/config', headers: bearer });
      expect(res.statusCode).toBe(200);
    });

    it('when a session writes without the CSRF header, then 403; with it, the same request passes', async () => {
      const { cookie, csrf } = await signIn(h.app);
      const payload = { text: h.demoText };
      const without = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: { cookie },
        payload,
      });
      expect(without.statusCode).toBe(403);
      expect(without.json()).toMatchObject({ error: { code: 'csrf' } });
      const wrong = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: { cookie, 'x-csrf-token': 'nope' },
        payload,
      });
      expect(wrong.statusCode).toBe(403);
      const ok = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: { cookie, 'x-csrf-token': csrf },
        payload,
      });
      expect(ok.statusCode).toBe(200);
    });

    it('when the sign-in token is wrong, then 401 and no cookie', async () => {
      const res = await h.app.inject({ method: 'POST', url: '/admin/api/session', payload: { token: 'x'.repeat(40) } });
      expect(res.statusCode).toBe(401);
      expect(res.cookies).toHaveLength(0);
    });

    it('when the token is missing or weak, then the admin area is off and the rest of the app still answers', async () => {
      expect(adminTokenProblem(undefined)).toBe('ADMIN_TOKEN is not set');
      expect(adminTokenProblem('short')).toMatch(/too short/);
      expect(adminTokenProblem('a'.repeat(40))).toMatch(/too simple/);
      expect(adminTokenProblem(ADMIN_TOKEN)).toBeUndefined();
      const env = {
        ADMIN_ENABLED: true,
        ADMIN_HOST: '127.0.0.1',
        ADMIN_SESSION_MINUTES: 30,
        ADMIN_TOKEN: undefined,
        ADMIN_PORT: undefined,
      };
      const logger = createLogger({ level: 'silent' });
      const deps = () => {
        throw new Error('deps must not be built when the admin area is off');
      };
      expect(planAdmin({ ...env, ADMIN_TOKEN: 'a'.repeat(40) }, logger, deps)).toEqual({
        kind: 'off',
        reason: expect.stringMatching(/too simple/),
      });
      expect(planAdmin({ ...env }, logger, deps).kind).toBe('off');
      expect(planAdmin({ ...env, ADMIN_ENABLED: false, ADMIN_TOKEN }, logger, deps)).toEqual({
        kind: 'off',
        reason: 'ADMIN_ENABLED=false',
      });
      // The service's app without the admin plugin: health answers, /admin does not exist.
      const app = Fastify();
      app.get('/health/live', async () => ({ status: 'ok' }));
      const plan = planAdmin({ ...env, ADMIN_TOKEN: 'weak' }, logger, deps);
      if (plan.kind === 'routes') plan.plugin(app);
      expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
      expect((await app.inject({ url: '/admin/api/config' })).statusCode).toBe(404);
      await app.close();
    });
  });

  describe('session', () => {
    it('when signed in, then the cookie is HttpOnly, SameSite=Strict, scoped to /admin and short-lived, and the page reads its CSRF token back', async () => {
      const res = await h.app.inject({ method: 'POST', url: '/admin/api/session', payload: { token: ADMIN_TOKEN } });
      expect(res.statusCode).toBe(200);
      const cookie = res.cookies.find((c) => c.name === 'amo_admin');
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin', maxAge: 1800 });
      expect(res.body).not.toContain(ADMIN_TOKEN);
      const csrf = (res.json() as { csrfToken: string }).csrfToken;
      const back = await h.app.inject({
        method: 'GET',
        url: '/admin/api/session',
        headers: { cookie: `amo_admin=${cookie!.value}` },
      });
      expect(back.json()).toEqual({ kind: 'session', csrfToken: csrf });
      const out = await h.app.inject({
        method: 'DELETE',
        url: '/admin/api/session',
        headers: { cookie: `amo_admin=${cookie!.value}`, 'x-csrf-token': csrf },
      });
      expect(out.statusCode).toBe(200);
      const after = await h.app.inject({
        method: 'GET',
        url: '/admin/api/session',
        headers: { cookie: `amo_admin=${cookie!.value}` },
      });
      expect(after.statusCode).toBe(401);
    });
  });

  describe('config and versions', () => {
    it('when the config is read, then it is version 1 from the file, with the source rule and no warnings', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/config', headers: bearer });
      const body = res.json() as Record<string, unknown>;
      expect(body).toMatchObject({
        version: 1,
        origin: 'file',
        author: 'file',
        warnings: [],
        rejection: null,
        source: { fileMatchesRunning: true },
      });
      expect((body.source as { rule: string }).rule).toContain('Действует последнее изменение');
      expect((body.config as { rules: { pickup: { timeout: string } } }).rules.pickup.timeout).toBe('PT15S');
    });

    it('when the JSON Schema is asked for, then it describes the rules file', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/config/schema', headers: bearer });
      expect(Object.keys((res.json() as { properties: object }).properties)).toEqual(
        expect.arrayContaining(['departments', 'rules']),
      );
    });

    it('when a draft has several mistakes, then validate names every one by path', async () => {
      const text = withTimeout(h.demoText, '"15 minutes"').replace('maxMisses: 3', 'maxMisses: 0');
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: bearer,
        payload: { text },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { ok: boolean; errors: Array<{ path: string }> };
      expect(body.ok).toBe(false);
      expect(body.errors.map((e) => e.path).sort()).toEqual(['rules.pickup.maxMisses', 'rules.pickup.timeout']);
    });

    it('when a draft names a stage that does not exist, then it is valid with a warning saying what is disabled', async () => {
      const text = h.demoText.replace('stage: Передан в работу', 'stage: Передано в работу');
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: bearer,
        payload: { text },
      });
      expect(res.json()).toMatchObject({
        ok: true,
        errors: [],
        warnings: [{ path: 'rules.pickup.stage', disabled: 'rule pickup (R1)' }],
      });
    });

    it('when a draft comes as JSON (the form), then it is validated like YAML', async () => {
      const config = structuredClone(h.source.snapshot().config) as unknown as {
        rules: { pickup: { timeout: string } };
      };
      config.rules.pickup.timeout = 'abc';
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/validate',
        headers: bearer,
        payload: { config },
      });
      expect((res.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual([
        'rules.pickup.timeout',
      ]);
    });

    it('when an invalid draft is applied, then 422 with the paths and the running config stays', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/apply',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'soon'), comment: 'x' },
      });
      expect(res.statusCode).toBe(422);
      expect((res.json() as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual([
        'rules.pickup.timeout',
      ]);
      expect(h.source.rules().pickup.timeoutMs).toBe(15_000);
      expect(await h.source.versions.current()).toBe(1);
    });

    it('when a valid draft is applied, then it is version 2, running at once, with author, comment and diff', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/apply',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'PT30S'), comment: 'slower pickup', baseVersion: 1 },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ version: 2 });
      expect(h.source.rules().pickup.timeoutMs).toBe(30_000);
      const v = await h.app.inject({ method: 'GET', url: '/admin/api/versions/2', headers: bearer });
      const doc = v.json() as { author: string; comment: string; origin: string; diff: string };
      expect(doc).toMatchObject({ author: 'token', comment: 'slower pickup', origin: 'api' });
      expect(doc.diff).toContain('-    timeout: PT15S');
      expect(doc.diff).toContain('+    timeout: PT30S');
    });

    it('when the running text is applied again, then nothing is stored: the same version, marked unchanged', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/apply',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'PT30S'), comment: 'same again', baseVersion: 2 },
      });
      expect(res.json()).toEqual({ version: 2, unchanged: true });
      expect(await h.source.versions.current()).toBe(2);
    });

    it('when a draft was edited from an older version, then apply refuses with 409', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/apply',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'PT40S'), baseVersion: 1 },
      });
      expect(res.statusCode).toBe(409);
      expect(h.source.rules().pickup.timeoutMs).toBe(30_000);
    });

    it('when versions are listed and diffed, then newest first and the diff between two', async () => {
      const list = (await h.app.inject({ method: 'GET', url: '/admin/api/versions', headers: bearer })).json() as {
        current: number;
        versions: Array<{ version: number; origin: string }>;
      };
      expect(list.current).toBe(2);
      expect(list.versions.map((v) => [v.version, v.origin])).toEqual([
        [2, 'api'],
        [1, 'file'],
      ]);
      const diff = (
        await h.app.inject({ method: 'GET', url: '/admin/api/versions/2/diff/1', headers: bearer })
      ).json() as { diff: string };
      expect(diff.diff).toContain('-    timeout: PT30S');
      expect(
        (await h.app.inject({ method: 'GET', url: '/admin/api/versions/9/diff/1', headers: bearer })).statusCode,
      ).toBe(404);
      expect((await h.app.inject({ method: 'GET', url: '/admin/api/versions/9', headers: bearer })).statusCode).toBe(
        404,
      );
    });

    it('when rolled back to a missing version, then 404 and nothing changes', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/versions/99/rollback',
        headers: bearer,
        payload: {},
      });
      expect(res.statusCode).toBe(404);
      expect(await h.source.versions.current()).toBe(2);
    });

    it('when rolled back to version 1, then version 3 runs the old timeout and records what it rolled back to', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/versions/1/rollback',
        headers: bearer,
        payload: { comment: 'back' },
      });
      expect(res.json()).toEqual({ version: 3 });
      expect(h.source.rules().pickup.timeoutMs).toBe(15_000);
      const v = (await h.app.inject({ method: 'GET', url: '/admin/api/versions/3', headers: bearer })).json() as {
        origin: string;
        rollbackOf: number;
      };
      expect(v).toMatchObject({ origin: 'rollback', rollbackOf: 1 });
    });

    it('when writes were made, then the audit log has each with its actor and outcome, newest first, and no secret', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer });
      const entries = (res.json() as { entries: Array<{ action: string; outcome: string; actor: string }> }).entries;
      expect(entries.slice(0, 4).map((e) => [e.action, e.outcome])).toEqual([
        ['rollback', 'ok'],
        ['rollback', 'refused'],
        ['apply', 'refused'],
        ['apply', 'unchanged'],
      ]);
      expect(entries.some((e) => e.action === 'sign_in' && e.outcome === 'refused')).toBe(true);
      expect(res.body).not.toContain(ADMIN_TOKEN);
    });
  });

  describe('records, dry run, names, exports', () => {
    const lead = (over: Partial<Record<string, unknown>> = {}) => ({
      id: 1000,
      name: 'Заявка',
      price: 0,
      statusId: 7100005,
      pipelineId: 7000001,
      responsibleUserId: 0,
      createdBy: 0,
      updatedBy: 0,
      createdAt: 0,
      updatedAt: 0,
      tags: [],
      isDeleted: false,
      ...over,
    });
    const keep = async (body: string, receivedAt: string): Promise<void> => {
      const deliveryId = createHash('sha256').update(body).digest('hex');
      await h.inbox.saveRaw({ deliveryId, receivedAt, contentType: 'form', body });
    };

    beforeAll(async () => {
      const t0 = Date.parse(NOW) - 2 * 24 * 3600_000; // two days before "now"
      const sec = (s: number): number => Math.floor(t0 / 1000) + s;
      await keep(
        encodeWebhookBody([
          { kind: 'lead', action: 'add', lead: lead({ createdAt: sec(0), updatedAt: sec(0) }) as never },
        ]),
        new Date(t0).toISOString(),
      );
      await keep(
        encodeWebhookBody([
          {
            kind: 'note',
            note: {
              id: 1,
              entityId: 1000,
              noteType: 'common',
              params: { text: 'Позвонила' },
              createdBy: 9101,
              createdAt: sec(20),
            },
          },
        ]),
        new Date(t0 + 20_000).toISOString(),
      );
      // Older than the window: must not be replayed.
      await keep(
        encodeWebhookBody([
          { kind: 'lead', action: 'add', lead: lead({ id: 2000, createdAt: sec(-9 * 86400) }) as never },
        ]),
        new Date(t0 - 9 * 24 * 3600_000).toISOString(),
      );
      // In time order, as the service writes them (the stream's ids are the record's instants).
      await h.records.append(
        {
          kind: 'assignment',
          at: new Date(t0).toISOString(),
          leadId: 1000,
          userId: 9101,
          rule: 'R2',
          reason: 'new_lead',
          explanation: { winner: 9101 },
        },
        'a1',
      );
      await h.records.append(
        {
          kind: 'violation',
          type: 'pickup_missed',
          at: new Date(t0 + 15_000).toISOString(),
          leadId: 1000,
          userId: 9101,
          rule: 'R1',
          reason: 'missed, "quoted"',
        },
        'v1',
      );
    });

    it('when a draft with a longer timeout is dry-run over 7 days, then per manager the violations and reassignments it would avoid', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/dry-run',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'PT60S'), days: 7 },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as {
        deliveries: number;
        events: number;
        managers: Array<{
          userId: number;
          current: Record<string, number>;
          draft: Record<string, number>;
          recorded: Record<string, number>;
        }>;
      };
      expect(body.deliveries).toBe(2);
      // Hand-computed as in the unit test: 15 s → Анна (9101) misses, Борис (9102) gets the lead; 60 s → Анна keeps it.
      const anna = body.managers.find((m) => m.userId === 9101);
      const boris = body.managers.find((m) => m.userId === 9102);
      expect(anna).toMatchObject({
        current: { assigned: 1, violations: 1, reassignedAway: 1 },
        draft: { assigned: 1, violations: 0, reassignedAway: 0 },
        recorded: { assigned: 1, violations: 1 },
      });
      expect(boris).toMatchObject({ current: { assigned: 1 }, draft: { assigned: 0 } });
    });

    it('when an invalid draft is dry-run, then 422 with its paths', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/dry-run',
        headers: bearer,
        payload: { text: withTimeout(h.demoText, 'x'), days: 7 },
      });
      expect(res.statusCode).toBe(422);
    });

    it('when violations, assignments and a lead history are read, then they come from the record', async () => {
      const v = (await h.app.inject({ method: 'GET', url: '/admin/api/violations', headers: bearer })).json() as {
        violations: Array<{ leadId: number; type: string }>;
      };
      expect(v.violations.map((x) => [x.leadId, x.type])).toEqual([[1000, 'pickup_missed']]);
      const a = (await h.app.inject({ method: 'GET', url: '/admin/api/assignments', headers: bearer })).json() as {
        assignments: Array<{ userId: number; explanation: unknown }>;
      };
      expect(a.assignments).toEqual([expect.objectContaining({ userId: 9101, explanation: { winner: 9101 } })]);
      const l = (
        await h.app.inject({ method: 'GET', url: '/admin/api/leads/1000/history', headers: bearer })
      ).json() as { records: Array<{ kind: string }> };
      expect(l.records.map((r) => r.kind)).toEqual(['assignment', 'violation']);
    });

    it('when violations are exported for a range, then a CSV with a header row and quoted fields', async () => {
      const res = await h.app.inject({
        method: 'GET',
        url: `/admin/api/export/violations.csv?from=${encodeURIComponent('2026-11-01T00:00:00Z')}&to=${encodeURIComponent(NOW)}`,
        headers: bearer,
      });
      expect(res.headers['content-type']).toContain('text/csv');
      const lines = res.body.trim().split('\n');
      expect(lines[0]).toBe(
        'at,type,leadId,userId,userName,department,rule,violationId,reason,state,disputedBy,disputeReason,decidedBy,decidedAt',
      );
      // A violation without a ledger entry (recorded before the ledger existed) reads as open.
      expect(lines[1]).toContain(',pickup_missed,1000,9101,Анна Смирнова,,R1,,"missed, ""quoted""",open');
      const empty = await h.app.inject({
        method: 'GET',
        url: `/admin/api/export/violations.csv?from=${encodeURIComponent('2026-01-01T00:00:00Z')}&to=${encodeURIComponent('2026-02-01T00:00:00Z')}`,
        headers: bearer,
      });
      expect(empty.body.trim().split('\n')).toHaveLength(1);
      const assignments = await h.app.inject({
        method: 'GET',
        url: '/admin/api/export/assignments.csv',
        headers: bearer,
      });
      expect(assignments.body).toContain('{""winner"":9101}');
    });

    it('when dead letters and names are asked for, then the list and the account names for the editor', async () => {
      await h.inbox.deadLetter([{ at: NOW, deliveryId: 'd', path: 'leads.add[0]', reason: 'id is missing', item: {} }]);
      const d = (await h.app.inject({ method: 'GET', url: '/admin/api/dead-letters', headers: bearer })).json() as {
        deadLetters: Array<{ reason: string }>;
      };
      expect(d.deadLetters.map((x) => x.reason)).toEqual(['id is missing']);
      const names = (await h.app.inject({ method: 'GET', url: '/admin/api/directory', headers: bearer })).json() as {
        users: Array<{ name: string }>;
        pipelines: Array<{ stages: Array<{ name: string }> }>;
      };
      expect(names.users.map((u) => u.name)).toContain('Анна Смирнова');
      expect(names.pipelines[0]!.stages.map((s) => s.name)).toContain('Передан в работу');
    });
  });

  describe('document, page, headers', () => {
    it('when the OpenAPI document is read, then it lists the routes with the zod-generated body schemas', async () => {
      const doc = (await h.app.inject({ method: 'GET', url: '/admin/api/openapi.json', headers: bearer })).json() as {
        openapi: string;
        paths: Record<string, Record<string, { requestBody?: unknown }>>;
      };
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/admin/api/config/apply',
          '/admin/api/versions/{version}/rollback',
          '/admin/api/dry-run',
          '/admin/api/export/violations.csv',
        ]),
      );
      expect(JSON.stringify(doc.paths['/admin/api/session']!.post!.requestBody)).toContain('"token"');
    });

    it('when the page is loaded, then it is served with a strict CSP and no inline code, assets local', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/admin/' });
      expect(res.statusCode).toBe(200);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.body).not.toMatch(/<script>(?!<\/script>)|https?:\/\//);
      const js = await h.app.inject({ method: 'GET', url: '/admin/assets/admin.js' });
      expect(js.statusCode).toBe(200);
    });

    it('when the queue view is opened without a session, then 401; with one, bull-board answers', async () => {
      expect((await h.app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(401);
      const { cookie } = await signIn(h.app);
      const res = await h.app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('__UI_CONFIG__');
    });
  });
});

describe('admin area in a web-only process', () => {
  it('when the running config names a stage amoCRM no longer has, then the page still gets the warning (resolved by the admin area)', async () => {
    const h = await startAdminHarness({
      webOnly: true,
      rulesText: (t) => t.replace('stage: Передан в работу', 'stage: Передано в работу'),
    });
    try {
      expect(h.source.snapshot().rules).toBeUndefined();
      const body = (await h.app.inject({ method: 'GET', url: '/admin/api/config', headers: bearer })).json() as {
        warnings: Array<{ path: string }>;
      };
      expect(body.warnings.map((w) => w.path)).toEqual(['rules.pickup.stage']);
    } finally {
      await h.close();
    }
  });
});

describe('admin area on its own port (ADMIN_PORT)', () => {
  it('when ADMIN_PORT is set, then the admin API answers there with the bearer, and refuses without it', async () => {
    const h = await startAdminHarness();
    try {
      const plan = planAdmin(
        { ADMIN_ENABLED: true, ADMIN_TOKEN, ADMIN_PORT: 0, ADMIN_HOST: '127.0.0.1', ADMIN_SESSION_MINUTES: 30 },
        createLogger({ level: 'silent' }),
        () => ({
          source: h.source,
          redis: h.redis,
          keys: h.keys,
          inbox: h.inbox,
          records: h.records,
          directory: async () => seedDirectory(),
          clock: h.clock,
        }),
      );
      if (plan.kind !== 'own_port') throw new Error(`expected its own port, got ${plan.kind}`);
      const server = await plan.start();
      try {
        const ok = await fetch(`${server.url}/admin/api/config`, { headers: bearer });
        expect(ok.status).toBe(200);
        expect(((await ok.json()) as { version: number }).version).toBe(1);
        expect((await fetch(`${server.url}/admin/api/config`)).status).toBe(401);
      } finally {
        await server.close();
      }
    } finally {
      await h.close();
    }
  });
});

describe('sign-in rate limit', () => {
  it('when sign-in is tried too often, then 429', async () => {
    const h = await startAdminHarness({ signInPerMinute: 3 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push(
          (await h.app.inject({ method: 'POST', url: '/admin/api/session', payload: { token: 'x'.repeat(40) } }))
            .statusCode,
        );
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await h.close();
    }
  });
});
