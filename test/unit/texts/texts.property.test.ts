/**
 * What the robot says follows the config in force: for random configured durations (seconds to weeks) and working
 * days, every rule text names the configured value in people's units (src/lib/ru-duration.ts), never the seed's
 * default, and the R4/R9 texts name the stage whose stay they measure.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { loadRulesFile } from '../../../src/config/load.js';
import type { RulesConfig } from '../../../src/config/schema.js';
import { ruDuration, ruWorkingDays } from '../../../src/lib/ru-duration.js';
import { stageRulesOnDue } from '../../../src/rules/stage-rules/index.js';
import { r7Text } from '../../../src/rules/stage-rules/r7-meeting/templates.js';
import type { CompiledRules } from '../../../src/rules/types.js';
import { renderEvent, violationText } from '../../../src/telegram/templates/index.js';
import { ctxAt, demoRules } from '../../helpers/rules.js';
import { freshLead, LEAD, moveTo, ms, ofKind, S, startWalk } from '../rules/stage-rules/helpers.js';

const T = '2026-11-24T07:00:00.000Z'; // a Tuesday, 10:00 in Moscow
const SEED_WORDS = ['суток', '15 минут', '30 дней', '5 дней', '7 дней', '2-3 часа', '2 рабочих дня'];
/** Whole seconds from 1 s to 8 weeks, as the rules file would give them. */
const seconds = fc.integer({ min: 1, max: 8 * 7 * 86_400 });
const iso = (s: number): string => `PT${s}S`;

let shipped: RulesConfig;
beforeAll(async () => {
  const loaded = await loadRulesFile('config/rules.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  shipped = loaded.config;
});

async function rulesWith(edit: (c: RulesConfig) => void): Promise<CompiledRules> {
  return demoRules((c) => {
    c.stageRules = structuredClone(shipped.stageRules);
    edit(c);
  });
}

/** The seed words a text may still contain: those that happen to be the configured value. */
const foreign = (text: string, configured: string): string[] =>
  SEED_WORDS.filter((w) => text.includes(w) && !configured.includes(w.split(' ')[0]!));

describe('texts name the configured durations', () => {
  it("when R4, R6, R9, R10 and R1 are configured with any duration, then the РОП's alert title says that duration and the stage it measures", async () => {
    await fc.assert(
      fc.asyncProperty(
        seconds,
        seconds,
        seconds,
        seconds,
        seconds,
        async (handoff, untouched, offer, silence, pickup) => {
          const rules = await rulesWith((c) => {
            c.stageRules!.handoff = { ...c.stageRules!.handoff!, maxStay: iso(handoff) };
            c.stageRules!.deferred = { ...c.stageRules!.deferred!, untouchedAfter: iso(untouched) };
            c.stageRules!.offer = { ...c.stageRules!.offer!, maxStay: iso(offer) };
            c.stageRules!.weeklyUpdate = { ...c.stageRules!.weeklyUpdate!, maxSilence: iso(silence) };
            c.rules.pickup = { ...c.rules.pickup, timeout: iso(pickup) };
          });
          for (const [type, value, stage] of [
            ['handoff_stale', handoff, 'Для передачи'],
            ['deferred_untouched', untouched, undefined],
            ['offer_stale', offer, 'Отправлено КП'],
            ['lead_stale', silence, undefined],
            ['pickup_missed', pickup, undefined],
          ] as const) {
            const text = violationText(type, rules);
            const said = ruDuration(value * 1000);
            expect([type, text.includes(said)]).toEqual([type, true]);
            expect([type, foreign(text, said)]).toEqual([type, []]);
            if (stage) expect(text).toContain(`«${stage}»`);
            // Through the renderer the РОП gets: the same words in the title.
            const rendered = renderEvent(
              'violation',
              { type, rule: 'R', leadId: 1 },
              {
                leadUrl: () => 'https://x',
                userName: () => 'X',
                userIdByName: () => undefined,
                timeZone: 'Europe/Moscow',
                audience: 'department',
                rules,
              },
            );
            expect(rendered?.title).toContain(said);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('when R4 fires with any configured stay, then the note on the lead says that stay', async () => {
    await fc.assert(
      fc.asyncProperty(seconds, async (stay) => {
        const rules = await rulesWith((c) => {
          c.stageRules!.handoff = { ...c.stageRules!.handoff!, maxStay: iso(stay) };
        });
        const w = moveTo(rules, startWalk(), S.handoff, T);
        const at = new Date(ms(T) + stay * 1000).toISOString();
        const due = stageRulesOnDue(
          { rule: 'R4', leadId: LEAD, key: `stale:${ms(T)}`, dueAt: ms(at) },
          w.stage,
          { lead: freshLead(S.handoff), notes: [] },
          ctxAt(rules, at),
        );
        const note = ofKind(due.plans, 'add_note')[0]!.text;
        expect(note).toContain(`дольше, чем ${ruDuration(stay * 1000)}`);
        expect(foreign(note, ruDuration(stay * 1000))).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it('when R9 is configured with any number of working days, then the note says that number', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 15 }), async (days) => {
        const rules = await rulesWith((c) => {
          c.stageRules!.offer = { ...c.stageRules!.offer!, feedbackWorkingDays: days };
        });
        const w = moveTo(rules, startWalk(), S.offer, T);
        const note = ofKind(w.plans, 'add_note')
          .map((n) => n.text)
          .find((t) => t.includes('Получить обратную связь'))!;
        expect(note).toContain(`(${ruWorkingDays(days)})`);
        if (days !== 2) expect(note).not.toContain('2 рабочих дня');
      }),
      { numRuns: 15 },
    );
  });

  it('when R7 confirms "before" with any window, then the task says that window', () => {
    fc.assert(
      fc.property(seconds, seconds, (a, b) => {
        const [to, from] = [Math.min(a, b) * 1000, Math.max(a, b) * 1000];
        const window = r7Text.window({ fromMs: from, toMs: to });
        const text = r7Text.confirm({ slot: 'before', meeting: '25 ноября 10:30', time: '10:30', window });
        for (const d of [ruDuration(to), ruDuration(from)])
          for (const n of d.match(/\d+/g) ?? []) expect(text).toContain(n);
        if (to !== 2 * 3_600_000 || from !== 3 * 3_600_000) expect(text).not.toContain('2-3 часа');
      }),
    );
  });
});

describe('one Russian formatter', () => {
  it('when a duration is a whole number of one unit, then it reads as that number with the Russian plural form', () => {
    const forms: Record<number, string> = {
      1: '1 день',
      2: '2 дня',
      5: '5 дней',
      11: '11 дней',
      22: '22 дня',
      31: '31 день',
    };
    for (const [n, text] of Object.entries(forms)) expect(ruDuration(Number(n) * 86_400_000)).toBe(text);
    expect([
      ruDuration(30_000),
      ruDuration(15 * 60_000),
      ruDuration(90 * 60_000),
      ruDuration(7 * 86_400_000),
      ruDuration(36 * 3_600_000),
    ]).toEqual(['30 сек', '15 мин', '1 ч 30 мин', '1 нед', '1 день 12 ч']);
    expect([1, 2, 5, 11, 21, 22].map(ruWorkingDays)).toEqual([
      '1 рабочий день',
      '2 рабочих дня',
      '5 рабочих дней',
      '11 рабочих дней',
      '21 рабочий день',
      '22 рабочих дня',
    ]);
  });
});
