import { beforeAll, describe, expect, it } from '@jest/globals';
import { inflateSync } from 'node:zlib';
import { activityRecords, callAnswered, sourceOf } from '../../../src/reports/activity.js';
import { Resvg } from '@resvg/resvg-js';
import { chartFontsAvailable, rankingChartSvg, renderRankingChart } from '../../../src/reports/chart.js';
import type { Ranking } from '../../../src/reports/compute.js';
import { escapeHtml, renderDaily, splitMessage, TELEGRAM_MESSAGE_LIMIT } from '../../../src/reports/templates.js';
import { rosterFromRules } from '../../../src/reports/roster.js';
import { applyEvent, emptyLeadState } from '../../../src/rules/lead-state.js';
import { eligibleCandidates, smoothWeightedRoundRobin } from '../../../src/rules/distribution/distribution.js';
import { explainChoice } from '../../../src/rules/pickup/templates.js';
import type { LeadEvent } from '../../../src/rules/events.js';
import type { CompiledRules } from '../../../src/rules/types.js';
import { ctxAt, demoRules } from '../../helpers/rules.js';
import { ANNA, BORIS, GALINA, STATUS, VIKTOR, msk } from '../../helpers/report-scenario.js';

let rules: CompiledRules;
beforeAll(async () => {
  rules = await demoRules();
});

describe('activity recorder', () => {
  it('when a call note states its duration or amoCRM call_status, then answered follows it; otherwise it stays unknown', () => {
    expect(callAnswered('{"DURATION":45}')).toBe(true);
    expect(callAnswered('{"duration":"0"}')).toBe(false);
    expect(callAnswered('{"call_status":4,"duration":0}')).toBe(true); // status wins: a conversation happened
    expect(callAnswered('{"call_status":3,"duration":10}')).toBe(false);
    expect(callAnswered('Исходящий звонок')).toBeUndefined();
    expect(callAnswered('{"UNIQ":"x"}')).toBeUndefined();
    expect(callAnswered(undefined)).toBeUndefined();
  });

  it('when a source field or tag names a board, then the configured source is found; an unknown value is «Другое», none is «Не указан»', () => {
    const r = rules.reports;
    if (!r) throw new Error('no reports config');
    expect(sourceOf(r, ['Объявление на Avito'], [])).toBe('Авито');
    expect(sourceOf(r, [], ['ДомКлик'])).toBe('Домклик');
    expect(sourceOf(r, ['Радио'], [])).toBe('Другое');
    expect(sourceOf(r, [], [])).toBe('Не указан');
  });

  it('when a lead event does not change the stage, then no stage record is written; when it does, the milestone is named', () => {
    const ev = (statusId: number, at: string): LeadEvent => ({
      deliveryId: 'd',
      account: { subdomain: 's' },
      dedupeKey: `k${at}`,
      receivedAt: at,
      kind: 'lead',
      action: 'status',
      leadId: 1,
      short: false,
      tags: [],
      customFields: [],
      pipelineId: 7000001,
      statusId,
      responsibleUserId: ANNA,
      modifiedUserId: ANNA,
      updatedAt: at,
    });
    const s0 = applyEvent(emptyLeadState(1), ev(STATUS.pickup, msk('09:00')), msk('09:00'));
    const e1 = ev(STATUS.meetingSet, msk('10:00'));
    const s1 = applyEvent(s0, e1, msk('10:00'));
    const [entered] = activityRecords(e1, s0, s1, rules);
    expect(entered?.record).toMatchObject({
      kind: 'action',
      type: 'stage_entered',
      statusId: STATUS.meetingSet,
      statusName: 'Встреча назначена',
      milestone: 'meeting_set',
      userId: ANNA,
      department: 'Отдел продаж 1',
    });
    const again = ev(STATUS.meetingSet, msk('10:05'));
    expect(activityRecords(again, s1, applyEvent(s1, again, msk('10:05')), rules)).toEqual([]);
  });
});

describe('report text', () => {
  it('when a name holds HTML, then it is escaped', () => {
    expect(escapeHtml('<Ёлка & "Ко">')).toBe('&lt;Ёлка &amp; &quot;Ко&quot;&gt;');
    const roster = rosterFromRules(rules);
    const dept = roster.departments[0];
    if (!dept) throw new Error('no department');
    const zero = {
      received: 0,
      takenInTime: 0,
      missedPickups: 0,
      calls: 0,
      callsAnswered: 0,
      callsUnanswered: 0,
      contacted: 0,
      meetingsSet: 0,
      meetingsHeld: 0,
      offersSent: 0,
      violations: 0,
      openViolations: 0,
      disputedViolations: 0,
      withdrawnViolations: 0,
    };
    const html = renderDaily(
      {
        department: '<Отдел & Ко>',
        managers: [
          {
            userId: 1,
            name: '<Ёлка & "Ко">',
            ...zero,
            received: 1,
            belowYardstick: { unanswered: false, meetings: false },
          },
          { userId: 2, name: 'Ёж & <Ко>', ...zero, belowYardstick: { unanswered: false, meetings: false } },
        ],
        totals: zero,
        sources: [],
      },
      roster,
      '2026-11-24',
    );
    expect(html).toContain('<b>&lt;Ёлка &amp; &quot;Ко&quot;&gt;</b>');
    expect(html).toContain('&lt;Отдел &amp; Ко&gt;');
    expect(html).toContain('<b>Без активности</b>: Ёж &amp; &lt;Ко&gt;');
    expect(html).not.toContain('<Ёлка');
  });

  it('when a message is longer than 4096 characters, then it is split on line boundaries into parts within the limit, losing nothing', () => {
    const blocks = Array.from(
      { length: 90 },
      (_, i) => `<b>Менеджер ${i}</b>\n${'Звонков: 10, недозвонов: 20%\n'.repeat(3)}Нарушений: ${i}`,
    );
    const text = blocks.join('\n\n');
    expect(text.length).toBeGreaterThan(2 * TELEGRAM_MESSAGE_LIMIT);
    const parts = splitMessage(text);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(TELEGRAM_MESSAGE_LIMIT);
      // Every part opens and closes the same tags: a manager's block was not cut in two.
      expect((p.match(/<b>/g) ?? []).length).toBe((p.match(/<\/b>/g) ?? []).length);
    }
    expect(parts.join('\n\n')).toBe(text);
    expect(splitMessage('short')).toEqual(['short']);
  });
});

describe('ranking chart', () => {
  const ranking: Ranking = {
    department: 'Отдел продаж 1',
    minLeads: 10,
    worst: [BORIS],
    rows: [
      { userId: ANNA, name: 'Анна <Смирнова>', received: 20, meetingsHeld: 8, conversion: 0.4, position: 1 },
      {
        userId: BORIS,
        name: 'Борис Кузнецов',
        received: 20,
        meetingsHeld: 2,
        conversion: 0.1,
        position: 2,
        factor: 0.5,
      },
      { userId: GALINA, name: 'Галина Соколова', received: 3, meetingsHeld: 1, conversion: 1 / 3 },
    ],
  };

  it('when a ranking is drawn, then the SVG names every manager (escaped), their conversion, the groups and the axis', () => {
    const svg = rankingChartSvg(ranking, 'Конверсия во встречу, 2026-11');
    expect(svg).toContain('>Конверсия во встречу, 2026-11</text>');
    expect(svg).toContain('>Анна &#60;Смирнова&#62;</text>');
    expect(svg).not.toContain('<Смирнова>');
    expect(svg).toContain('>40 %</text>');
    expect(svg).toContain('>10 %</text>');
    expect(svg).toContain('>33,3 %</text>');
    for (const label of ['в рейтинге', 'вес понижен', 'вне рейтинга', 'Конверсия во «Встреча состоялась», %'])
      expect(svg).toContain(`>${label}</text>`);
    // One bar per manager in the colour of their group, the longest for the best conversion.
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="18" fill="(#[0-9a-f]+)"/g)];
    expect(bars.map((b) => b[2])).toEqual(['#4c78a8', '#e45756', '#bab0ac']);
    const widths = bars.map((b) => Number(b[1]));
    expect(widths[0]).toBeGreaterThan(widths[2] ?? Infinity);
    expect(widths[2]).toBeGreaterThan(widths[1] ?? Infinity);
  });

  it('when the chart is rasterised, then the names column carries drawn text (a font is found), not only bars', () => {
    expect(chartFontsAvailable()).toBe(true);
    const img = new Resvg(rankingChartSvg(ranking, 'Конверсия'), { font: { loadSystemFonts: true } }).render();
    // The names column is left of the plot (x < 236 at zoom 1); only text is drawn there.
    const px = img.pixels;
    let dark = 0;
    for (let y = 50; y < 50 + 3 * 28; y++)
      for (let x = 16; x < 230; x++) if ((px[(y * img.width + x) * 4] ?? 255) < 128) dark++;
    expect(dark).toBeGreaterThan(200);
  });

  it('when a ranking is drawn, then the result is a complete PNG whose pixel data inflates to its declared size', async () => {
    const png = await renderRankingChart(ranking, 'Конверсия во встречу, 2026-11');
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const chunks: Array<{ type: string; data: Buffer }> = [];
    for (let at = 8; at < png.length;) {
      const len = png.readUInt32BE(at);
      chunks.push({ type: png.subarray(at + 4, at + 8).toString('latin1'), data: png.subarray(at + 8, at + 8 + len) });
      at += 12 + len;
    }
    expect(chunks[0]?.type).toBe('IHDR');
    expect(chunks[chunks.length - 1]?.type).toBe('IEND');
    const ihdr = chunks[0]?.data ?? Buffer.alloc(13);
    const width = ihdr.readUInt32BE(0);
    const height = ihdr.readUInt32BE(4);
    const channels = ihdr[9] === 6 ? 4 : ihdr[9] === 2 ? 3 : 1;
    expect(width).toBeGreaterThan(300);
    expect(height).toBeGreaterThan(100);
    const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    expect(raw.length).toBe(height * (1 + (width * channels * ihdr[8]!) / 8));
  });
});

describe('R11 weight factor in distribution', () => {
  it('when a manager has a ranking factor, then the effective weight is weight × factor, the explanation names it, and SWRR shares follow', () => {
    const dept = rules.departments[0];
    if (!dept) throw new Error('no department');
    const reason = '4-е место из 4 по конверсии';
    const ctx = { ...ctxAt(rules, '2026-12-02T10:00:00Z'), weightFactors: new Map([[BORIS, { factor: 0.5, reason }]]) };
    const { eligible } = eligibleCandidates(dept, ctx, new Set());
    // Demo weights: Анна 2, Борис 1, Виктор 1, Галина 1 (Леонид inactive).
    expect(eligible.map((c) => [c.userId, c.weight])).toEqual([
      [ANNA, 2],
      [BORIS, 0.5],
      [VIKTOR, 1],
      [GALINA, 1],
    ]);
    expect(eligible.find((c) => c.userId === BORIS)?.factor).toEqual({ baseWeight: 1, factor: 0.5, reason });
    const why = explainChoice(
      {
        department: dept.name,
        strategy: 'smooth_weighted_round_robin',
        candidates: eligible,
        skipped: [],
        scores: {},
        winner: ANNA,
      },
      (id) => rules.userNames.get(id) ?? String(id),
    );
    expect(why).toContain(`вес понижен по рейтингу: Борис Кузнецов — 1×0.5 (${reason})`);
    // Total weight 4.5: over 9 picks Анна 4, Борис 1, Виктор 2, Галина 2.
    let current: Record<string, number> = {};
    const won: Record<number, number> = {};
    for (let i = 0; i < 9; i++) {
      const { winner, next } = smoothWeightedRoundRobin(current, eligible);
      current = next;
      if (winner !== undefined) won[winner] = (won[winner] ?? 0) + 1;
    }
    expect(won).toEqual({ [ANNA]: 4, [BORIS]: 1, [VIKTOR]: 2, [GALINA]: 2 });
  });

  it('when no factors are given, then weights are the configured ones (control)', () => {
    const dept = rules.departments[0];
    if (!dept) throw new Error('no department');
    const { eligible } = eligibleCandidates(dept, ctxAt(rules, '2026-12-02T10:00:00Z'), new Set());
    expect(eligible.find((c) => c.userId === BORIS)).toEqual({ userId: BORIS, weight: 1, cap: 20 });
  });
});
