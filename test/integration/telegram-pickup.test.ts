/**
 * An incident's whole life in Telegram, driven by the real pickup rule: a new lead opens a message, a miss or the
 * РОП's «Переназначить» edits it to "reassigned", and however the lead is taken (a call's webhook, a call seen only
 * at the deadline, the «Взял в работу» button) the same messages are edited to "taken"; never a new one.
 */
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
import { DEPT1_CHAT, linkChat, settled } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const START = '2026-11-24T10:00:00Z'; // a Tuesday; Отдел продаж 1 works round the clock in the demo rules
const ANNA = 9101; // weight 2 of 5: the rotation's first pick in a fresh pool
const TIMEOUT_MS = 15_000; // demo rules: PT15S

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

const about = (h: PickupTelegram, chatId: number | string, leadId: number) =>
  h.stub.chat(chatId).filter((m) => m.text.includes(`/leads/detail/${leadId}"`));

async function linkAll(h: PickupTelegram): Promise<void> {
  for (const userId of DEPT1_MANAGERS) await linkChat(h, userId, NAMES[userId]!, chatOf(userId));
  await linkChat(h, HEAD1, NAMES[HEAD1]!, HEAD1_TG);
}

describe('an incident in Telegram through the pickup rule', () => {
  let h: PickupTelegram;
  afterEach(async () => {
    await h?.close();
  });

  test('when the manager calls and the call webhook arrives, then their new-lead message turns into "taken" in place and the РОП hears nothing', async () => {
    h = await startPickupTelegram({ rules, now: START });
    await linkAll(h);
    await h.newLead(900_002);
    await settled(h);
    expect(h.fake.state.get(900_002)!.responsible).toBe(ANNA);
    expect(about(h, chatOf(ANNA), 900_002)).toHaveLength(1);
    expect(about(h, chatOf(ANNA), 900_002)[0]!.text.startsWith('🆕 <b>Новый клиент')).toBe(true);

    h.clock.advance(5_000);
    await h.call(900_002, ANNA);
    await settled(h);
    expect((await h.pickups.get(900_002)).phase).toBe('taken');
    const [message] = about(h, chatOf(ANNA), 900_002);
    expect(about(h, chatOf(ANNA), 900_002)).toHaveLength(1);
    expect(message!.edits).toBe(1);
    expect(message!.text.startsWith('✅ <b>Клиент взят в работу</b>')).toBe(true);
    expect(message!.text).toContain('Анна Смирнова взял(а) в работу (исходящий звонок)');
    expect(message!.replyMarkup).toBeUndefined(); // the "taken" button is gone
    // The РОП's chat had no message about this lead, and "taken" starts none.
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(0);
    expect(h.stub.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);
  });

  test('when the first manager misses and the second one\'s call is seen only at the deadline, then every chat\'s one message ends "taken" (or "given away")', async () => {
    h = await startPickupTelegram({ rules, now: START });
    await linkAll(h);
    const lead = 900_004;
    await h.newLead(lead);
    await settled(h);
    await h.advance(TIMEOUT_MS + 1_000);
    await settled(h);
    const second = h.fake.state.get(lead)!.responsible;
    expect(DEPT1_MANAGERS.filter((u) => u !== ANNA)).toContain(second);
    const dept = about(h, DEPT1_CHAT, lead);
    expect(dept).toHaveLength(1);
    expect(dept[0]!.text).toContain(`Анна Смирнова не взял(а) за 15 сек → передан(а): ${NAMES[second]} (пропусков: 1)`);

    // The second manager calls; the webhook is lost, so only the deadline's check of amoCRM sees it.
    h.clock.advance(3_000);
    await h.call(lead, second, { webhook: false });
    await h.advance(TIMEOUT_MS);
    await settled(h);
    expect(await h.pickups.get(lead)).toMatchObject({ phase: 'taken', takenBy: 'outgoing_call' });

    const rop = about(h, DEPT1_CHAT, lead);
    expect(rop).toHaveLength(1);
    expect(rop[0]!.text.startsWith('✅ <b>Клиент взят в работу</b>')).toBe(true);
    expect(rop[0]!.text).toContain(`${NAMES[second]} взял(а) в работу (исходящий звонок)`);
    expect(rop[0]!.replyMarkup).toBeUndefined();
    const mine = about(h, chatOf(second), lead);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.text.startsWith('✅ <b>Клиент взят в работу</b>')).toBe(true);
    const anna = about(h, chatOf(ANNA), lead);
    expect(anna).toHaveLength(1);
    expect(anna[0]!.text.startsWith('↪️ <b>Клиент передан другому менеджеру</b>')).toBe(true);
    // One new message per chat; everything after that was an edit.
    expect(h.stub.calls.filter((c) => c.method === 'sendMessage' && c.status === 200)).toHaveLength(3);
  });

  test('when the manager presses «Взял в работу», then it counts only after a call, and the message turns into "taken"', async () => {
    h = await startPickupTelegram({ rules, now: START });
    await linkAll(h);
    const lead = 900_006;
    await h.newLead(lead);
    await settled(h);
    await h.telegram.start();
    const [msg] = about(h, chatOf(ANNA), lead);
    expect(msg!.replyMarkup).toEqual({
      inline_keyboard: [[{ text: '✅ Взял в работу', callback_data: `take:${lead}` }]],
    });

    await h.stub.pressButton(chatOf(ANNA), msg!.messageId, `take:${lead}`);
    await waitFor(() => h.stub.answeredCallbacks.length === 1, 'the answer to the first press');
    expect(h.stub.answeredCallbacks[0]!.text).toContain('Пока не засчитано');
    expect((await h.pickups.get(lead)).phase).toBe('running');

    h.clock.advance(4_000);
    await h.call(lead, ANNA, { webhook: false });
    await h.stub.pressButton(chatOf(ANNA), msg!.messageId, `take:${lead}`);
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'the answer to the second press');
    expect(h.stub.answeredCallbacks[1]!.text).toBe('Отмечено: клиент взят в работу.');
    expect((await h.pickups.get(lead)).phase).toBe('taken');
    await waitFor(
      () => about(h, chatOf(ANNA), lead)[0]!.text.startsWith('✅ <b>Клиент взят в работу</b>'),
      'the message edited to taken',
    );
    expect(about(h, chatOf(ANNA), lead)).toHaveLength(1);
    const recorded = (await h.records.forLead(lead)).filter((r) => r.type === 'telegram_taken');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.reason).toContain(`pressed by Анна Смирнова (Telegram ${chatOf(ANNA)})`);
  });

  test('when the РОП presses «Переназначить», then the lead goes to another manager and the messages say so; pressed once the lead is taken, it says why nothing happened', async () => {
    h = await startPickupTelegram({ rules, now: START });
    await linkAll(h);
    await h.telegram.start();
    const lead = 900_008;
    await h.newLead(lead);
    await settled(h);
    await h.advance(TIMEOUT_MS + 1_000); // Анна misses: the РОП's chat gets the alert with the buttons
    await settled(h);
    const second = h.fake.state.get(lead)!.responsible;
    const [alert] = about(h, DEPT1_CHAT, lead);
    expect(JSON.stringify(alert!.replyMarkup)).toContain(`"reassign:${lead}"`);
    const patches = h.fake.calls.patches.length;

    await h.stub.pressButton(Number(DEPT1_CHAT), alert!.messageId, `reassign:${lead}`, HEAD1_TG);
    await waitFor(() => h.stub.answeredCallbacks.length === 1, 'the answer to the press');
    const third = h.fake.state.get(lead)!.responsible;
    expect([ANNA, second]).not.toContain(third);
    expect(h.fake.calls.patches).toHaveLength(patches + 1);
    expect(h.stub.answeredCallbacks[0]!.text).toBe(`Сделка №${lead} передана: ${NAMES[third]}.`);
    await settled(h);
    const rop = about(h, DEPT1_CHAT, lead);
    expect(rop).toHaveLength(1);
    expect(rop[0]!.text.startsWith('🔁 <b>РОП переназначил клиента</b>')).toBe(true);
    expect(rop[0]!.text).toContain(`Дмитрий Лебедев переназначил(а) от ${NAMES[second]} → ${NAMES[third]}`);
    expect(about(h, chatOf(second), lead)[0]!.text.startsWith('↪️ <b>Клиент передан другому менеджеру</b>')).toBe(true);
    expect(about(h, chatOf(third), lead)[0]!.text.startsWith('🆕 <b>Новый клиент')).toBe(true);
    const done = (await h.records.forLead(lead)).find((r) => r.type === 'telegram_reassign');
    expect(done).toMatchObject({ userId: third });
    expect(done!.reason).toContain(`pressed by Дмитрий Лебедев (Telegram ${HEAD1_TG})`);

    // The third manager calls; the РОП presses again: nothing is written and the bot says why.
    h.clock.advance(2_000);
    await h.call(lead, third);
    await settled(h);
    await h.stub.pressButton(Number(DEPT1_CHAT), alert!.messageId, `reassign:${lead}`, HEAD1_TG);
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'the answer to the second press');
    expect(h.stub.answeredCallbacks[1]!.text).toBe(`Сделка №${lead} не переназначена: клиент уже взят в работу.`);
    expect(h.fake.calls.patches).toHaveLength(patches + 1);
    expect(h.fake.state.get(lead)!.responsible).toBe(third);
    expect(about(h, DEPT1_CHAT, lead)[0]!.text.startsWith('✅ <b>Клиент взят в работу</b>')).toBe(true);
    const refused = (await h.records.forLead(lead)).find((r) => r.type === 'telegram_reassign_refused');
    expect(refused!.reason).toContain('nothing changed (taken)');
  });
});
