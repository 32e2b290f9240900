/**
 * The service installs its own account webhook through amoCRM's API (the simulator's `/api/v4/webhooks`): a fresh
 * account gets it with exactly the events the rules read, webhooks then flow without any manual setup, a second
 * check changes nothing, and a webhook amoCRM disabled is registered again by the next scheduled check with one alert:
 * in the log, the metric and the operator chat (one message, edited to resolved once the webhook is back).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import { freePort } from '../../sim/local-redis.js';
import { createSimulator, type Simulator } from '../../sim/server.js';
import { ensureWebhook, WEBHOOK_EVENTS, webhookDestination } from '../../src/amocrm/webhook-registration.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { TEST_TOKEN } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const SIM_TOKEN = 'e2e-webhooks-token';
const BOT_TOKEN = '123456:webhooks-e2e';
const OPERATORS = '-1009000000002';
describe('the account webhook, installed by the service', () => {
  let sim: Simulator;
  let runtime: Runtime;
  let publicUrl: string;
  const prefix = uniquePrefix('hooks');
  const lines: Array<{ msg: string; alert?: string }> = [];
  const metrics = createMetrics({ defaultMetrics: false });
  let stub: TelegramStub;
  // The e2e rules with an operator chat, beside them (the calendar is found by name).
  const rulesFile = join('test/fixtures', `.rules.webhooks-e2e.${process.pid}.yaml`);

  beforeAll(async () => {
    stub = createTelegramStub({ token: BOT_TOKEN });
    const apiRoot = await stub.listen();
    writeFileSync(
      rulesFile,
      `${readFileSync('test/fixtures/rules.e2e.yaml', 'utf8')}\ntelegram:\n  operatorChat: "${OPERATORS}"\n`,
    );
    sim = createSimulator({ longLivedToken: SIM_TOKEN, webhookBatchWindowMs: 50, webhookRetryLadderMs: [500] });
    const simUrl = await sim.listen();
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    runtime = await startRuntime({
      service: {
        PORT: port,
        HOST: '127.0.0.1',
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        ROLE: 'all',
        WEBHOOK_TOKEN: TEST_TOKEN,
        AMO_SUBDOMAIN: 'demo-realty',
        AMO_BASE_URL: simUrl,
        WORKER_CONCURRENCY: 4,
      },
      amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: 7 },
      rulesFile,
      telegram: { token: BOT_TOKEN, apiRoot },
      webhookCheckEveryMs: 1_000,
      logger: createLogger({
        level: 'info',
        destination: { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) },
      }),
      metrics,
      publicUrl,
    });
    await runtime.service.listen();
  }, 30_000);

  afterAll(async () => {
    await sim.webhooks.close();
    await runtime?.close();
    await sim.close();
    await stub?.close();
    rmSync(rulesFile, { force: true });
    const redis = connectTestRedis();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when the service starts on a fresh account, then its webhook is registered with exactly the events it reads, and leads flow through it', async () => {
    const destination = webhookDestination(publicUrl, TEST_TOKEN);
    const hooks = await waitFor(
      () => (sim.webhooks.list().length > 0 ? sim.webhooks.list() : undefined),
      'the webhook registered',
    );
    expect(hooks.map((h) => [h.destination, [...h.settings].sort(), h.disabled])).toEqual([
      [destination, [...WEBHOOK_EVENTS].sort(), false],
    ]);
    const lead = sim.account.createLead({
      name: 'Заявка через установленный вебхук',
      statusId: sim.account.statusByName('Передан в работу').id,
      by: 0,
    });
    // The robot's assignment note exists only if the webhook reached the service and a worker decided.
    const robotNote = (): boolean =>
      [...sim.account.notes.values()].some(
        (n) => n.entityId === lead.id && String(n.params.text).startsWith('Робот назначил'),
      );
    expect(robotNote()).toBe(false);
    await waitFor(robotNote, 'the robot assigned the lead', 15_000);
  });

  it('when the check runs again, then nothing changes', async () => {
    const destination = webhookDestination(publicUrl, TEST_TOKEN);
    const deps = { amo: runtime.amo, destination, logger: createLogger({ level: 'silent' }), metrics };
    expect(await ensureWebhook(deps)).toBe('present');
    expect(await ensureWebhook(deps)).toBe('present');
    expect(sim.webhooks.list()).toHaveLength(1);
  });

  it('when amoCRM disables the webhook between checks, then it is registered again, with one alert in the log, the metric and the operator chat, edited to resolved', async () => {
    const destination = webhookDestination(publicUrl, TEST_TOKEN);
    sim.webhooks.disable(destination);
    const message = await waitFor(
      () =>
        stub
          .chat(OPERATORS)
          .find((m) => m.text.includes('amoCRM отключил вебхук сервиса') && m.text.includes('Решено')),
      'the incident, resolved',
      10_000,
    );
    expect(message.text).toContain('вебхук зарегистрирован заново');
    expect(sim.webhooks.list().map((h) => h.disabled)).toEqual([false]);
    await new Promise((r) => setTimeout(r, 2_100)); // two more checks
    expect(stub.chat(OPERATORS)).toHaveLength(1);
    expect(lines.filter((l) => l.alert === 'webhook_disabled')).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('amo_api_alerts_total')).toMatch(
      /kind="webhook_disabled"\} 1/,
    );
  });
});
