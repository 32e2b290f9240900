import { afterAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { freePort } from '../../sim/local-redis.js';
import { createSimulator } from '../../sim/server.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { TEST_TOKEN } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

describe('OAuth against the simulator', () => {
  const sim = createSimulator({ oauth: { clientId: 'client-1', clientSecret: 'secret-1' } });
  const prefixes: string[] = [];
  const runtimes: Runtime[] = [];
  let simUrl = '';

  afterAll(async () => {
    for (const r of runtimes) await r.close();
    await sim.close();
    const r = connectTestRedis();
    for (const p of prefixes) await dropPrefix(r, p);
    r.disconnect();
  });

  const options = (simUrl: string, port: number, authCode?: string): RuntimeOptions => {
    const prefix = uniquePrefix('oauth');
    prefixes.push(prefix);
    return {
      service: {
        PORT: port,
        HOST: '127.0.0.1',
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        ROLE: 'all',
        WEBHOOK_TOKEN: TEST_TOKEN,
        AMO_SUBDOMAIN: 'demo-realty',
        AMO_BASE_URL: simUrl,
        WORKER_CONCURRENCY: 2,
      },
      amo: {
        baseUrl: simUrl,
        auth: {
          kind: 'oauth',
          clientId: 'client-1',
          clientSecret: 'secret-1',
          redirectUri: 'https://service.example/oauth/callback',
          ...(authCode ? { authCode } : {}),
        },
        rps: 7,
      },
      rulesFile: 'test/fixtures/rules.e2e.yaml',
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
      authPollMs: 100,
    };
  };

  it('when the service starts with AMO_AUTH_CODE, then it gets tokens and reads the account; install and callback are then 404', async () => {
    simUrl = await sim.listen();
    const runtime = await startRuntime(options(simUrl, 0, sim.issueAuthCode()));
    runtimes.push(runtime);
    expect(runtime.rules().departments).toHaveLength(2);
    expect(await runtime.amo.hasTokens()).toBe(true);
    expect((await runtime.service.app!.inject(`/oauth/callback?code=${sim.issueAuthCode()}&state=x`)).statusCode).toBe(
      404,
    );
    expect((await runtime.service.app!.inject('/oauth/install')).statusCode).toBe(404);
    expect(sim.stats().rateLimitViolations).toBe(0);
  }, 30_000);

  it('when an admin installs through /oauth/install, then only the state it issued and the configured account are taken; the disconnect hook deletes the tokens', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const started = startRuntime(options(simUrl, port));
    const install = await waitFor(async () => {
      const res = await fetch(`${url}/oauth/install`, { redirect: 'manual' }).catch(() => undefined);
      return res?.status === 302 ? res : undefined;
    }, 'the install link while waiting for tokens');
    const consent = new URL(install.headers.get('location')!);
    expect([
      consent.host,
      consent.pathname,
      consent.searchParams.get('client_id'),
      consent.searchParams.get('mode'),
    ]).toEqual(['www.amocrm.ru', '/oauth', 'client-1', 'post_message']);
    const state = consent.searchParams.get('state')!;
    expect(state).toMatch(/^[0-9a-f]{32}$/);

    // A redirect with a state this service never issued, or from another account, does not reach amoCRM.
    const requestsBefore = sim.stats().requests;
    expect(
      (await fetch(`${url}/oauth/callback?code=${sim.issueAuthCode()}&state=forged&referer=demo-realty.amocrm.ru`))
        .status,
    ).toBe(403);
    const other = await fetch(`${url}/oauth/install`, { redirect: 'manual' });
    const otherState = new URL(other.headers.get('location')!).searchParams.get('state')!;
    expect(
      (
        await fetch(
          `${url}/oauth/callback?code=${sim.issueAuthCode()}&state=${otherState}&referer=someone-else.amocrm.ru`,
        )
      ).status,
    ).toBe(403);
    expect(sim.stats().requests).toBe(requestsBefore);

    const ok = await fetch(
      `${url}/oauth/callback?code=${sim.issueAuthCode()}&state=${state}&referer=demo-realty.amocrm.ru&from_widget=1`,
    );
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('window.close()');
    const runtime = await started;
    runtimes.push(runtime);
    expect(await runtime.amo.hasTokens()).toBe(true);
    // The same state again (a replay) finds the integration installed.
    expect((await fetch(`${url}/oauth/callback?code=${sim.issueAuthCode()}&state=${state}`)).status).toBe(404);

    const sign = (payload: string): string => createHmac('sha256', 'secret-1').update(payload).digest('hex');
    expect(
      (await fetch(`${url}/oauth/disconnect?client_uuid=client-1&account_id=1&signature=${sign('client-1|2')}`)).status,
    ).toBe(403);
    expect(await runtime.amo.hasTokens()).toBe(true);
    expect(
      (await fetch(`${url}/oauth/disconnect?client_uuid=client-1&account_id=1&signature=${sign('client-1|1')}`)).status,
    ).toBe(200);
    expect(await runtime.amo.hasTokens()).toBe(false);
    const recorded = await waitFor(
      async () => (await runtime.records.forLead(0)).find((r) => r.type === 'integration_disconnected'),
      'the record',
    );
    expect(recorded.reason).toContain('account 1');
  }, 30_000);

  it('when the install routes are hammered, then they answer 429 after ten a minute', async () => {
    const runtime = runtimes[1]!;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await runtime.service.app!.inject('/oauth/install')).statusCode);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });
});
