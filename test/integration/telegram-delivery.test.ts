/**
 * Telegram delivery on real Redis and BullMQ against the Bot API stub: what reaches each chat, edited in place,
 * within Telegram's limits, and nothing lost or doubled when the stub misbehaves.
 */
import type { CompiledRules } from '../../src/rules/types.js';
import { compileTelegram } from '../../src/config/compile.js';
import { TelegramRulesSchema } from '../../src/config/schema.js';
import { demoRules } from '../helpers/rules.js';
import {
  AMO_BASE,
  DEPT1_CHAT,
  linkChat,
  seededRandom,
  settled,
  startTelegramHarness,
  type TelegramHarness,
} from '../helpers/telegram.js';
import { SHARED_TELEGRAM_LIMITS } from '../../src/telegram/shared-limit.js';
import { waitFor } from '../helpers/wait.js';

const ANNA = 9101; // Анна Смирнова, Отдел продаж 1
const BORIS = 9102; // Борис Кузнецов
const ELKA = '<Ёлка & "Ко">';
const ELKA_HTML = '&lt;Ёлка &amp; &quot;Ко&quot;&gt;';

let base: CompiledRules;
const withTelegram = (section: Record<string, unknown>): CompiledRules => ({
  ...base,
  telegram: compileTelegram(
    TelegramRulesSchema.parse(section),
    base.departments.map((d) => d.name),
    undefined,
  ),
});

beforeAll(async () => {
  base = await demoRules();
});

describe('telegram delivery', () => {
  let h: TelegramHarness;
  afterEach(async () => {
    await h?.close();
  });

  test('when a lead is assigned to a linked manager, then one message with the client, source, link, deadline and a "taken" button', async () => {
    h = await startTelegramHarness({
      rules: withTelegram({}),
      deps: {
        amo: {
          getLead: async (id) => ({ id, name: ELKA, _embedded: { tags: [{ id: 1, name: 'Авито' }] } }) as never,
          listEvents: async () => [],
        },
      },
    });
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    await h.push(
      {
        audience: { kind: 'manager', userId: ANNA },
        template: 'lead_assigned',
        params: { leadId: 777, manager: 'Анна Смирнова', deadline: '3 марта 12:15', timeout: '15 мин' },
        leadId: 777,
      },
      'lead-assigned:777:1',
    );
    await settled(h);

    const chat = h.stub.chat(5001);
    expect(chat).toHaveLength(1);
    const m = chat[0]!;
    expect(m.parseMode).toBe('HTML');
    expect(m.text).toContain('🆕 <b>Новый клиент: возьмите в работу до 3 марта 12:15</b>');
    expect(m.text).toContain(`Клиент: ${ELKA_HTML}`);
    expect(m.text).not.toContain(ELKA);
    expect(m.text).toContain('Источник: Авито');
    expect(m.text).toContain(`<a href="${AMO_BASE}/leads/detail/777">Сделка №777 в amoCRM</a>`);
    expect(m.replyMarkup).toEqual({ inline_keyboard: [[{ text: '✅ Взял в работу', callback_data: 'take:777' }]] });
    expect(m.disableNotification).toBe(false);
  });

  test('when an incident develops (missed → reassigned → handed to the РОП → taken), then the РОП chat has one message edited in place', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}) });
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    const dept = { kind: 'department' as const, department: 'Отдел продаж 1', chatId: DEPT1_CHAT };
    await h.push(
      {
        audience: { kind: 'manager', userId: ANNA },
        template: 'lead_assigned',
        params: { leadId: 42, manager: 'Анна Смирнова', deadline: '3 марта 12:15', timeout: '15 мин' },
        leadId: 42,
      },
      'a1',
    );
    await settled(h);
    await h.push(
      {
        audience: dept,
        template: 'pickup_missed',
        params: { leadId: 42, missed: 'Анна Смирнова', manager: 'Борис Кузнецов', misses: 1, timeout: '15 мин' },
        leadId: 42,
      },
      'm1',
    );
    await settled(h);
    await h.push(
      {
        audience: dept,
        template: 'pickup_missed',
        params: { leadId: 42, missed: 'Борис Кузнецов', manager: 'Виктор Попов', misses: 2, timeout: '15 мин' },
        leadId: 42,
      },
      'm2',
    );
    await settled(h);
    await h.push(
      {
        audience: dept,
        template: 'pickup_fallback',
        params: {
          leadId: 42,
          fallback: 'Дмитрий Лебедев',
          why: 'клиента не взяли в работу 3 раза подряд',
          missed: 'Анна Смирнова, Борис Кузнецов, Виктор Попов',
        },
        leadId: 42,
      },
      'f1',
    );
    await settled(h);

    const chat = h.stub.chat(DEPT1_CHAT);
    expect(chat).toHaveLength(1);
    expect(chat[0]!.edits).toBe(2);
    const text = chat[0]!.text;
    expect(text.startsWith('🔴 <b>Клиент передан РОПу</b>')).toBe(true);
    expect(text).toContain('Анна Смирнова не взял(а) за 15 мин → передан(а): Борис Кузнецов (пропусков: 1)');
    expect(text).toContain('Борис Кузнецов не взял(а) за 15 мин → передан(а): Виктор Попов (пропусков: 2)');
    expect(text).toContain('передан(а): Дмитрий Лебедев. Причина: клиента не взяли в работу 3 раза подряд');
    // Only the РОП's buttons remain once the lead is with the РОП.
    expect(chat[0]!.replyMarkup).toEqual({
      inline_keyboard: [[{ text: '🔁 Переназначить', callback_data: 'reassign:42' }]],
    });
    // Anna's own message was edited too: the lead is no longer hers.
    const anna = h.stub.chat(5001);
    expect(anna).toHaveLength(1);
    expect(anna[0]!.edits).toBe(1);
    expect(anna[0]!.text.startsWith('↪️ <b>Клиент передан другому менеджеру</b>')).toBe(true);
    expect(anna[0]!.replyMarkup).toBeUndefined();

    await h.push(
      {
        audience: dept,
        template: 'pickup_taken',
        params: { leadId: 42, manager: 'Дмитрий Лебедев' },
        leadId: 42,
        priority: 'low',
      },
      't1',
    );
    await settled(h);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(1);
    expect(h.stub.chat(DEPT1_CHAT)[0]!.text.startsWith('✅ <b>Клиент взят в работу</b>')).toBe(true);
    expect(h.stub.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(2); // one per chat, everything else edits
  });

  test('when a daily report is longer than 4096 characters, then it is split on line boundaries and a chart goes first as a photo', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}) });
    // 120 lines of 50 characters: 6119 characters in all.
    const lines = Array.from({ length: 120 }, (_, i) => `<b>${String(i).padStart(3, '0')}</b> ${'x'.repeat(39)}`);
    expect(lines.every((l) => l.length === 50)).toBe(true);
    const html = lines.join('\n');
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'report_monthly',
        params: { html, chartPngBase64: Buffer.from('png-bytes').toString('base64') },
      },
      'r1',
    );
    await settled(h);
    const chat = h.stub.chat(DEPT1_CHAT);
    expect(chat.map((m) => Boolean(m.photo))).toEqual([true, false, false]);
    expect(chat[0]!.text).toBe('🏆 Рейтинг менеджеров за месяц');
    // 80 lines fit in 4096 (80 × 50 + 79 newlines = 4079); 81 would not (4130).
    expect(chat[1]!.text).toBe(lines.slice(0, 80).join('\n'));
    expect(chat[2]!.text).toBe(lines.slice(80).join('\n'));
    expect(h.stub.calls.every((c) => c.status === 200)).toBe(true);
  });

  test('when Telegram answers 429 with retry_after, then the next call comes no earlier than retry_after later and the message is sent once', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}) });
    h.stub.rateLimitNext(1, 1, 'sendMessage');
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'violation',
        params: {
          type: 'lead_stale',
          rule: 'R10',
          seed: 'seed 002 §2.6',
          leadId: 5,
          since: '2026-03-01T09:00:00Z',
          violationId: 'lead_stale:5:1',
        },
        leadId: 5,
      },
      'v5',
    );
    await settled(h);
    const sends = h.stub.calls.filter((c) => c.method === 'sendMessage');
    expect(sends.map((c) => c.status)).toEqual([429, 200]);
    expect(sends[1]!.at - sends[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(1);
  });

  test('when Telegram answers 429 to one chat, then no message goes to any other chat before retry_after ends either', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}) });
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    await linkChat(h, BORIS, 'Борис Кузнецов', 5002);
    h.stub.rateLimitNext(1, 2, 'sendMessage');
    const assigned = (userId: number, leadId: number, manager: string) =>
      h.push(
        {
          audience: { kind: 'manager', userId },
          template: 'lead_assigned',
          params: { leadId, manager, deadline: '12:00', timeout: '15 мин' },
          leadId,
        },
        `la${leadId}`,
      );
    await assigned(ANNA, 11, 'Анна Смирнова');
    const limited = await waitFor(
      () => h.stub.calls.find((c) => c.method === 'sendMessage' && c.status === 429),
      'the 429',
    );
    // Another chat's message, queued once the 429 was given: it waits out the 2 s Telegram asked for.
    await assigned(BORIS, 12, 'Борис Кузнецов');
    await settled(h);
    const later = h.stub.calls.filter((c) => c.method === 'sendMessage' && c.at > limited.at);
    expect(later.map((c) => c.status)).toEqual([200, 200]);
    for (const c of later) expect(c.at - limited.at).toBeGreaterThanOrEqual(1900);
    expect([h.stub.chat(5001).length, h.stub.chat(5002).length]).toEqual([1, 1]);
  });

  test('when a manager blocked the bot, then the chat is marked gone once, its messages are recorded undeliverable and never retried', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}) });
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    await linkChat(h, BORIS, 'Борис Кузнецов', 5002);
    h.stub.block(5002);
    for (const leadId of [1, 2, 3]) {
      await h.push(
        {
          audience: { kind: 'manager', userId: BORIS },
          template: 'lead_assigned',
          params: { leadId, manager: 'Борис Кузнецов', deadline: '12:00', timeout: '15 мин' },
          leadId,
        },
        `b${leadId}`,
      );
    }
    // Positive control: the same kind of message to a chat that works arrives.
    await h.push(
      {
        audience: { kind: 'manager', userId: ANNA },
        template: 'lead_assigned',
        params: { leadId: 9, manager: 'Анна Смирнова', deadline: '12:00', timeout: '15 мин' },
        leadId: 9,
      },
      'a9',
    );
    await settled(h);
    await h.push(
      {
        audience: { kind: 'manager', userId: BORIS },
        template: 'lead_assigned',
        params: { leadId: 4, manager: 'Борис Кузнецов', deadline: '12:00', timeout: '15 мин' },
        leadId: 4,
      },
      'b4',
    );
    await settled(h);

    expect(h.stub.chat(5001)).toHaveLength(1);
    const toBoris = h.stub.calls.filter((c) => c.chatId === '5002');
    expect(toBoris.length).toBeGreaterThanOrEqual(1);
    expect(toBoris.every((c) => c.status === 403)).toBe(true);
    // Only the first batch reached Telegram; lead 4 came after the chat was known to be gone.
    expect(toBoris.length).toBeLessThanOrEqual(3);
    const undeliverable = (await h.redis.lrange(h.keys.tagged('tg', 'undeliverable'), 0, -1)).map(
      (r) => JSON.parse(r) as { chatId: string; leadId: number },
    );
    expect(
      undeliverable
        .filter((u) => u.chatId === '5002')
        .map((u) => u.leadId)
        .sort(),
    ).toEqual([1, 2, 3, 4]);
    expect(await h.redis.get(h.keys.tagged('tg', 'dead', '5002', 'alerted'))).toBe('1');
  });

  test('when the stub fails 30% of calls, then every message of a working day arrives exactly once, in order per chat', async () => {
    h = await startTelegramHarness({ rules: withTelegram({ burstThreshold: 100 }), stubRandom: seededRandom(7) });
    h.stub.failRate(0.3);
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    await linkChat(h, BORIS, 'Борис Кузнецов', 5002);
    const expected = new Map<string, number[]>([
      ['5001', []],
      ['5002', []],
      [DEPT1_CHAT, []],
    ]);
    for (let leadId = 100; leadId < 124; leadId++) {
      const to = leadId % 3;
      if (to === 0) {
        await h.push(
          {
            audience: { kind: 'manager', userId: ANNA },
            template: 'lead_assigned',
            params: { leadId, manager: 'Анна Смирнова', deadline: '12:00', timeout: '15 мин' },
            leadId,
          },
          `d${leadId}`,
        );
        expected.get('5001')!.push(leadId);
      } else if (to === 1) {
        await h.push(
          {
            audience: { kind: 'manager', userId: BORIS },
            template: 'lead_assigned',
            params: { leadId, manager: 'Борис Кузнецов', deadline: '12:00', timeout: '15 мин' },
            leadId,
          },
          `d${leadId}`,
        );
        expected.get('5002')!.push(leadId);
      } else {
        await h.push(
          {
            audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
            template: 'violation',
            params: {
              type: 'call_overdue',
              rule: 'R3',
              seed: 'seed 001',
              leadId,
              since: '2026-03-02T10:00:00Z',
              violationId: `call_overdue:${leadId}`,
            },
            leadId,
          },
          `d${leadId}`,
        );
        expected.get(DEPT1_CHAT)!.push(leadId);
      }
    }
    await settled(h, 25_000);
    expect(h.stub.calls.some((c) => c.status === 500)).toBe(true); // the faults happened
    for (const [chatId, leads] of expected) {
      const got = h.stub.chat(chatId).map((m) => Number(/leads\/detail\/(\d+)/.exec(m.text)?.[1]));
      expect(got).toEqual(leads);
    }
  });

  test("when several messages go to one group chat with Telegram's default limits, then the stub sees them at least a second apart, in order", async () => {
    h = await startTelegramHarness({
      rules: withTelegram({ burstThreshold: 100 }),
      deps: { sharedLimits: SHARED_TELEGRAM_LIMITS },
    });
    for (const leadId of [201, 202, 203]) {
      await h.push(
        {
          audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
          template: 'violation',
          params: { type: 'lead_stale', rule: 'R10', leadId, violationId: `ls:${leadId}` },
          leadId,
        },
        `ls${leadId}`,
      );
    }
    await settled(h);
    const sends = h.stub.calls.filter((c) => c.method === 'sendMessage');
    expect(sends).toHaveLength(3);
    expect(sends[1]!.at - sends[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(sends[2]!.at - sends[1]!.at).toBeGreaterThanOrEqual(1000);
    expect(h.stub.chat(DEPT1_CHAT).map((m) => Number(/leads\/detail\/(\d+)/.exec(m.text)?.[1]))).toEqual([
      201, 202, 203,
    ]);
  });

  test('when many alerts wait for one chat, then they go out as one digest', async () => {
    h = await startTelegramHarness({ rules: withTelegram({ burstThreshold: 5 }), manualWorkers: true });
    for (let leadId = 1; leadId <= 8; leadId++) {
      await h.push(
        {
          audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
          template: 'violation',
          params: {
            type: 'offer_stale',
            rule: 'R9',
            seed: 'seed 001 «Отправлено КП»',
            leadId,
            since: '2026-02-25T10:00:00Z',
            violationId: `offer_stale:${leadId}`,
          },
          leadId,
        },
        `o${leadId}`,
      );
    }
    await h.telegram.delivery.route();
    h.startWorkers();
    await settled(h);
    const chat = h.stub.chat(DEPT1_CHAT);
    expect(chat).toHaveLength(1);
    expect(chat[0]!.text.split('\n')[0]).toBe('📋 <b>Сводка: 8 уведомлений</b>');
    for (let leadId = 1; leadId <= 8; leadId++)
      expect(chat[0]!.text).toContain(`<a href="${AMO_BASE}/leads/detail/${leadId}">№${leadId}</a>`);
  });
});

describe('telegram hygiene over fake time', () => {
  let h: TelegramHarness;
  afterEach(async () => {
    await h?.close();
  });

  const violation = (leadId: number, type: string, userId?: number) => ({
    audience: { kind: 'department' as const, department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
    template: 'violation',
    params: {
      type,
      rule: 'R3',
      seed: 'seed 001 «Не дозвонились»',
      leadId,
      since: '2026-03-03T08:00:00Z',
      violationId: `${type}:${leadId}`,
      ...(userId !== undefined ? { userId } : {}),
    },
    leadId,
  });

  test('when alerts come in quiet hours, then they are held and delivered as one digest when the hours end; one per lead and type per window', async () => {
    // 22:30 in Moscow; quiet hours 21:00-09:00.
    h = await startTelegramHarness({
      rules: withTelegram({ quietHours: '21:00-09:00', alertWindow: 'PT4H' }),
      now: '2026-03-03T19:30:00Z',
    });
    await h.push(violation(1, 'call_overdue'), 'q1');
    await h.push(violation(1, 'call_overdue'), 'q1-again'); // same lead and type within the window
    await h.push(violation(2, 'call_overdue'), 'q2');
    // Positive control: a report is not held.
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'report_daily',
        params: { html: '📊 <b>Сводка</b>' },
      },
      'rep',
    );
    await settled(h);
    expect(h.stub.chat(DEPT1_CHAT).map((m) => m.text)).toEqual(['📊 <b>Сводка</b>']);

    h.clock.set('2026-03-04T05:59:00Z'); // 08:59: still quiet
    await h.telegram.delivery.sweep();
    await settled(h);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(1);

    h.clock.set('2026-03-04T06:00:30Z'); // 09:00:30
    await h.telegram.delivery.sweep();
    await settled(h);
    const chat = h.stub.chat(DEPT1_CHAT);
    expect(chat).toHaveLength(2);
    const digest = chat[1]!.text.split('\n');
    expect(digest[0]).toBe('🌙 <b>Пока действовали тихие часы: 2 уведомления</b>');
    expect(digest.filter((l) => l.startsWith('• '))).toHaveLength(2);

    // Within 4 hours of the first alert (19:30Z) nothing new about lead 1; after them, one again.
    h.clock.set('2026-03-04T06:10:00Z');
    await h.push(violation(1, 'call_overdue'), 'q1-next-day');
    await settled(h);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(3);
    expect(h.stub.chat(DEPT1_CHAT)[2]!.text).toContain('№1 в amoCRM');
  });

  test('when a violation stays open, then the manager hears first and the РОП after the escalation delay; a resolved one never escalates', async () => {
    h = await startTelegramHarness({ rules: withTelegram({ escalateAfter: 'PT30M' }), now: '2026-03-03T09:00:00Z' });
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    await h.push(violation(10, 'meeting_without_time', ANNA), 'e10');
    await h.push(violation(11, 'meeting_without_time', ANNA), 'e11');
    await settled(h);
    expect(h.stub.chat(5001)).toHaveLength(2);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(0);
    await h.push(
      {
        audience: { kind: 'department', department: 'Отдел продаж 1', chatId: DEPT1_CHAT },
        template: 'violation_resolved',
        params: { type: 'meeting_without_time', leadId: 11, userId: ANNA, violationId: 'meeting_without_time:11' },
        leadId: 11,
      },
      'r11',
    );
    await settled(h);
    expect(
      h.stub
        .chat(5001)
        .find((m) => m.text.includes('№11 в amoCRM'))!
        .text.startsWith('✅ <b>Нарушение устранено'),
    ).toBe(true);

    h.clock.set('2026-03-03T09:29:00Z');
    await h.telegram.delivery.sweep();
    await settled(h);
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(0);

    h.clock.set('2026-03-03T09:31:00Z');
    await h.telegram.delivery.sweep();
    await settled(h);
    const dept = h.stub.chat(DEPT1_CHAT);
    expect(dept).toHaveLength(1);
    expect(dept[0]!.text).toContain('№10 в amoCRM');
    expect(dept[0]!.text).toContain('не исправлено за 30 мин, передано РОПу');
    expect(dept[0]!.text).toContain('менеджер: Анна Смирнова');
  });

  test('when there is no bot token, then nothing is sent and every message is handed to onWouldSend', async () => {
    h = await startTelegramHarness({ rules: withTelegram({}), token: undefined });
    const seen: string[] = [];
    h.telegram.onWouldSend((m) => seen.push(`${m.chatId}: ${m.text.split('\n')[0]}`));
    await h.push(
      {
        audience: { kind: 'manager', userId: ANNA },
        template: 'lead_assigned',
        params: { leadId: 3, manager: 'Анна Смирнова', deadline: '12:00', timeout: '15 мин' },
        leadId: 3,
      },
      'n3',
    );
    await settled(h);
    await waitFor(() => seen.length === 1, 'a message that would have been sent');
    expect(seen).toEqual([`manager-${ANNA}: 🆕 <b>Новый клиент: возьмите в работу до 12:00</b>`]);
    expect(h.stub.calls).toHaveLength(0);
  });
});
