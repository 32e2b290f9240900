/**
 * The bot against the Bot API stub: updates arrive by long polling (or by the webhook route), replies and button
 * answers are read back from the stub.
 */
import Fastify from 'fastify';
import type { CompiledRules } from '../../src/rules/types.js';
import {
  telegramWebhookRoute,
  webhookSecret,
  type IntakeActions,
  type PickupActions,
} from '../../src/telegram/index.js';
import type { ApiEvent } from '../../src/amocrm/api/schemas.js';
import { demoRules } from '../helpers/rules.js';
import { DEPT1_CHAT, startTelegramHarness, STUB_TOKEN, type TelegramHarness } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const ANNA = 9101;
const LEBEDEV = 9100; // the РОП of Отдел продаж 1

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

const replies = (h: TelegramHarness, chatId: number | string): string[] => h.stub.chat(chatId).map((m) => m.text);

describe('telegram bot (long polling)', () => {
  let h: TelegramHarness;
  const intakeCalls: Array<{ op: string; target: unknown; options: unknown }> = [];
  const pickupCalls: Array<{ op: string; leadId: number; userId: number | undefined }> = [];
  let events: ApiEvent[] = [];
  let responsible = ANNA;

  beforeEach(async () => {
    intakeCalls.length = 0;
    pickupCalls.length = 0;
    events = [];
    responsible = ANNA;
    const intake: IntakeActions = {
      pause: async (target, options) => void intakeCalls.push({ op: 'pause', target, options }),
      resume: async (target, options) => void intakeCalls.push({ op: 'resume', target, options }),
    };
    const pickup: PickupActions = {
      takenByButton: async (leadId, userId) => {
        pickupCalls.push({ op: 'taken', leadId, userId });
        return true;
      },
      reassign: async (leadId, userId) => {
        pickupCalls.push({ op: 'reassign', leadId, userId });
        return { changed: true, toUserId: 9102 };
      },
    };
    h = await startTelegramHarness({
      rules,
      now: '2026-03-03T09:00:00Z',
      deps: {
        intake,
        pickup,
        amo: {
          getLead: async (id) => ({ id, responsible_user_id: responsible }) as never,
          listEvents: async () => events,
        },
        pollerLeaseMs: 3000,
      },
    });
    await h.telegram.start();
  });
  afterEach(async () => {
    await h.close();
  });

  test('when a manager opens the one-time link, then the chat is linked; the same link a second time is refused', async () => {
    const { link, code } = await h.telegram.createLink({ userId: ANNA, name: 'Анна Смирнова' });
    expect(link).toBe(`https://t.me/${h.stub.botUsername}?start=${code}`);
    await h.stub.userMessage(5001, `/start ${code}`);
    await waitFor(() => replies(h, 5001).length === 1, 'the link confirmation');
    expect(replies(h, 5001)[0]).toBe(
      'Готово: этот чат привязан к пользователю amoCRM <b>Анна Смирнова</b>. Сюда будут приходить новые клиенты и напоминания.',
    );
    expect(await h.telegram.links.chatOf(ANNA)).toBe('5001');

    await h.stub.userMessage(6001, `/start ${code}`);
    await waitFor(() => replies(h, 6001).length === 1, 'the refusal of a used code');
    expect(replies(h, 6001)[0]).toContain('Ссылка недействительна');
    expect(await h.telegram.links.userOf('6001')).toBeUndefined();
  });

  test('when a stranger writes, then one polite refusal and silence after; a linked manager gets answers', async () => {
    await h.stub.userMessage(6002, '/today');
    await h.stub.userMessage(6002, 'привет');
    await h.stub.userMessage(6002, '/violations');
    // Positive control: a linked manager's /today is answered.
    const code = await h.telegram.links.createCode({ userId: ANNA, name: 'Анна Смирнова' }, 60_000);
    await h.telegram.links.consume(code, '5001');
    await h.stub.userMessage(5001, '/today');
    await waitFor(() => replies(h, 5001).length === 1, 'the answer to /today');
    expect(replies(h, 5001)[0]).toContain('📅 <b>Сегодня: Анна Смирнова</b>');
    expect(replies(h, 6002)).toEqual([
      'Здравствуйте! Этот бот работает только для сотрудников отдела продаж. Чтобы подключиться, попросите администратора прислать вам персональную ссылку.',
    ]);
  });

  test('when the РОП presses "pause" under an alert, then intake is paused for that manager, recorded with who pressed it, and "resume" is offered', async () => {
    // The РОП's own Telegram account is linked; he presses in the department chat.
    const code = await h.telegram.links.createCode({ userId: LEBEDEV, name: 'Дмитрий Лебедев' }, 60_000);
    await h.telegram.links.consume(code, '7100');
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'pickup_missed',
        params: { leadId: 42, missed: 'Анна Смирнова', manager: 'Борис Кузнецов', misses: 1, timeout: '15 мин' },
        leadId: 42,
      },
      'pm42',
    );
    await waitFor(() => h.stub.chat(DEPT1_CHAT).length === 1, 'the alert in the department chat');
    const alert = h.stub.chat(DEPT1_CHAT)[0]!;
    expect(JSON.stringify(alert.replyMarkup)).toContain(`pause:${ANNA}`);

    await h.stub.pressButton(Number(DEPT1_CHAT), alert.messageId, `pause:${ANNA}`, 7100);
    await waitFor(() => intakeCalls.length === 1, 'the intake interface called');
    expect(intakeCalls[0]).toEqual({
      op: 'pause',
      target: { kind: 'manager', userId: ANNA },
      options: { by: LEBEDEV, reason: 'приостановлено РОПом через Telegram' },
    });
    await waitFor(() => h.stub.chat(DEPT1_CHAT).length === 2, 'the confirmation with "resume"');
    expect(h.stub.chat(DEPT1_CHAT)[1]!.replyMarkup).toEqual({
      inline_keyboard: [[{ text: '▶️ Возобновить приём заявок: Анна Смирнова', callback_data: `resume:${ANNA}` }]],
    });
    const recorded = await waitFor(
      async () =>
        (await h.records.range('2026-03-03T00:00:00Z', '2026-03-04T00:00:00Z')).find(
          (r) => r.type === 'telegram_pause',
        ),
      'the record',
    );
    expect(recorded).toMatchObject({ kind: 'action', userId: ANNA, rule: 'telegram' });
    expect(recorded.reason).toContain('pressed by Дмитрий Лебедев (Telegram 7100)');

    // A manager pressing a РОП's button is told it is not theirs.
    await h.telegram.links.consume(
      await h.telegram.links.createCode({ userId: ANNA, name: 'Анна Смирнова' }, 60_000),
      '5001',
    );
    await h.stub.pressButton(5001, 1, `pause:${ANNA}`, 5001);
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'the answer to the manager');
    expect(h.stub.answeredCallbacks[1]!.text).toBe('Эта кнопка — для руководителя отдела.');
    expect(intakeCalls).toHaveLength(1);
  });

  test('when a member of a department chat who is not linked presses a РОП button, then nothing changes, they are refused politely and the press is recorded with them', async () => {
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'pickup_missed',
        params: { leadId: 43, missed: 'Анна Смирнова', manager: 'Борис Кузнецов', misses: 1, timeout: '15 мин' },
        leadId: 43,
      },
      'pm43',
    );
    await waitFor(() => h.stub.chat(DEPT1_CHAT).length === 1, 'the alert in the department chat');
    const alert = h.stub.chat(DEPT1_CHAT)[0]!;
    for (const data of [`pause:${ANNA}`, 'reassign:43'])
      await h.stub.pressButton(Number(DEPT1_CHAT), alert.messageId, data, 7777);
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'both presses answered');
    expect(h.stub.answeredCallbacks.map((c) => c.text)).toEqual([
      expect.stringContaining('только для сотрудников отдела продаж'),
      expect.stringContaining('только для сотрудников отдела продаж'),
    ]);
    expect([intakeCalls, pickupCalls]).toEqual([[], []]);
    const refused = await waitFor(async () => {
      const rs = (await h.records.range('2026-03-03T00:00:00Z', '2026-03-04T00:00:00Z')).filter(
        (r) => r.type === 'telegram_refused',
      );
      return rs.length === 2 ? rs : undefined;
    }, 'both refusals recorded');
    expect(refused.map((r) => r.reason)).toEqual([
      expect.stringContaining('Telegram 7777'),
      expect.stringContaining('Telegram 7777'),
    ]);

    // A message from two different strangers in the group: each is told once.
    await h.stub.userMessage(Number(DEPT1_CHAT), '/today', { id: 7777 });
    await h.stub.userMessage(Number(DEPT1_CHAT), '/today', { id: 7778 });
    await h.stub.userMessage(Number(DEPT1_CHAT), '/today', { id: 7777 });
    await waitFor(() => h.stub.chat(DEPT1_CHAT).length === 3, 'one refusal per stranger');
    await new Promise((r) => setTimeout(r, 300));
    expect(
      h.stub
        .chat(DEPT1_CHAT)
        .slice(1)
        .map((m) => m.text),
    ).toEqual([expect.stringContaining('только для сотрудников'), expect.stringContaining('только для сотрудников')]);
  });

  test('when the РОП of one department presses pause for a manager of another, then it is refused and recorded; for their own it works (control)', async () => {
    const VOLKOV = 9200; // the РОП of Отдел продаж 2
    await h.telegram.links.consume(
      await h.telegram.links.createCode({ userId: VOLKOV, name: 'Кирилл Волков' }, 60_000),
      '7200',
    );
    await h.stub.pressButton(7200, 1, `pause:${ANNA}`, 7200);
    await waitFor(() => h.stub.answeredCallbacks.length === 1, 'the refusal');
    expect(h.stub.answeredCallbacks[0]!.text).toBe(
      'Этот менеджер работает в другом отделе: решение за руководителем того отдела.',
    );
    expect(intakeCalls).toEqual([]);
    const refused = await waitFor(
      async () =>
        (await h.records.range('2026-03-03T00:00:00Z', '2026-03-04T00:00:00Z')).find(
          (r) => r.type === 'telegram_pause_refused',
        ),
      'the refusal recorded',
    );
    expect(refused.reason).toContain('Кирилл Волков');

    await h.telegram.links.consume(
      await h.telegram.links.createCode({ userId: LEBEDEV, name: 'Дмитрий Лебедев' }, 60_000),
      '7100',
    );
    await h.stub.pressButton(7100, 1, `pause:${ANNA}`, 7100);
    await waitFor(() => intakeCalls.length === 1, "the own department's pause");
  });

  test('when a one-time link is opened in a group, then nothing is linked and the code still works in a private chat', async () => {
    const { code } = await h.telegram.createLink({ userId: ANNA, name: 'Анна Смирнова' });
    await h.stub.userMessage(Number(DEPT1_CHAT), `/start ${code}`, { id: 5001 });
    await waitFor(() => h.stub.chat(DEPT1_CHAT).length === 1, 'the refusal in the group');
    expect(h.stub.chat(DEPT1_CHAT)[0]!.text).toContain('только в личном чате');
    expect(await h.telegram.links.userOf(DEPT1_CHAT)).toBeUndefined();
    expect(await h.telegram.links.chatOf(ANNA)).toBeUndefined();

    await h.stub.userMessage(5001, `/start ${code}`);
    await waitFor(() => replies(h, 5001).length === 1, 'the link confirmation');
    expect(await h.telegram.links.chatOf(ANNA)).toBe('5001');
  });

  test('when a manager presses "taken" without a call or note, then it is not counted and says what is missing; with a call it is', async () => {
    await h.records.append(
      { kind: 'assignment', at: '2026-03-03T08:55:00Z', leadId: 77, userId: ANNA, rule: 'R2', reason: 'test' },
      'as77',
    );
    await h.telegram.links.consume(
      await h.telegram.links.createCode({ userId: ANNA, name: 'Анна Смирнова' }, 60_000),
      '5001',
    );
    await h.push(
      {
        audience: { kind: 'manager', userId: ANNA },
        template: 'lead_assigned',
        params: { leadId: 77, manager: 'Анна Смирнова', deadline: '12:10', timeout: '15 мин' },
        leadId: 77,
      },
      'la77',
    );
    await waitFor(() => h.stub.chat(5001).length === 1, 'the new-lead message');
    const msg = h.stub.chat(5001)[0]!;

    // A call before the assignment, and one by someone else, do not count.
    events = [
      {
        id: 'e1',
        type: 'outgoing_call',
        entity_id: 77,
        entity_type: 'lead',
        created_by: ANNA,
        created_at: Date.parse('2026-03-03T08:50:00Z') / 1000,
      } as ApiEvent,
      {
        id: 'e2',
        type: 'outgoing_call',
        entity_id: 77,
        entity_type: 'lead',
        created_by: 9102,
        created_at: Date.parse('2026-03-03T08:58:00Z') / 1000,
      } as ApiEvent,
    ];
    await h.stub.pressButton(5001, msg.messageId, 'take:77');
    await waitFor(() => h.stub.answeredCallbacks.length === 1, 'the answer');
    expect(h.stub.answeredCallbacks[0]!.text).toContain(
      'Пока не засчитано: после назначения (3 марта 11:55) в сделке нет вашего исходящего звонка или примечания',
    );
    expect(pickupCalls).toHaveLength(0);

    events.push({
      id: 'e3',
      type: 'outgoing_call',
      entity_id: 77,
      entity_type: 'lead',
      created_by: ANNA,
      created_at: Date.parse('2026-03-03T08:59:00Z') / 1000,
    } as ApiEvent);
    await h.stub.pressButton(5001, msg.messageId, 'take:77');
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'the second answer');
    expect(h.stub.answeredCallbacks[1]!.text).toBe('Отмечено: клиент взят в работу.');
    expect(pickupCalls).toEqual([{ op: 'taken', leadId: 77, userId: ANNA }]);
    // The message turning into "taken" is the pickup rule's own message (test/integration/telegram-pickup.test.ts).
    expect(h.stub.chat(5001)).toHaveLength(1);
  });
});

describe('telegram bot (webhook mode)', () => {
  test('when Telegram posts to /telegram/webhook, then only the right secret token is accepted and the update is handled by a worker', async () => {
    const app = Fastify();
    const bound: { current?: TelegramHarness } = {};
    const routeEnv = {
      token: STUB_TOKEN,
      apiRoot: 'http://unused',
      webhookUrl: 'https://bot.example/telegram/webhook',
    };
    telegramWebhookRoute(routeEnv, () => bound.current?.telegram)(app);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const h = await startTelegramHarness({ rules, webhookUrl: `${url}/telegram/webhook` });
    bound.current = h;
    try {
      await h.telegram.start();
      expect(h.stub.webhook).toEqual({ url: `${url}/telegram/webhook`, secretToken: webhookSecret(routeEnv) });
      const update = {
        update_id: 5,
        message: {
          message_id: 1,
          date: 1,
          chat: { id: 6100, type: 'private' },
          from: { id: 6100, is_bot: false, first_name: 'X' },
          text: 'привет',
        },
      };
      const wrong = await app.inject({
        method: 'POST',
        url: '/telegram/webhook',
        headers: { 'x-telegram-bot-api-secret-token': 'not-the-secret' },
        payload: update,
      });
      expect(wrong.statusCode).toBe(401);
      const missing = await app.inject({ method: 'POST', url: '/telegram/webhook', payload: update });
      expect(missing.statusCode).toBe(401);
      // Positive control: the stub posts with the registered secret, and the stranger gets the refusal.
      await h.stub.userMessage(6100, '/today');
      await waitFor(() => replies(h, 6100).length === 1, 'the refusal sent by the worker');
      expect(replies(h, 6100)[0]).toContain('Этот бот работает только для сотрудников');
      expect(h.stub.calls.filter((c) => c.method === 'getUpdates')).toHaveLength(0);
    } finally {
      await h.close();
      await app.close();
    }
  });
});
