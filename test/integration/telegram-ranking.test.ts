/**
 * R11 in Telegram: the monthly ranking reaches the РОП's chat with one «Отменить понижение» button per lowered
 * manager; the РОП's press reverts that factor (distribution stops applying it), is recorded with who pressed it,
 * and the message is edited in place to say so. Real Redis, reports, delivery and bot against the Bot API stub.
 */
import { createLogger } from '../../src/lib/logger.js';
import { createReports, type Reports } from '../../src/reports/reports.js';
import { loadWeightFactors } from '../../src/reports/ranking-store.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { demoRules } from '../helpers/rules.js';
import { DEPT1_CHAT, linkChat, settled, startTelegramHarness, type TelegramHarness } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const DEPT = 'Отдел продаж 1';
const ANNA = 9101;
const BORIS = 9102;
const VIKTOR = 9103;
const GALINA = 9104;
const LEONID = 9105;
const HEAD_TG = 7100; // Дмитрий Лебедев's own Telegram account
const MEETING_HELD = 7100012; // «Встреча состоялась» in the demo pipeline

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

describe('the РОП undoes a ranking weight factor from Telegram', () => {
  let h: TelegramHarness;
  let reports: Reports;
  afterEach(async () => {
    await h?.close();
  });

  test('when the РОП presses «Отменить понижение» for one manager, then only that factor stops applying, the press is recorded and the message says so', async () => {
    const ref: { reports?: Reports } = {};
    h = await startTelegramHarness({
      rules,
      now: '2026-11-02T09:00:00Z',
      deps: {
        reports: {
          report: async () => '',
          ranking: {
            factors: (m, d) => ref.reports!.factors(m, d),
            revert: (m, u, by) => ref.reports!.revertWeightFactor(m, u, by),
            tail: (d, m) => ref.reports!.rankingTail(d, m),
          },
        },
      },
    });
    reports = createReports({
      redis: h.redis,
      keys: h.keys,
      records: h.records,
      outbox: h.outbox,
      rules: () => rules,
      clock: h.clock,
      logger: createLogger({ level: 'silent' }),
    });
    ref.reports = reports;
    // November by hand: [manager, leads received, meetings held] → conversions 40%, 25%, 10%, 10%; Леонид unranked.
    const table: Array<[number, number, number]> = [
      [ANNA, 20, 8],
      [VIKTOR, 12, 3],
      [BORIS, 20, 2],
      [GALINA, 10, 1],
      [LEONID, 5, 4],
    ];
    let lead = 2000;
    for (const [userId, received, held] of table) {
      for (let i = 0; i < received; i++) {
        lead += 1;
        const at = new Date(Date.parse('2026-11-02T09:00:00Z') + i * 3600_000).toISOString();
        await h.records.append(
          { kind: 'assignment', at, leadId: lead, userId, rule: 'R2', reason: 'new lead' },
          `a${lead}`,
        );
        if (i < held) {
          await h.records.append(
            {
              kind: 'action',
              type: 'stage_entered',
              milestone: 'meeting_held',
              statusId: MEETING_HELD,
              at: new Date(Date.parse(at) + 600_000).toISOString(),
              leadId: lead,
              userId,
              rule: 'R12',
              reason: 'held',
            },
            `h${lead}`,
          );
        }
      }
    }
    await linkChat(h, 9100, 'Дмитрий Лебедев', HEAD_TG);
    await linkChat(h, ANNA, 'Анна Смирнова', 5001);
    h.clock.set('2026-12-01T07:00:00Z');
    await h.telegram.start();

    expect(await reports.monthly(DEPT, '2026-11')).toBe(1);
    await settled(h, 30_000);
    const chat = h.stub.chat(DEPT1_CHAT);
    expect(chat.map((m) => Boolean(m.photo))).toEqual([true, false]);
    const ranking = chat[1]!;
    expect(ranking.text).toContain(
      '3. Борис Кузнецов — 10% (2 из 20); нарушений 0, оспорено 0, снято 0 ⬇️ вес ×0.5 в декабре',
    );
    expect(ranking.replyMarkup).toEqual({
      inline_keyboard: [
        [{ text: '↩️ Отменить понижение веса: Борис Кузнецов', callback_data: 'unfactor:2026-12:9102' }],
        [{ text: '↩️ Отменить понижение веса: Виктор Попов', callback_data: 'unfactor:2026-12:9103' }],
        [{ text: '↩️ Отменить понижение веса: Галина Соколова', callback_data: 'unfactor:2026-12:9104' }],
      ],
    });

    // A manager of the department pressing in the РОП's chat changes nothing.
    await h.stub.pressButton(Number(DEPT1_CHAT), ranking.messageId, 'unfactor:2026-12:9102', 5001);
    await waitFor(() => h.stub.answeredCallbacks.length === 1, 'the answer to the manager');
    expect(h.stub.answeredCallbacks[0]!.text).toBe('Эта кнопка — для руководителя отдела.');
    expect([...(await loadWeightFactors(h.redis, h.keys, Date.parse('2026-12-10T09:00:00Z'))).keys()].sort()).toEqual([
      BORIS,
      VIKTOR,
      GALINA,
    ]);

    h.clock.set('2026-12-01T08:00:00Z');
    await h.stub.pressButton(Number(DEPT1_CHAT), ranking.messageId, 'unfactor:2026-12:9102', HEAD_TG);
    await waitFor(() => h.stub.answeredCallbacks.length === 2, 'the answer to the РОП');
    expect(h.stub.answeredCallbacks[1]!.text).toBe(
      'Понижение веса отменено: Борис Кузнецов. С этой минуты заявки распределяются по обычному весу.',
    );
    // Distribution reads the factors in force: Борис's is gone, the other two stay.
    expect([...(await loadWeightFactors(h.redis, h.keys, Date.parse('2026-12-10T09:00:00Z'))).keys()].sort()).toEqual([
      VIKTOR,
      GALINA,
    ]);
    const reverted = (await h.records.forLead(0)).find((r) => r.type === 'weight_factor_reverted');
    expect(reverted).toMatchObject({ userId: BORIS, rule: 'R11', at: '2026-12-01T08:00:00.000Z' });
    expect(reverted!.reason).toContain(`reverted by Дмитрий Лебедев (Telegram ${HEAD_TG})`);

    // The same message, edited: Борис's line says the lowering was undone, his button is gone.
    await waitFor(() => h.stub.chat(DEPT1_CHAT)[1]!.edits === 1, 'the ranking message edited');
    const edited = h.stub.chat(DEPT1_CHAT)[1]!;
    expect(h.stub.chat(DEPT1_CHAT)).toHaveLength(2);
    expect(edited.text).toContain(
      `3. Борис Кузнецов — 10% (2 из 20); нарушений 0, оспорено 0, снято 0 — понижение веса отменено (Дмитрий Лебедев (Telegram ${HEAD_TG}))`,
    );
    expect(edited.text).toContain(
      '2. Виктор Попов — 25% (3 из 12); нарушений 0, оспорено 0, снято 0 ⬇️ вес ×0.5 в декабре',
    );
    expect(edited.replyMarkup).toEqual({
      inline_keyboard: [
        [{ text: '↩️ Отменить понижение веса: Виктор Попов', callback_data: 'unfactor:2026-12:9103' }],
        [{ text: '↩️ Отменить понижение веса: Галина Соколова', callback_data: 'unfactor:2026-12:9104' }],
      ],
    });

    // Pressed again (an old copy of the button): nothing more is reverted or recorded.
    await h.stub.pressButton(Number(DEPT1_CHAT), ranking.messageId, 'unfactor:2026-12:9102', HEAD_TG);
    await waitFor(() => h.stub.answeredCallbacks.length === 3, 'the answer to the second press');
    expect(h.stub.answeredCallbacks[2]!.text).toBe(
      `Понижение веса для Борис Кузнецов уже отменено (Дмитрий Лебедев (Telegram ${HEAD_TG})).`,
    );
    expect((await h.records.forLead(0)).filter((r) => r.type === 'weight_factor_reverted')).toHaveLength(1);
  }, 60_000);
});
