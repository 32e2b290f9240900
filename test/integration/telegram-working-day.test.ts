/**
 * A working day of Отдел продаж 1 on fake time, with the Bot API stub failing 30% of calls (500) and answering 429
 * now and then: new leads, misses and reassignments, takes, a lead handed to the РОП, two violations (one escalated,
 * one resolved, one repeat suppressed) and the 20:00 digest. Every message goes through the real pickup rule,
 * outbox, router, delivery workers and reports. At the end the stub holds exactly the messages listed below by hand:
 * none lost, none doubled, none over 4096 characters, each chat's calls spaced by its limit; the digest's numbers
 * are the record's.
 */
import { createLogger } from '../../src/lib/logger.js';
import { createReports } from '../../src/reports/reports.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { demoRules } from '../helpers/rules.js';
import {
  chatOf,
  DEPT1_MANAGERS,
  HEAD1,
  HEAD1_TG,
  NAMES,
  startPickupTelegram,
  type PickupTelegram,
} from '../helpers/pickup-telegram.js';
import { DEPT1_CHAT, linkChat, seededRandom, settled } from '../helpers/telegram.js';

const ANNA = 9101;
const BORIS = 9102;
const VIKTOR = 9103;
const GALINA = 9104;
const TIMEOUT_MS = 15_000; // demo rules: PT15S
/** Per-chat spacing in this test (Telegram's is about 1 s): long enough to check at half of it despite jitter. */
const PER_CHAT_MS = 600;

const dept = { kind: 'department' as const, department: 'Отдел продаж 1', chatId: DEPT1_CHAT };
const msk = (hhmm: string): string =>
  `2026-11-24T${String(Number(hhmm.slice(0, 2)) - 3).padStart(2, '0')}:${hhmm.slice(3)}:00.000Z`;

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

test('when a day of leads, misses, takes and violations is delivered through a failing Telegram, then the stub holds exactly the expected messages and the digest matches the record', async () => {
  const h: PickupTelegram = await startPickupTelegram({
    rules,
    now: msk('09:00'),
    stubRandom: seededRandom(11),
    deps: {
      sharedLimits: {
        global: { max: 30, windowMs: 1000 },
        perChatMs: PER_CHAT_MS,
        group: { minMs: PER_CHAT_MS, max: 20, windowMs: 60_000 },
      },
    },
  });
  try {
    for (const userId of DEPT1_MANAGERS) await linkChat(h, userId, NAMES[userId]!, chatOf(userId));
    await linkChat(h, HEAD1, NAMES[HEAD1]!, HEAD1_TG);
    const reports = createReports({
      redis: h.redis,
      keys: h.keys,
      records: h.records,
      outbox: h.outbox,
      rules: () => rules,
      clock: h.clock,
      logger: createLogger({ level: 'silent' }),
    });
    h.stub.failRate(0.3);
    h.stub.rateLimitNext(2, 1, 'sendMessage');

    // Smooth weighted round robin over Анна 2, Борис 1, Виктор 1, Галина 1 (scores start at 0; a missed manager is
    // left out of that lead's picks and keeps their score), worked out by hand:
    // 09:00 lead 10: scores 2,1,1,1 → Анна (-3,1,1,1). She calls at once: taken.
    await h.newLead(900_010);
    h.clock.advance(5_000);
    await h.call(900_010, ANNA);
    expect(h.fake.state.get(900_010)!.responsible).toBe(ANNA);

    // 09:10 lead 12: -1,2,2,2 → Борис (-1,-3,2,2). He misses; without him: 1,_,3,3 (of 4) → Виктор (1,-3,-1,3),
    // who calls: taken.
    h.clock.set(msk('09:10'));
    await h.newLead(900_012);
    expect(h.fake.state.get(900_012)!.responsible).toBe(BORIS);
    await h.advance(TIMEOUT_MS + 1_000);
    expect(h.fake.state.get(900_012)!.responsible).toBe(VIKTOR);
    h.clock.advance(3_000);
    await h.call(900_012, VIKTOR);

    // 10:00 lead 14: 3,-2,0,4 → Галина (3,-2,0,-1); misses → of А,Б,В: 5,-1,1 → Анна (1,-1,1,-1); misses → of Б,В:
    // 0,2 → Виктор (1,-1,0,-1); misses: the third miss hands it to the РОП.
    h.clock.set(msk('10:00'));
    await h.newLead(900_014);
    expect(h.fake.state.get(900_014)!.responsible).toBe(GALINA);
    await h.advance(TIMEOUT_MS + 1_000);
    expect(h.fake.state.get(900_014)!.responsible).toBe(ANNA);
    await h.advance(TIMEOUT_MS + 1_000);
    expect(h.fake.state.get(900_014)!.responsible).toBe(VIKTOR);
    await h.advance(TIMEOUT_MS + 1_000);
    expect(h.fake.state.get(900_014)!.responsible).toBe(HEAD1);
    await settled(h, 60_000);

    // 11:00 a stage rule finds Борис closed lead 20 without a reason; it finds it again at 11:10 (same window).
    // 12:00 Галина's offer on lead 22 is stale; she fixes it at 12:10.
    const violation = (leadId: number, type: string, userId: number) => ({
      audience: dept,
      template: 'violation',
      params: {
        type,
        rule: type === 'close_without_reason' ? 'R5' : 'R9',
        leadId,
        userId,
        since: h.clock.now().toISOString(),
        violationId: `${type}:${leadId}`,
      },
      leadId,
      reason: 'stage rule',
    });
    const recordViolation = (leadId: number, type: string, userId: number) =>
      h.records.append(
        {
          kind: 'violation',
          type,
          at: h.clock.now().toISOString(),
          leadId,
          userId,
          rule: type === 'close_without_reason' ? 'R5' : 'R9',
          violationId: `${type}:${leadId}`,
          reason: 'stage rule',
        },
        `v:${type}:${leadId}`,
      );
    h.clock.set(msk('11:00'));
    await h.push(violation(900_020, 'close_without_reason', BORIS), 'v20');
    await recordViolation(900_020, 'close_without_reason', BORIS);
    h.clock.set(msk('11:10'));
    await h.push(violation(900_020, 'close_without_reason', BORIS), 'v20-again');
    await settled(h, 60_000);
    h.clock.set(msk('11:31'));
    await h.telegram.delivery.sweep(); // 31 minutes open: escalated to the РОП
    h.clock.set(msk('12:00'));
    await h.push(violation(900_022, 'offer_stale', GALINA), 'v22');
    await recordViolation(900_022, 'offer_stale', GALINA);
    await settled(h, 60_000);
    h.clock.set(msk('12:10'));
    await h.push(
      {
        audience: dept,
        template: 'violation_resolved',
        params: { type: 'offer_stale', leadId: 900_022, userId: GALINA, violationId: 'offer_stale:900022' },
        leadId: 900_022,
        reason: 'fixed',
      },
      'r22',
    );
    await h.records.append(
      {
        kind: 'action',
        type: 'violation_resolved',
        at: h.clock.now().toISOString(),
        leadId: 900_022,
        userId: GALINA,
        rule: 'R9',
        violationId: 'offer_stale:900022',
        reason: 'fixed',
      },
      'r22',
    );
    await settled(h, 60_000);
    h.clock.set(msk('12:31'));
    await h.telegram.delivery.sweep(); // resolved: no escalation

    // 20:00: the digest.
    h.clock.set(msk('20:00'));
    // Both departments are due; Отдел продаж 2 had no activity and gets no digest of zeros.
    expect((await reports.tick()).map((d) => `${d.kind} ${d.department}`)).toEqual([
      'daily Отдел продаж 1',
      'daily Отдел продаж 2',
    ]);
    expect(h.stub.chat('-1001000000002')).toHaveLength(0);
    await settled(h, 60_000);

    // ---- what the stub holds ----------------------------------------------------------------------------------
    const titles = (chatId: number | string): string[] =>
      h.stub.chat(chatId).map((m) => `${/leads\/detail\/(\d+)/.exec(m.text)?.[1] ?? '-'} ${m.text.split('\n')[0]}`);
    expect(titles(chatOf(ANNA))).toEqual([
      '900010 ✅ <b>Клиент взят в работу</b>',
      '900014 ↪️ <b>Клиент передан другому менеджеру</b>',
    ]);
    expect(titles(chatOf(BORIS))).toEqual([
      '900012 ↪️ <b>Клиент передан другому менеджеру</b>',
      '900020 ⚠️ <b>Нарушение: закрытие без указания причины</b>',
    ]);
    expect(titles(chatOf(VIKTOR))).toEqual([
      '900012 ✅ <b>Клиент взят в работу</b>',
      '900014 ↪️ <b>Клиент передан другому менеджеру</b>',
    ]);
    expect(titles(chatOf(GALINA))).toEqual([
      '900014 ↪️ <b>Клиент передан другому менеджеру</b>',
      '900022 ✅ <b>Нарушение устранено: сделка в «Отправлено КП» дольше, чем 40 сек</b>',
    ]);
    expect(titles(DEPT1_CHAT)).toEqual([
      '900012 ✅ <b>Клиент взят в работу</b>',
      '900014 🔴 <b>Клиент передан РОПу</b>',
      '900020 ⚠️ <b>Нарушение: закрытие без указания причины</b>',
      '- <b>📊 Итоги дня 24 ноября 2026 — Отдел продаж 1</b>',
    ]);
    // The lead handed to the РОП: its one message tells the whole story.
    const c14 = h.stub.chat(DEPT1_CHAT)[1]!.text;
    expect(c14).toContain('Галина Соколова не взял(а) за 15 сек → передан(а): Анна Смирнова (пропусков: 1)');
    expect(c14).toContain('Анна Смирнова не взял(а) за 15 сек → передан(а): Виктор Попов (пропусков: 2)');
    expect(c14).toContain('передан(а): Дмитрий Лебедев. Причина: клиента не взяли в работу 3 раза подряд');
    expect(h.stub.chat(DEPT1_CHAT)[2]!.text).toContain('не исправлено за 30 мин, передано РОПу');
    expect(h.stub.chat(chatOf(VIKTOR))[1]!.text).toContain('теперь у: Дмитрий Лебедев');

    // Twelve messages in all, each sent once (everything else was an edit), none too long, none lost.
    const sent = h.stub.calls.filter((c) => c.method === 'sendMessage' && c.status === 200);
    expect(sent).toHaveLength(12);
    expect([...h.stub.messages.values()].every((m) => m.text.length <= 4096)).toBe(true);
    expect(h.stub.calls.some((c) => c.status === 500)).toBe(true);
    expect(h.stub.calls.some((c) => c.status === 429)).toBe(true);
    expect(await h.redis.llen(h.telegram.delivery.keys.undeliverable)).toBe(0);
    // Each chat's calls were spaced by its limit (checked at half of it: arrivals jitter, reservations do not).
    for (const chatId of [...DEPT1_MANAGERS.map((u) => String(chatOf(u))), DEPT1_CHAT]) {
      const at = h.stub.calls.filter((c) => c.chatId === chatId).map((c) => c.at);
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(PER_CHAT_MS / 2);
    }

    // The digest's numbers are the record's (counted by hand from the script above).
    const digest = h.stub.chat(DEPT1_CHAT)[3]!.text;
    const block = (name: string): string => digest.slice(digest.indexOf(`<b>${name}</b>`)).split('\n\n')[0]!;
    expect(block('Анна Смирнова')).toContain('Заявок получено: 2, взято вовремя: 1, пропущено: 1');
    expect(block('Анна Смирнова')).toContain('Нарушений: 1, открытых: 1');
    expect(block('Борис Кузнецов')).toContain('Заявок получено: 1, взято вовремя: 0, пропущено: 1');
    expect(block('Борис Кузнецов')).toContain('Нарушений: 2, открытых: 2');
    expect(block('Виктор Попов')).toContain('Заявок получено: 2, взято вовремя: 1, пропущено: 1');
    expect(block('Галина Соколова')).toContain('Заявок получено: 1, взято вовремя: 0, пропущено: 1');
    expect(block('Галина Соколова')).toContain('Нарушений: 2, открытых: 1');
    expect(digest).toContain('Заявок получено: 6, взято вовремя: 2, пропущено: 4');
  } finally {
    await h.close();
  }
}, 180_000);
