/**
 * Readiness that means something: amoCRM stopped answering (the simulator's outage) turns /health/ready of the web
 * process and of the worker (on its own port) into "degraded" with the reason, counts one alert, puts one message in
 * the operator chat (two processes watch), and turns back when amoCRM answers again, the message edited to resolved.
 * The worker serves its metrics, the business ones included.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import { startE2E, type E2E } from '../helpers/e2e.js';
import { seededRandom } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const BOT_TOKEN = '123456:health-e2e';
const OPERATORS = '-1009000000001';

const STAGE = 'Передан в работу';
type Ready = { status: string; reasons?: string[]; checks: Record<string, { status: string; reason?: string }> };

describe('health and metrics of both roles', () => {
  let e2e: E2E;
  let stub: TelegramStub;
  let workerUrl: string;
  let webUrl: string;
  let rulesFile: string;

  beforeAll(async () => {
    stub = createTelegramStub({ token: BOT_TOKEN, random: seededRandom(5) });
    const apiRoot = await stub.listen();
    // The e2e rules with an operator chat, beside them (the calendar is found by name).
    rulesFile = join('test/fixtures', `.rules.health-e2e.${process.pid}.yaml`);
    writeFileSync(
      rulesFile,
      `${readFileSync('test/fixtures/rules.e2e.yaml', 'utf8')}\ntelegram:\n  operatorChat: "${OPERATORS}"\n`,
    );
    e2e = await startE2E({
      processes: 2,
      amoUnreachableAfterMs: 1_500,
      healthCheckEveryMs: 200,
      rulesFile,
      telegram: { token: BOT_TOKEN, apiRoot },
    });
    webUrl = e2e.runtimes[0]!.service.url!;
    workerUrl = await e2e.runtimes[1]!.service.listen();
  }, 30_000);

  afterAll(async () => {
    await e2e?.close();
    await stub?.close();
    rmSync(rulesFile, { force: true });
  });

  const ready = async (url: string): Promise<Ready> => (await (await fetch(`${url}/health/ready`)).json()) as Ready;

  it('when the worker runs, then it answers health and metrics on its own port, with the timers, webhooks and business metrics', async () => {
    expect((await fetch(`${workerUrl}/health/live`)).status).toBe(200);
    const r = await ready(workerUrl);
    expect(Object.keys(r.checks).sort()).toEqual(['amocrm', 'dead_letters', 'rules', 'timers', 'webhooks']);
    expect(r.checks.rules).toMatchObject({ status: 'ok' });
    expect(r.checks.dead_letters).toMatchObject({ status: 'ok' });
    const metrics = await (await fetch(`${workerUrl}/metrics`)).text();
    for (const name of [
      'amo_api_up',
      'amo_timer_lateness_seconds',
      'amo_timer_lag_seconds',
      'amo_pickups_total',
      'amo_time_to_pickup_seconds',
      'amo_violations_total',
      'amo_telegram_deliveries_total',
      'amo_webhook_last_event_timestamp_seconds',
    ]) {
      expect(metrics).toContain(`# HELP ${name} `);
    }
    expect((await fetch(`${workerUrl}/webhooks/amocrm/x`, { method: 'POST' })).status).toBe(404);
  });

  it('when amoCRM stops answering, then both roles report degraded with the reason and one alert is counted; when it answers again, ok', async () => {
    const { sim } = e2e;
    sim.faults.startOutage(60);
    // Work that needs amoCRM: a new lead to assign (the workers read and write it, and fail).
    sim.account.createLead({ name: 'Заявка во время сбоя', statusId: sim.account.statusByName(STAGE).id, by: 0 });
    const down = await waitFor(
      async () => {
        const [w, k] = [await ready(webUrl), await ready(workerUrl)];
        return w.status === 'degraded' && k.status === 'degraded' ? { w, k } : undefined;
      },
      'both degraded',
      20_000,
    );
    for (const r of [down.w, down.k]) {
      expect(r.checks.amocrm).toMatchObject({
        status: 'degraded',
        reason: expect.stringContaining('amoCRM unreachable'),
      });
      expect(r.reasons).toEqual(expect.arrayContaining([expect.stringContaining('amocrm: amoCRM unreachable')]));
    }
    const alerts = await waitFor(
      async () => {
        const text = await (await fetch(`${workerUrl}/metrics`)).text();
        return /amo_api_alerts_total\{kind="amocrm_degraded"\} 1\b/.test(text) ? text : undefined;
      },
      'the alert counted once',
      10_000,
    );
    expect(alerts).toMatch(/amo_api_up\{state="unreachable"\} 1/);
    // One message in the operator chat, though both processes saw the outage.
    const opened = await waitFor(
      () => stub.chat(OPERATORS).find((m) => m.text.includes('amoCRM не отвечает')),
      'the operator incident',
      10_000,
    );
    expect(opened.disableNotification).toBe(false);

    sim.faults.endOutage();
    await waitFor(
      async () =>
        (await ready(webUrl)).checks.amocrm?.status !== 'degraded' &&
        (await ready(workerUrl)).checks.amocrm?.status !== 'degraded',
      'both recovered',
      30_000,
    );
    const resolved = await waitFor(
      () => stub.chat(OPERATORS).find((m) => m.messageId === opened.messageId && m.text.includes('Решено')),
      'the incident edited to resolved',
      10_000,
    );
    expect(resolved.text).toContain('amoCRM снова отвечает');
    expect(resolved.text).toContain('длилось');
    expect(stub.chat(OPERATORS)).toHaveLength(1);
    const after = await (await fetch(`${workerUrl}/metrics`)).text();
    expect(after).toMatch(/amo_api_alerts_total\{kind="amocrm_degraded"\} 1\b/);
  }, 60_000);
});
