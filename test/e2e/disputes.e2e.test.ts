/**
 * The violation ledger end to end, on the amoCRM simulator and the Bot API stub: a lead stays in «Для передачи» past
 * R4's limit, its manager gets the violation in her private chat and presses «Оспорить», writes why; the РОП gets
 * the reason with the evidence and «Снять» / «Оставить». The manager pressing «Снять» on her own dispute is refused;
 * the РОП withdraws it, and the report and the ranking count it out. A second violation contested after the
 * configured time is refused with the Russian explanation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { DateTime } from 'luxon';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import { violationRef } from '../../src/rules/disputes/policy.js';
import { createViolationLedger } from '../../src/store/violation-ledger.js';
import { createKeys } from '../../src/store/keys.js';
import { startE2E, type E2E } from '../helpers/e2e.js';
import { connectTestRedis } from '../helpers/redis.js';
import { seededRandom } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const BOT_TOKEN = '123456:disputes-e2e-bot-token';
const DEPT1_CHAT = '-1001000000001';
const ANNA = 9101;
const ANNA_TG = 5001;
const HEAD = 9100;
const HEAD_TG = 7100;
const FIXTURE = `test/fixtures/.rules.disputes.${process.pid}.yaml`;

describe('Violation disputes end to end: Telegram «Оспорить» → the РОП decides → reports count it out', () => {
  let e2e: E2E;
  let stub: TelegramStub;
  const redis = connectTestRedis();

  beforeAll(async () => {
    // The e2e rules with R4 at 2 seconds, escalation after an hour (the manager alone sees the violation first),
    // 8 seconds to contest and a minute to decide.
    const rules = readFileSync('test/fixtures/rules.e2e.yaml', 'utf8')
      .replace(
        'handoff: { enabled: true, stage: Для передачи, maxStay: P1D }',
        'handoff: { enabled: true, stage: Для передачи, maxStay: PT2S }',
      )
      .concat('\ntelegram: { escalateAfter: PT1H }\ndisputes: { disputeWithin: PT8S, decideWithin: PT1M }\n');
    if (!rules.includes('maxStay: PT2S')) throw new Error('the e2e rules changed: R4 handoff not found');
    writeFileSync(FIXTURE, rules);
    stub = createTelegramStub({ token: BOT_TOKEN, random: seededRandom(5) });
    const apiRoot = await stub.listen();
    e2e = await startE2E({ rulesFile: FIXTURE, telegram: { token: BOT_TOKEN, apiRoot } });
  }, 30_000);

  afterAll(async () => {
    await e2e?.close();
    await stub?.close();
    rmSync(FIXTURE, { force: true });
    redis.disconnect();
  });

  const link = async (userId: number, tgId: number, name: string): Promise<void> => {
    const runtime = e2e.runtimes[0]!;
    const { code } = await runtime.telegram.createLink({ userId, name });
    await stub.userMessage(tgId, `/start ${code}`);
    await waitFor(async () => (await runtime.telegram.links.chatOf(userId)) === String(tgId), `${name} linked`, 20_000);
  };

  /** A lead Анна moves into «Для передачи»; R4 records `handoff_stale` 2 s later and tells her. */
  const staleLead = async (name: string) => {
    const { account } = e2e.sim;
    const lead = account.createLead({
      name,
      statusId: account.statusByName('Новый лид').id,
      responsibleUserId: ANNA,
      by: 0,
    });
    account.updateLead(lead.id, { statusId: account.statusByName('Для передачи').id }, ANNA);
    const violation = await waitFor(
      async () =>
        (await e2e.runtimes[0]!.records.forLead(lead.id)).find(
          (r) => r.kind === 'violation' && r.type === 'handoff_stale',
        ),
      'the R4 violation',
      20_000,
    );
    const ref = violationRef(violation.violationId!);
    const alert = await waitFor(
      () => stub.chat(ANNA_TG).find((m) => JSON.stringify(m.replyMarkup ?? '').includes(`dispute:${ref}`)),
      'the violation with «Оспорить» in Анна’s chat',
      20_000,
    );
    return { lead, violation, ref, alert };
  };

  it('when Анна contests, she cannot decide it herself, the РОП withdraws it, and the report and ranking leave it out', async () => {
    await link(ANNA, ANNA_TG, 'Анна Смирнова');
    await link(HEAD, HEAD_TG, 'Дмитрий Лебедев');
    const runtime = e2e.runtimes[0]!;
    const ledger = createViolationLedger(redis, createKeys(e2e.prefix));
    const { lead, violation, ref, alert } = await staleLead('Заявка: спор');

    // The ledger holds it open, with the evidence the rule used: the window and R4's limit in force.
    const opened = await ledger.get(ref);
    expect(opened?.state).toBe('open');
    expect(opened?.evidence?.config).toMatchObject({ maxStayMs: 2000 });
    expect(opened?.evidence?.since).toBeDefined();

    // «Оспорить»: the bot asks for the reason in her private chat; her next message is the reason.
    await stub.pressButton(ANNA_TG, alert.messageId, `dispute:${ref}`, ANNA_TG);
    await waitFor(
      () => stub.chat(ANNA_TG).some((m) => m.text.startsWith('Напишите одним сообщением')),
      'the question',
      15_000,
    );
    await stub.userMessage(ANNA_TG, 'Клиент сам попросил передать сделку в понедельник', { id: ANNA_TG });
    await waitFor(async () => (await ledger.get(ref))?.state === 'disputed', 'disputed', 15_000);
    await waitFor(
      () => stub.chat(ANNA_TG).some((m) => m.text.includes('отправлен РОПу')),
      'the confirmation to Анна',
      15_000,
    );

    // The РОП's chat: the reason, the evidence and the two buttons.
    const forHead = await waitFor(
      () =>
        stub
          .chat(DEPT1_CHAT)
          .find((m) => m.text.includes('Оспорено нарушение') && m.text.includes(`/leads/detail/${lead.id}`)),
      'the dispute in the department chat',
      20_000,
    );
    expect(forHead.text).toContain('Клиент сам попросил передать сделку в понедельник');
    expect(forHead.text).toContain('правило R4');
    expect(forHead.text).toContain('maxStay = 2 сек');
    expect(JSON.stringify(forHead.replyMarkup)).toContain(`withdraw:${ref}`);
    expect(JSON.stringify(forHead.replyMarkup)).toContain(`uphold:${ref}`);

    // Анна presses «Снять» on her own dispute: refused, recorded, nothing changes.
    const answered = stub.answeredCallbacks.length;
    await stub.pressButton(Number(DEPT1_CHAT), forHead.messageId, `withdraw:${ref}`, ANNA_TG);
    await waitFor(
      () => stub.answeredCallbacks.slice(answered).some((c) => c.text?.startsWith('Своё нарушение решать нельзя')),
      'the refusal',
      15_000,
    );
    expect((await ledger.get(ref))?.state).toBe('disputed');
    expect(
      (await runtime.records.forLead(lead.id)).some(
        (r) => r.type === 'violation_withdraw_refused' && r.userId === ANNA && r.reason.includes('(own)'),
      ),
    ).toBe(true);

    // The РОП withdraws it: the ledger, the record, both chats say so.
    await stub.pressButton(Number(DEPT1_CHAT), forHead.messageId, `withdraw:${ref}`, HEAD_TG);
    const withdrawn = await waitFor(
      async () => {
        const e = await ledger.get(ref);
        return e?.state === 'withdrawn' && e;
      },
      'withdrawn',
      15_000,
    );
    expect(withdrawn.history.map((c) => [c.state, c.byUserId])).toEqual([
      ['open', undefined],
      ['disputed', ANNA],
      ['withdrawn', HEAD],
    ]);
    expect(withdrawn.history[1]!.note).toBe('Клиент сам попросил передать сделку в понедельник');
    await waitFor(
      () => stub.chat(ANNA_TG).some((m) => m.text.includes('Нарушение снято')),
      'Анна told the decision',
      15_000,
    );
    await waitFor(
      () => stub.chat(DEPT1_CHAT).some((m) => m.messageId === forHead.messageId && m.text.includes('Нарушение снято')),
      'the dispute message edited to the decision',
      15_000,
    );
    const types = (await runtime.records.forLead(lead.id)).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(['handoff_stale', 'violation_disputed', 'violation_withdrawn']));
    expect(violation.department).toBe('Отдел продаж 1');

    // The report of today: Анна's withdrawn violation is not counted, and the contest is shown.
    const today = DateTime.now().setZone('Europe/Moscow');
    const html = await runtime.reports.report({
      department: 'Отдел продаж 1',
      from: today.toISODate()!,
      to: today.toISODate()!,
    });
    const annaBlock = html.split('\n\n').find((b) => b.includes('Анна Смирнова')) ?? '';
    expect(annaBlock).toContain('Нарушений: 0, открытых: 0, оспорено: 1, снято РОПом: 1');

    // The ranking of the month: «нарушений 0, оспорено 1, снято 1» for her.
    await runtime.reports.monthly('Отдел продаж 1', today.toFormat('yyyy-MM'));
    const ranking = await waitFor(
      () => stub.chat(DEPT1_CHAT).find((m) => m.text.includes('Анна Смирнова') && m.text.includes('оспорено')),
      'the ranking',
      20_000,
    );
    expect(ranking.text).toMatch(/Анна Смирнова[^\n]*нарушений 0, оспорено 1, снято 1/);
  }, 120_000);

  it('when the time to contest has passed, then «Оспорить» is refused with the Russian explanation and nothing changes', async () => {
    const { lead, ref, alert } = await staleLead('Заявка: поздний спор');
    const ledger = createViolationLedger(redis, createKeys(e2e.prefix));
    await new Promise((r) => setTimeout(r, 8_500));
    const answered = stub.answeredCallbacks.length;
    await stub.pressButton(ANNA_TG, alert.messageId, `dispute:${ref}`, ANNA_TG);
    const refusal = await waitFor(
      () => stub.answeredCallbacks.slice(answered).find((c) => c.text?.startsWith('Срок оспаривания истёк')),
      'the late refusal',
      15_000,
    );
    expect(refusal.text).toContain('в течение 8 сек после того, как оно записано');
    expect((await ledger.get(ref))?.state).toBe('open');
    expect(
      (await e2e.runtimes[0]!.records.forLead(lead.id)).some(
        (r) => r.type === 'violation_dispute_refused' && r.reason.includes('(late)'),
      ),
    ).toBe(true);
  }, 60_000);

  it('when a manager misses a pickup, then the message that the lead went to someone else lets them contest the miss', async () => {
    const others = [
      [9102, 5002, 'Борис Кузнецов'],
      [9103, 5003, 'Виктор Попов'],
      [9104, 5004, 'Галина Соколова'],
    ] as const;
    for (const [userId, tgId, name] of [...others, [ANNA, ANNA_TG, 'Анна Смирнова'] as const])
      if ((await e2e.runtimes[0]!.telegram.links.chatOf(userId)) === undefined) await link(userId, tgId, name);
    const tgOf = new Map<number, number>([[ANNA, ANNA_TG], ...others.map(([u, t]) => [u, t] as [number, number])]);
    const { account } = e2e.sim;
    // Even lead ids go to department 1 in these rules.
    let lead = account.createLead({
      name: 'Заявка: пропуск',
      statusId: account.statusByName('Передан в работу').id,
      by: 0,
    });
    while (lead.id % 2 !== 0)
      lead = account.createLead({
        name: 'Заявка: пропуск',
        statusId: account.statusByName('Передан в работу').id,
        by: 0,
      });
    const missed = await waitFor(
      async () =>
        (await e2e.runtimes[0]!.records.forLead(lead.id)).find(
          (r) => r.kind === 'violation' && r.type === 'pickup_missed',
        ),
      'the R1 miss',
      20_000,
    );
    const tg = tgOf.get(missed.userId!)!;
    const ref = violationRef(missed.violationId!);
    const away = await waitFor(
      () =>
        stub
          .chat(tg)
          .find(
            (m) => m.text.includes('Клиент передан другому менеджеру') && m.text.includes(`/leads/detail/${lead.id}`),
          ),
      'the hand-over in the manager’s chat',
      20_000,
    );
    expect(JSON.stringify(away.replyMarkup)).toContain(`dispute:${ref}`);
    await stub.pressButton(tg, away.messageId, `dispute:${ref}`, tg);
    await waitFor(
      () => stub.chat(tg).some((m) => m.text.startsWith('Напишите одним сообщением')),
      'the question',
      15_000,
    );
    await stub.userMessage(tg, 'Клиент не отвечал, я писал ему в WhatsApp', { id: tg });
    const ledger = createViolationLedger(redis, createKeys(e2e.prefix));
    const disputed = await waitFor(
      async () => {
        const e = await ledger.get(ref);
        return e?.state === 'disputed' && e;
      },
      'the miss disputed',
      15_000,
    );
    expect(disputed).toMatchObject({
      rule: 'R1',
      userId: missed.userId,
      leadId: lead.id,
      department: 'Отдел продаж 1',
    });
    await waitFor(
      () =>
        stub
          .chat(DEPT1_CHAT)
          .some(
            (m) =>
              m.text.includes('Оспорено нарушение') && m.text.includes('Клиент не отвечал, я писал ему в WhatsApp'),
          ),
      'the dispute with the РОП',
      20_000,
    );
  }, 90_000);
});
