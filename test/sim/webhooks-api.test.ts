/** The simulator's webhooks API and its disabling, as amoCRM does it (amocrm.md §1). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { createSimulator, type Simulator } from '../../sim/server.js';

describe('simulator: /api/v4/webhooks', () => {
  let sim: Simulator;
  let url: string;
  let failing: Server;
  let failingUrl: string;
  const auth = { authorization: 'Bearer hooks-token', 'content-type': 'application/json' };

  beforeAll(async () => {
    sim = createSimulator({
      longLivedToken: 'hooks-token',
      webhookBatchWindowMs: 10,
      webhookRetryLadderMs: [],
      webhookDisableAfterInvalid: 2,
    });
    url = await sim.listen();
    failing = createServer((_req, res) => res.writeHead(500).end()).listen(0, '127.0.0.1');
    await new Promise((r) => failing.once('listening', r));
    failingUrl = `http://127.0.0.1:${(failing.address() as { port: number }).port}/hook`;
  });
  afterAll(async () => {
    await sim.webhooks.close();
    await sim.close();
    failing.close();
  });

  it('registers, lists (204 when none), re-registers by destination and deletes', async () => {
    expect((await fetch(`${url}/api/v4/webhooks`, { headers: auth })).status).toBe(204);
    const created = await fetch(`${url}/api/v4/webhooks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ destination: 'https://x.example/hook', settings: ['add_lead'] }),
    });
    expect(created.status).toBe(201);
    const again = await (
      await fetch(`${url}/api/v4/webhooks`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ destination: 'https://x.example/hook', settings: ['add_lead', 'note_lead'] }),
      })
    ).json();
    expect(again).toMatchObject({
      destination: 'https://x.example/hook',
      settings: ['add_lead', 'note_lead'],
      disabled: false,
    });
    const listed = (await (await fetch(`${url}/api/v4/webhooks`, { headers: auth })).json()) as {
      _embedded: { webhooks: unknown[] };
    };
    expect(listed._embedded.webhooks).toHaveLength(1);
    expect(
      (
        await fetch(`${url}/api/v4/webhooks`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ destination: 'nope', settings: [] }),
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await fetch(`${url}/api/v4/webhooks`, {
          method: 'DELETE',
          headers: auth,
          body: JSON.stringify({ destination: 'https://x.example/hook' }),
        })
      ).status,
    ).toBe(204);
    expect(sim.webhooks.list()).toEqual([]);
  });

  it('when a registered destination keeps answering with errors, then amoCRM disables it and stops sending there', async () => {
    sim.webhooks.register(failingUrl, ['add_lead']);
    for (let i = 0; i < 3; i++) {
      sim.account.createLead({ name: `Заявка ${i}`, statusId: sim.account.statusByName('Передан в работу').id, by: 0 });
      await sim.webhooks.flush();
    }
    expect(sim.webhooks.list().find((h) => h.destination === failingUrl)?.disabled).toBe(true);
  });
});
