import { afterAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { createSimulator } from '../../sim/server.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { TEST_TOKEN } from '../helpers/service.js';

describe('OAuth against the simulator', () => {
  const sim = createSimulator({ oauth: { clientId: 'client-1', clientSecret: 'secret-1' } });
  const prefix = uniquePrefix('oauth');
  let runtime: Runtime | undefined;

  afterAll(async () => {
    await runtime?.close();
    await sim.close();
    const r = connectTestRedis();
    await dropPrefix(r, prefix);
    r.disconnect();
  });

  it('when the service starts with AMO_AUTH_CODE, then it gets tokens, reads the account, and /oauth/callback re-authorises', async () => {
    const simUrl = await sim.listen();
    runtime = await startRuntime({
      service: {
        PORT: 0,
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
          authCode: sim.issueAuthCode(),
        },
        rps: 7,
      },
      rulesFile: 'test/fixtures/rules.e2e.yaml',
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    expect(runtime.rules().departments).toHaveLength(2);
    expect(await runtime.amo.hasTokens()).toBe(true);

    const bad = await runtime.service.app!.inject('/oauth/callback?code=wrong');
    expect(bad.statusCode).toBe(502);
    expect(bad.body).toContain('Re-authorise');
    const good = await runtime.service.app!.inject(`/oauth/callback?code=${sim.issueAuthCode()}`);
    expect(good.statusCode).toBe(200);
    expect((await runtime.amo.getAccount()).subdomain).toBe('demo-realty');
    expect(sim.stats().rateLimitViolations).toBe(0);
  }, 30_000);
});
