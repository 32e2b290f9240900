import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSimulator, type Simulator } from '../../sim/server.js';

const TOKEN = 'sim-faults-token';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('simulator fault controls', () => {
  let sim: Simulator;
  let clock = Date.parse('2026-03-02T10:00:00Z');
  const killed: Array<{ pid: number; signal: string }> = [];

  beforeAll(async () => {
    sim = createSimulator({
      longLivedToken: TOKEN,
      oauth: { clientId: 'cid', clientSecret: 'csecret' },
      rps: 10_000,
      now: () => clock,
      kill: (pid, signal) => killed.push({ pid, signal }),
    });
    await sim.listen();
  });

  afterAll(async () => {
    await sim.close();
  });

  const api = (path: string, init: RequestInit = {}, token = TOKEN) =>
    fetch(`${sim.baseUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
  const control = (path: string, body?: unknown, method = 'POST') =>
    fetch(`${sim.baseUrl}/__sim${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
  const stage = (name: string) => sim.account.statusByName(name).id;
  const newLead = () => sim.account.createLead({ name: 'Заявка', statusId: stage('Передан в работу'), by: 0 });

  it('when a lead is poisoned, then every PATCH carrying it gets 400 naming its item, and a PATCH without it is applied', async () => {
    const poison = newLead();
    const healthy = newLead();
    const rule = (await (
      await control('/faults/rules', {
        method: 'PATCH',
        path: '/api/v4/leads',
        leadIds: [poison.id],
        action: { kind: 'status', status: 400 },
      })
    ).json()) as Json;
    const batch = await api('/api/v4/leads', {
      method: 'PATCH',
      body: JSON.stringify([
        { id: healthy.id, responsible_user_id: 9101 },
        { id: poison.id, responsible_user_id: 9102 },
      ]),
    });
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as Json)['validation-errors']).toEqual([expect.objectContaining({ request_id: '1' })]);
    expect(sim.account.leads.get(healthy.id)!.responsibleUserId).toBe(9001); // the whole batch was refused
    const single = await api(`/api/v4/leads/${poison.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ responsible_user_id: 9102 }),
    });
    expect(single.status).toBe(400);
    const alone = await api('/api/v4/leads', {
      method: 'PATCH',
      body: JSON.stringify([{ id: healthy.id, responsible_user_id: 9101 }]),
    });
    expect(alone.status).toBe(200);
    expect(sim.account.leads.get(healthy.id)!.responsibleUserId).toBe(9101);
    // Reads of the poisoned lead are not affected: the rule is for PATCH only.
    expect((await api(`/api/v4/leads/${poison.id}`)).status).toBe(200);
    await control(`/faults/rules/${rule.id as string}`, undefined, 'DELETE');
    expect(
      (
        await api(`/api/v4/leads/${poison.id}`, {
          method: 'PATCH',
          body: JSON.stringify({ responsible_user_id: 9102 }),
        })
      ).status,
    ).toBe(200);
  });

  it('when a rule has a count, then it fires that many times; 429 carries retry_after; a dropped socket is a network error', async () => {
    await control('/faults/rules', {
      path: '/api/v4/account',
      action: { kind: 'status', status: 429, retryAfterSec: 3 },
      times: 2,
    });
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await api('/api/v4/account');
      answers.push({ status: res.status, body: (await res.json()) as Json });
    }
    expect(answers.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(answers[0]!.body.retry_after).toBe(3);

    await control('/faults/rules', { path: '/oauth2/access_token', action: { kind: 'drop' }, times: 1 });
    await expect(
      fetch(`${sim.baseUrl}/oauth2/access_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
    ).rejects.toThrow();
    expect(sim.faults.state().injected['rule:drop']).toBe(1);
  });

  it('when a probability is set, then about that share of calls fail, the same way for the same seed', async () => {
    const id = sim.faults.addRule({ path: '/api/v4/users', probability: 0.3, action: { kind: 'status', status: 503 } });
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await api('/api/v4/users')).status);
    sim.faults.removeRule(id);
    const failed = statuses.filter((s) => s === 503).length;
    expect(failed).toBeGreaterThan(35); // 60 expected; a fair coin would give 40..80 almost always
    expect(failed).toBeLessThan(85);
    expect(statuses.filter((s) => s !== 503 && s !== 200)).toEqual([]);
  });

  it('when an outage is on, then every API and OAuth call fails until it ends, and the control API still answers', async () => {
    const start = await control('/faults/outage', { seconds: 180 });
    expect(start.status).toBe(200);
    expect((await api('/api/v4/account')).status).toBe(503);
    expect((await fetch(`${sim.baseUrl}/oauth2/access_token`, { method: 'POST' })).status).toBe(503);
    expect((await control('/faults', undefined, 'GET')).status).toBe(200);
    clock += 179_000;
    expect((await api('/api/v4/account')).status).toBe(503);
    clock += 1_000;
    expect((await api('/api/v4/account')).status).toBe(200);
    expect(sim.faults.state().injected['outage:503']).toBe(3);
  });

  it('when tokens are expired, then an issued OAuth access token gets 401 and a refresh gives a working one', async () => {
    const token = (body: Record<string, string>) =>
      fetch(`${sim.baseUrl}/oauth2/access_token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'cid', client_secret: 'csecret', ...body }),
      }).then((r) => r.json() as Promise<Json>);
    const pair = await token({ grant_type: 'authorization_code', code: sim.issueAuthCode() });
    expect((await api('/api/v4/account', {}, pair.access_token)).status).toBe(200);
    await control('/faults/expire-tokens');
    expect((await api('/api/v4/account', {}, pair.access_token)).status).toBe(401);
    const next = await token({ grant_type: 'refresh_token', refresh_token: pair.refresh_token });
    expect((await api('/api/v4/account', {}, next.access_token)).status).toBe(200);
  });

  it('when added latency is set, then answers come that much later', async () => {
    await control('/faults/latency', { ms: 300 });
    const t0 = performance.now();
    await api('/api/v4/account');
    const waited = performance.now() - t0;
    await control('/faults/latency', { ms: 0 });
    expect(waited).toBeGreaterThanOrEqual(290); // a lower bound only: the delay is the simulator's own sleep
  });

  it('when a kill hook matches a responsible PATCH, then the write is applied, audited, and the sender pid is killed before the answer', async () => {
    const lead = newLead();
    const other = newLead();
    await control('/faults/kill-hooks', { method: 'PATCH', leadIds: [lead.id], field: 'responsible_user_id' });
    // A status-only write of the lead and a write of another lead do not fire it.
    await api('/api/v4/leads', {
      method: 'PATCH',
      headers: { 'x-chaos-pid': '4242' },
      body: JSON.stringify([
        { id: lead.id, status_id: stage('Передан в работу') },
        { id: other.id, responsible_user_id: 9103 },
      ]),
    });
    expect(killed).toEqual([]);
    const res = await api('/api/v4/leads', {
      method: 'PATCH',
      headers: { 'x-chaos-pid': '4242' },
      body: JSON.stringify([{ id: lead.id, responsible_user_id: 9104 }]),
    });
    expect(res.status).toBe(200);
    expect(killed).toEqual([{ pid: 4242, signal: 'SIGKILL' }]);
    expect(sim.account.leads.get(lead.id)!.responsibleUserId).toBe(9104);
    const kills = ((await (await control('/faults', undefined, 'GET')).json()) as Json).kills;
    expect(kills).toEqual([expect.objectContaining({ pids: [4242], leadIds: [lead.id] })]);
    // The hook fires once.
    await api('/api/v4/leads', {
      method: 'PATCH',
      headers: { 'x-chaos-pid': '4242' },
      body: JSON.stringify([{ id: lead.id, responsible_user_id: 9101 }]),
    });
    expect(killed).toHaveLength(1);
  });

  it('when writes are accepted, then the audit log has one entry per changed field, note and task, with no-op writes marked', async () => {
    const lead = newLead();
    const { entries: before } = (await (await control('/audit', undefined, 'GET')).json()) as Json;
    const since = before.at(-1)?.seq ?? 0;
    await api('/api/v4/leads', {
      method: 'PATCH',
      headers: { 'x-chaos-pid': '77' },
      body: JSON.stringify([{ id: lead.id, responsible_user_id: 9102 }]),
    });
    await api('/api/v4/leads', { method: 'PATCH', body: JSON.stringify([{ id: lead.id, responsible_user_id: 9102 }]) });
    await api('/api/v4/leads/notes', {
      method: 'POST',
      body: JSON.stringify([
        { entity_id: lead.id, note_type: 'common', params: { text: 'Робот назначил ответственным' } },
      ]),
    });
    await api('/api/v4/tasks', {
      method: 'POST',
      body: JSON.stringify([
        { entity_id: lead.id, entity_type: 'leads', text: 'Позвонить', complete_till: 1_800_000_000 },
      ]),
    });
    const { entries } = (await (await control(`/audit?since=${since as number}`, undefined, 'GET')).json()) as Json;
    expect(
      entries.map((e: Json) => [
        e.endpoint,
        e.leadId,
        e.field,
        e.before,
        e.after,
        e.changed,
        e.noteText ?? e.taskText,
        e.pid,
      ]),
    ).toEqual([
      ['PATCH /api/v4/leads', lead.id, 'responsible_user_id', 9001, 9102, true, undefined, 77],
      ['PATCH /api/v4/leads', lead.id, 'responsible_user_id', 9102, 9102, false, undefined, undefined],
      [
        'POST /api/v4/leads/notes',
        lead.id,
        'note',
        undefined,
        undefined,
        true,
        'Робот назначил ответственным',
        undefined,
      ],
      ['POST /api/v4/tasks', lead.id, 'task', undefined, 1_800_000_000, true, 'Позвонить', undefined],
    ]);
  });

  it('when the control API gets a bad body, then it answers 400 naming the problem', async () => {
    const res = await control('/faults/rules', { action: { kind: 'status', status: 200 } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toContain('action.status');
  });
});
