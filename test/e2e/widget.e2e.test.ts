/**
 * The amoCRM widget in Chromium on the simulator's lead card page, against the whole service: the card loads the
 * widget as amoCRM does (AMD module, callbacks, the card's widget column), its calls carry the simulator's signed
 * one-time token; the pickup countdown ticks, the "why this manager" list is the record's, «Оспорить» opens a
 * dispute. Forged, expired and foreign tokens get 401, and CORS answers only the account's own origin.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { violationRef } from '../../src/rules/disputes/policy.js';
import type { DistributionExplanation } from '../../src/rules/types.js';
import { createKeys } from '../../src/store/keys.js';
import { createViolationLedger } from '../../src/store/violation-ledger.js';
import { startE2E, SIM_TOKEN, type E2E } from '../helpers/e2e.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime } from '../../src/runtime.js';
import { TEST_TOKEN } from '../helpers/service.js';
import { connectTestRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SECRET = 'widget-e2e-integration-secret-0123456789';
const FIXTURE = `test/fixtures/.rules.widget.${process.pid}.yaml`;

describe('the amoCRM widget in the lead card (Chromium, simulator card page)', () => {
  let e2e: E2E;
  let browser: Browser;
  let page: Page;
  let serviceUrl: string;
  const redis = connectTestRedis();
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install chromium; .ci/run does it)`);
    // A two-minute pickup clock (the countdown has time to tick) and R4 at 2 seconds (a violation to contest).
    const rules = readFileSync('test/fixtures/rules.e2e.yaml', 'utf8')
      .replace('    timeout: PT2S\n', '    timeout: PT2M\n')
      .replace(
        'handoff: { enabled: true, stage: Для передачи, maxStay: P1D }',
        'handoff: { enabled: true, stage: Для передачи, maxStay: PT2S }',
      );
    if (!rules.includes('timeout: PT2M') || !rules.includes('maxStay: PT2S')) throw new Error('the e2e rules changed');
    writeFileSync(FIXTURE, rules);
    e2e = await startE2E({ rulesFile: FIXTURE, widgetSecret: SECRET });
    serviceUrl = e2e.sim.widget!.settings.service_url!;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => errors.push(err.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await e2e?.close();
    rmSync(FIXTURE, { force: true });
    redis.disconnect();
  });

  it('when the manager opens the card, then the countdown ticks, «why» is the record’s, and «Оспорить» opens a dispute', async () => {
    const { account } = e2e.sim;
    const runtime = e2e.runtimes[0]!;
    const lead = account.createLead({
      name: 'Заявка: виджет',
      statusId: account.statusByName('Передан в работу').id,
      by: 0,
    });
    const given = await waitFor(
      async () => (await runtime.records.forLead(lead.id)).find((r) => r.kind === 'assignment'),
      'the assignment',
      15_000,
    );
    const manager = given.userId!;
    await waitFor(
      async () => (await runtime.pickup!.pickups.get(lead.id)).phase === 'running',
      'clock running',
      10_000,
    );

    await page.goto(`${e2e.sim.baseUrl}/leads/detail/${lead.id}?user=${manager}`);
    const countdown = page.locator('.robot-discipline__countdown');
    await countdown.waitFor({ timeout: 15_000 });
    expect(await countdown.textContent()).toMatch(/^осталось [12]:\d\d$/);
    const first = Number(await countdown.getAttribute('data-left-ms'));
    // The countdown ticks on its own: wait for the next ticks rather than for a fixed time.
    await page.waitForFunction(
      `Number(document.querySelector('.robot-discipline__countdown')?.getAttribute('data-left-ms')) < ${first - 1500}`,
      undefined,
      { timeout: 15_000 },
    );
    const second = Number(await countdown.getAttribute('data-left-ms'));
    expect(second).toBeGreaterThan(60_000);

    // «Why this manager»: the same skips as the assignment's explanation in the record.
    const explanation = given.explanation as DistributionExplanation;
    const skipped = await page
      .locator('[data-part="why"] li')
      .evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-user'))));
    expect(skipped.sort()).toEqual(explanation.skipped.map((s) => s.userId).sort());
    const why = await page.locator('[data-part="why"]').textContent();
    expect(why).toContain(
      explanation.strategy === 'least_loaded' ? 'меньше всего невзятых' : 'очередь распределения по весам',
    );
    expect(await page.locator('[data-part="violations"]').textContent()).toContain('Нарушений нет');

    // The manager moves the lead to «Для передачи» and leaves it: R4's violation appears with «Оспорить».
    account.updateLead(lead.id, { statusId: account.statusByName('Для передачи').id }, manager);
    const violation = await waitFor(
      async () =>
        (await runtime.records.forLead(lead.id)).find((r) => r.kind === 'violation' && r.type === 'handoff_stale'),
      'the R4 violation',
      20_000,
    );
    const ref = violationRef(violation.violationId!);
    await page.reload();
    const button = page.locator(`button.robot-discipline__dispute[data-ref="${ref}"]`);
    await button.waitFor({ timeout: 15_000 });
    page.once('dialog', (d) => void d.accept('Клиент попросил не торопиться с передачей'));
    await button.click();
    await page.locator('.robot-discipline__message', { hasText: 'отправлен РОПу' }).waitFor({ timeout: 15_000 });
    const entry = await createViolationLedger(redis, createKeys(e2e.prefix)).get(ref);
    expect(entry?.state).toBe('disputed');
    expect(entry?.history[1]).toMatchObject({
      state: 'disputed',
      byUserId: manager,
      via: 'widget',
      note: 'Клиент попросил не торопиться с передачей',
    });
    await page.locator(`li[data-ref="${ref}"][data-state="disputed"]`).waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
  }, 90_000);

  it('when a web-only process serves the widget, then it names people and applies the config in force, as a worker would', async () => {
    const web = await startRuntime({
      service: {
        PORT: 0,
        HOST: '127.0.0.1',
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: e2e.prefix,
        ROLE: 'web',
        WEBHOOK_TOKEN: TEST_TOKEN,
        AMO_SUBDOMAIN: 'demo-realty',
        AMO_BASE_URL: e2e.sim.baseUrl!,
        WORKER_CONCURRENCY: 1,
      },
      amo: { baseUrl: e2e.sim.baseUrl!, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: 7 },
      rulesFile: FIXTURE,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
      widget: { secret: SECRET },
    });
    try {
      const url = await web.service.listen();
      const res = await fetch(`${url}/widget/api/leads/1`, {
        headers: { 'X-Auth-Token': await e2e.sim.widget!.token(9101) },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { user: { name: string } }).user.name).toBe('Анна Смирнова');
      expect(web.rules().disputes?.disputeWithinMs).toBe(2 * 24 * 3600_000);
    } finally {
      await web.close();
    }
  }, 30_000);

  it('when a token is forged, expired, of another account or missing, then 401 in Russian; CORS answers only the account', async () => {
    const sign = (claims: Record<string, unknown>, secret: string, expSec = 300) =>
      new SignJWT({ user_id: 9101, ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + expSec)
        .sign(new TextEncoder().encode(secret));
    const get = (token?: string) =>
      fetch(`${serviceUrl}/widget/api/leads/1`, { headers: token !== undefined ? { 'X-Auth-Token': token } : {} });

    const good = await e2e.sim.widget!.token(9101);
    expect((await get(good)).status).toBe(200);
    for (const token of [
      await sign({ iss: e2e.sim.baseUrl }, 'someone-elses-secret-0123456789'),
      await sign({ iss: e2e.sim.baseUrl }, SECRET, -120),
      await sign({ iss: 'https://other-agency.amocrm.ru' }, SECRET),
      'not.a.jwt',
      undefined,
    ]) {
      const res = await get(token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        'Токен виджета недействителен или истёк: обновите страницу amoCRM.',
      );
    }
    expect(
      (await e2e.runtimes[0]!.records.forLead(1)).filter((r) => r.type === 'widget_refused').length,
    ).toBeGreaterThanOrEqual(4);

    const preflight = (origin: string) =>
      fetch(`${serviceUrl}/widget/api/leads/1`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'x-auth-token',
        },
      });
    const own = await preflight(new URL(e2e.sim.baseUrl!).origin);
    expect(own.headers.get('access-control-allow-origin')).toBe(new URL(e2e.sim.baseUrl!).origin);
    const foreign = await preflight('https://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  }, 30_000);
});
