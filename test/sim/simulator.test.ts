import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expandFormBody } from '../../src/amocrm/form-body.js';
import { normalizeWebhook } from '../../src/amocrm/webhook-payload.js';
import { createSimulator, type Simulator } from '../../sim/server.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'sim-long-lived';
// Response bodies are checked field by field below; their full type is the simulator's business.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('amoCRM simulator', () => {
  let sim: Simulator;
  let receiver: Server;
  const bodies: Array<{ body: string; headers: Record<string, unknown> }> = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push({ body, headers: req.headers });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    sim = createSimulator({
      webhookUrls: [`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`],
      longLivedToken: TOKEN,
      oauth: { clientId: 'cid', clientSecret: 'csecret' },
      webhookBatchWindowMs: 20,
      rps: 1000,
    });
    await sim.listen();
  });

  afterAll(async () => {
    await sim.close();
    receiver.close();
  });

  const api = (path: string, init: RequestInit = {}, token = TOKEN) =>
    fetch(`${sim.baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  it('when the account, users and pipelines are read, then they match the seed', async () => {
    const account = (await (
      await api('/api/v4/account?with=users_groups,task_types,datetime_settings')
    ).json()) as Json;
    expect(account).toMatchObject({
      id: 31000001,
      subdomain: 'demo-realty',
      current_user_id: 9001,
      datetime_settings: { timezone: 'Europe/Moscow' },
    });
    expect(account._embedded.users_groups.map((g: { name: string }) => g.name)).toEqual([
      'Администрация',
      'Отдел продаж 1',
      'Отдел продаж 2',
    ]);
    const users = (await (await api('/api/v4/users?limit=250')).json()) as Json;
    expect(users._embedded.users).toHaveLength(12);
    expect(users._embedded.users.find((u: { id: number }) => u.id === 9901).rights.is_active).toBe(false);
    const pipelines = (await (await api('/api/v4/leads/pipelines')).json()) as Json;
    const statuses = pipelines._embedded.pipelines[0]._embedded.statuses.map((s: { name: string }) => s.name);
    expect(statuses[4]).toBe('Передан в работу');
    expect(statuses).toContain('Успешно реализовано');
  });

  it('when a list is empty, then 204; over 250 per page, then 400; without a token, then 401 problem+json', async () => {
    expect((await api('/api/v4/leads?filter[responsible_user_id]=1')).status).toBe(204);
    const tooMany = await api('/api/v4/leads?limit=251');
    expect(tooMany.status).toBe(400);
    const unauth = await api('/api/v4/account', {}, 'wrong');
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('content-type')).toContain('application/problem+json');
  });

  it('when OAuth refresh tokens are used, then each works once and a reused one is revoked', async () => {
    const token = (body: Record<string, string>) =>
      fetch(`${sim.baseUrl}/oauth2/access_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'cid', client_secret: 'csecret', redirect_uri: 'https://x', ...body }),
      });
    const first = (await (await token({ grant_type: 'authorization_code', code: sim.issueAuthCode() })).json()) as Json;
    expect(first).toMatchObject({ token_type: 'Bearer', expires_in: 86400 });
    expect((await api('/api/v4/account', {}, first.access_token)).status).toBe(200);
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(second.status).toBe(200);
    const reused = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    expect(reused.status).toBe(401);
    expect(((await reused.json()) as Json).hint).toBe('Token has been revoked');
  });

  it('when a stage is changed through the API, then amoCRM-format webhooks with update and status arrive', async () => {
    bodies.length = 0;
    const lead = sim.account.createLead({
      name: 'Иван Петров, 2-к квартира',
      statusId: sim.account.statusByName('Передан в работу').id,
      by: 9001,
    });
    await sim.webhooks.flush();
    const res = await api('/api/v4/leads', {
      method: 'PATCH',
      body: JSON.stringify([{ id: lead.id, status_id: sim.account.statusByName('Не дозвонились').id }]),
    });
    expect(res.status).toBe(200);
    await sim.webhooks.flush();
    const hook = bodies.at(-1)!;
    expect(hook.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(hook.headers['user-agent']).toBe('amoCRM-Webhooks/3.0');
    expect(hook.body).toContain('leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=7100005');
    expect(hook.body).toContain('leads%5Bupdate%5D%5B0%5D%5Bid%5D=');
    expect(hook.body).toMatch(/%5Bname%5D=%D0%98%D0%B2%D0%B0%D0%BD\+/);
    const parsed = normalizeWebhook(expandFormBody(hook.body), {
      deliveryId: 'x',
      receivedAt: new Date().toISOString(),
    });
    expect(parsed.rejected).toEqual([]);
    expect(parsed.events.map((e) => e.kind === 'lead' && e.action)).toEqual(['update', 'status']);
    expect(new Set(parsed.events.map((e) => e.dedupeKey)).size).toBe(1);
  });

  it('when two leads change together, then one body carries both indices', async () => {
    bodies.length = 0;
    const stage = sim.account.statusByName('Передан в работу').id;
    sim.account.createLead({ name: 'A', statusId: stage, by: 9001 });
    sim.account.createLead({ name: 'B', statusId: stage, by: 9001 });
    await sim.webhooks.flush();
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.body).toContain('leads%5Badd%5D%5B1%5D%5Bid%5D');
  });

  it('when more than 7 requests come in one second, then 429s are answered and counted', async () => {
    const strict = createSimulator({ longLivedToken: TOKEN });
    const url = await strict.listen();
    try {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${url}/api/v4/account`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status),
        ),
      );
      expect(statuses.filter((s) => s === 429)).toHaveLength(3);
      expect(strict.stats().rateLimitViolations).toBe(3);
    } finally {
      await strict.close();
    }
  });

  it('when events are filtered by type and lead, then only those come back, newest first', async () => {
    const lead = sim.account.createLead({
      name: 'C',
      statusId: sim.account.statusByName('Передан в работу').id,
      by: 9001,
    });
    sim.account.addNote({
      leadId: lead.id,
      noteType: 'call_out',
      params: { duration: 65, phone: '+79990000000', uniq: 'u1' },
      by: 9101,
    });
    sim.account.updateLead(lead.id, { statusId: sim.account.statusByName('Потребности выявлены').id }, 9101);
    const res = (await (
      await api(
        `/api/v4/events?filter[type]=outgoing_call,lead_status_changed&filter[entity]=lead&filter[entity_id][]=${lead.id}`,
      )
    ).json()) as Json;
    expect(res._embedded.events.map((e: { type: string }) => e.type)).toEqual(['lead_status_changed', 'outgoing_call']);
    await waitFor(() => bodies.some((b) => b.body.includes('leads%5Bnote%5D')), 'note webhook');
  });
});
