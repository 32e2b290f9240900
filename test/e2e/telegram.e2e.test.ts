/**
 * The whole service with a bot token, on the amoCRM simulator and the Bot API stub: managers link through the bot
 * (long polling), a lead is missed and reassigned, and each person's chat shows exactly one message per incident,
 * while the stub fails 30% of calls; the РОП's «pause» button takes a manager out of the next lead's rotation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { createSimulator, type Simulator } from '../../sim/server.js';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { TEST_TOKEN } from '../helpers/service.js';
import { seededRandom } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const SIM_TOKEN = 'tg-e2e-amo-token';
const BOT_TOKEN = '123456:tg-e2e-bot-token';
const DEPT1_CHAT = '-1001000000001';
const DEPT1 = [9101, 9102, 9103, 9104];
const HEAD = 9100; // Дмитрий Лебедев, РОП of Отдел продаж 1
const HEAD_TG = 7100;
const NAMES: Record<number, string> = {
  9101: 'Анна Смирнова',
  9102: 'Борис Кузнецов',
  9103: 'Виктор Попов',
  9104: 'Галина Соколова',
};

describe('Telegram end to end: simulator → rules → outbox → bot API stub', () => {
  let sim: Simulator;
  let stub: TelegramStub;
  let runtime: Runtime;
  const prefix = uniquePrefix('tg-e2e');

  beforeAll(async () => {
    sim = createSimulator({ longLivedToken: SIM_TOKEN, webhookBatchWindowMs: 50, webhookRetryLadderMs: [500, 1000] });
    const simUrl = await sim.listen();
    stub = createTelegramStub({ token: BOT_TOKEN, random: seededRandom(3) });
    const apiRoot = await stub.listen();
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
        WORKER_CONCURRENCY: 4,
      },
      amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: SIM_TOKEN }, rps: 7 },
      rulesFile: 'test/fixtures/rules.e2e.yaml',
      logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      metrics: createMetrics({ defaultMetrics: false }),
      telegram: { token: BOT_TOKEN, apiRoot },
    });
    const url = await runtime.service.listen();
    sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${TEST_TOKEN}`]);
  }, 30_000);

  afterAll(async () => {
    await sim?.webhooks.close();
    await runtime?.close();
    await stub?.close();
    await sim?.close();
    const redis = connectTestRedis();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when managers link through the bot and a lead is missed, then each chat holds one message per incident, none doubled, despite 30% failures', async () => {
    // Every manager of department 1 opens their one-time link; their private chat id is 5000 + the last digits.
    for (const userId of DEPT1) {
      const { code } = await runtime.telegram.createLink({ userId, name: NAMES[userId]! });
      await stub.userMessage(userId - 4100, `/start ${code}`);
    }
    await waitFor(
      async () => (await Promise.all(DEPT1.map((u) => runtime.telegram.links.chatOf(u)))).every((c) => c !== undefined),
      'all four linked',
      20_000,
    );
    stub.failRate(0.3);

    let lead = sim.account.createLead({
      name: 'Заявка с Циан',
      statusId: sim.account.statusByName('Передан в работу').id,
      by: 0,
    });
    while (lead.id % 2 !== 0)
      lead = sim.account.createLead({
        name: 'Заявка с Циан',
        statusId: sim.account.statusByName('Передан в работу').id,
        by: 0,
      });
    const first = await waitFor(
      () =>
        DEPT1.includes(sim.account.leads.get(lead.id)!.responsibleUserId) &&
        sim.account.leads.get(lead.id)!.responsibleUserId,
      'first assignment',
      15_000,
    );
    const second = await waitFor(
      () => {
        const r = sim.account.leads.get(lead.id)!.responsibleUserId;
        return r !== first && DEPT1.includes(r) && r;
      },
      'reassignment at the deadline',
      15_000,
    );
    // The second manager calls: the lead is taken and no more messages follow.
    sim.account.addNote({
      leadId: lead.id,
      noteType: 'call_out',
      params: { duration: 60, phone: '+79990001122', uniq: 'tg-e2e-call' },
      by: second,
    });
    await waitFor(
      async () => (await runtime.pickup!.pickups.get(lead.id)).phase === 'taken',
      'taken by the call',
      15_000,
    );

    const leadLink = `/leads/detail/${lead.id}`;
    const about = (chatId: string | number) => stub.chat(chatId).filter((m) => m.text.includes(leadLink));
    await waitFor(
      () =>
        about(DEPT1_CHAT)[0]?.text.startsWith('✅') &&
        about(second - 4100)[0]?.text.startsWith('✅') &&
        about(first - 4100)[0]?.text.startsWith('↪️'),
      'the messages of the incident in their last state',
      30_000,
    );
    stub.failRate(0);

    // The first manager's message was edited from "new lead" to "given to someone else", in place.
    expect(about(first - 4100)).toHaveLength(1);
    expect(about(first - 4100)[0]!.edits).toBeGreaterThanOrEqual(1);
    // The second manager got one new-lead message, turned into "taken" by their call (its button gone).
    expect(about(second - 4100)).toHaveLength(1);
    expect(about(second - 4100)[0]!.text).toContain(`назначен(а) ${NAMES[second]}`);
    expect(about(second - 4100)[0]!.text).toContain(`${NAMES[second]} взял(а) в работу (исходящий звонок)`);
    expect(about(second - 4100)[0]!.replyMarkup).toBeUndefined();
    // The РОП chat: one message naming who missed it and who has it now, ending "taken".
    expect(about(DEPT1_CHAT)).toHaveLength(1);
    const alert = about(DEPT1_CHAT)[0]!;
    expect(alert.text).toContain(`${NAMES[first]} не взял(а) за 2 сек → передан(а): ${NAMES[second]} (пропусков: 1)`);
    expect(stub.calls.some((c) => c.status === 500)).toBe(true);
    // Nobody else heard about this lead.
    for (const userId of DEPT1.filter((u) => u !== first && u !== second)) expect(about(userId - 4100)).toHaveLength(0);
  }, 90_000);

  it("when the РОП presses «Приостановить приём заявок» under a miss, then the next lead's rotation skips that manager, and the record and the note say why", async () => {
    stub.failRate(0);
    // The РОП links his own Telegram account and presses in the department chat.
    const { code } = await runtime.telegram.createLink({ userId: HEAD, name: 'Дмитрий Лебедев' });
    await stub.userMessage(HEAD_TG, `/start ${code}`);
    await waitFor(
      async () => (await runtime.telegram.links.chatOf(HEAD)) === String(HEAD_TG),
      'the РОП linked',
      20_000,
    );

    const stage = sim.account.statusByName('Передан в работу').id;
    let missedLead = sim.account.createLead({ name: 'Заявка с Авито', statusId: stage, by: 0 });
    while (missedLead.id % 2 !== 0)
      missedLead = sim.account.createLead({ name: 'Заявка с Авито', statusId: stage, by: 0 });
    const first = await waitFor(
      () =>
        DEPT1.includes(sim.account.leads.get(missedLead.id)!.responsibleUserId) &&
        sim.account.leads.get(missedLead.id)!.responsibleUserId,
      'first assignment',
      15_000,
    );
    const alert = await waitFor(
      () =>
        stub
          .chat(DEPT1_CHAT)
          .find(
            (m) =>
              m.text.includes(`/leads/detail/${missedLead.id}"`) &&
              JSON.stringify(m.replyMarkup ?? '').includes(`pause:${first}`),
          ),
      'the miss alert with «pause»',
      30_000,
    );

    await stub.pressButton(Number(DEPT1_CHAT), alert.messageId, `pause:${first}`, HEAD_TG);
    const pressed = await waitFor(
      async () =>
        (await runtime.records.forLead(0)).find(
          (r) => r.kind === 'action' && r.userId === first && r.type === 'telegram_pause',
        ),
      'the button press recorded',
      15_000,
    );
    expect(pressed.reason).toContain(`pressed by Дмитрий Лебедев (Telegram ${HEAD_TG})`);
    // The pause itself is one record, written by the intake store with who and why.
    const pauses = (await runtime.records.forLead(0)).filter((r) => r.kind === 'intake_paused' && r.userId === first);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]!.reason).toContain('приостановлено РОПом через Telegram');
    await waitFor(
      () => stub.chat(DEPT1_CHAT).some((m) => m.text === `Приём заявок приостановлен: ${NAMES[first]}.`),
      'the confirmation in the chat',
      15_000,
    );

    // The next lead: the rotation skips the paused manager, and says so.
    let next = sim.account.createLead({ name: 'Заявка с сайта', statusId: stage, by: 0 });
    while (next.id % 2 !== 0) next = sim.account.createLead({ name: 'Заявка с сайта', statusId: stage, by: 0 });
    const given = await waitFor(
      async () => (await runtime.records.forLead(next.id)).find((r) => r.kind === 'assignment'),
      'the next lead assigned',
      15_000,
    );
    expect(given.userId).not.toBe(first);
    expect(sim.account.leads.get(next.id)!.responsibleUserId).toBe(given.userId);
    expect((given.explanation as { skipped: Array<{ userId: number; reason: string }> }).skipped).toContainEqual({
      userId: first,
      reason: 'paused',
      detail: 'приостановлено РОПом через Telegram',
    });
    const note = await waitFor(
      () =>
        [...sim.account.notes.values()].find(
          (n) => n.entityId === next.id && JSON.stringify(n.params).includes('Робот назначил'),
        ),
      'the assignment note',
      15_000,
    );
    expect(JSON.stringify(note.params)).toContain(`${NAMES[first]} — приём заявок приостановлен`);
  }, 90_000);
});
