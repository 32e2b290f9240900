/**
 * The monthly ranking's bar chart (R11), rendered on the server: a small SVG template (one horizontal bar per manager,
 * conversion on the axis, a legend for the three groups) rasterised to PNG by resvg, a prebuilt binary shipped in its
 * npm package. Text is drawn with a system font (DejaVu Sans; the image installs `fonts-dejavu-core`); without any
 * font resvg draws no text at all, which `chartFontsAvailable` lets the health of a deployment tell.
 */
import { Resvg } from '@resvg/resvg-js';
import type { Ranking, RankingRow } from './compute.js';

export const CHART_FONT = 'DejaVu Sans';

const GROUPS = [
  { key: 'ranked', label: 'в рейтинге', color: '#4c78a8' },
  { key: 'lowered', label: 'вес понижен', color: '#e45756' },
  { key: 'unranked', label: 'вне рейтинга', color: '#bab0ac' },
] as const;
type Group = (typeof GROUPS)[number]['key'];

const layout = {
  width: 720,
  padding: 16,
  titleHeight: 34,
  labelWidth: 220,
  valueWidth: 56,
  row: 28,
  bar: 18,
  axisHeight: 46,
  legendHeight: 28,
  fontSize: 13,
};

function groupOf(r: RankingRow): Group {
  if (r.position === undefined) return 'unranked';
  return r.factor !== undefined ? 'lowered' : 'ranked';
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Shortens a label to about `max` characters, so a long name never runs into the bars. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** A round axis maximum (10, 20, 25, 50, 100 %) at or above the best conversion, and its ticks. */
function axis(maxPercent: number): { max: number; ticks: number[] } {
  const max = [10, 20, 25, 40, 50, 60, 80, 100].find((m) => m >= maxPercent) ?? 100;
  const step = max <= 25 ? 5 : max <= 60 ? 10 : 20;
  const ticks: number[] = [];
  for (let t = 0; t <= max; t += step) ticks.push(t);
  return { max, ticks };
}

function percent(r: RankingRow): number {
  return Math.round((r.conversion ?? 0) * 1000) / 10;
}

/** The chart as SVG text: pure, so a test reads what it says without rasterising it. */
export function rankingChartSvg(ranking: Ranking, title: string): string {
  const L = layout;
  const rows = ranking.rows;
  const { max, ticks } = axis(Math.max(0, ...rows.map(percent)));
  const plotLeft = L.padding + L.labelWidth;
  const plotWidth = L.width - plotLeft - L.padding - L.valueWidth;
  const plotTop = L.padding + L.titleHeight;
  const plotHeight = Math.max(1, rows.length) * L.row;
  const height = plotTop + plotHeight + L.axisHeight + L.legendHeight + L.padding;
  const x = (p: number): number => plotLeft + (Math.min(p, max) / max) * plotWidth;
  const text = (tx: number, ty: number, body: string, attrs = ''): string =>
    `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" ${attrs}>${esc(body)}</text>`;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${height}" viewBox="0 0 ${L.width} ${height}" ` +
      `font-family="${CHART_FONT}" font-size="${L.fontSize}" fill="#222">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(L.padding, L.padding + 18, title, 'font-size="17" font-weight="bold"'),
  ];
  for (const t of ticks) {
    const tx = x(t);
    parts.push(
      `<line x1="${tx.toFixed(1)}" y1="${plotTop}" x2="${tx.toFixed(1)}" y2="${plotTop + plotHeight}" stroke="#e3e3e3"/>`,
      text(tx, plotTop + plotHeight + 16, String(t), 'text-anchor="middle" fill="#555"'),
    );
  }
  rows.forEach((r, i) => {
    const cy = plotTop + i * L.row + L.row / 2;
    const p = percent(r);
    const color = GROUPS.find((g) => g.key === groupOf(r))?.color ?? '#888';
    const w = Math.max(p > 0 ? 1 : 0, x(p) - plotLeft);
    parts.push(
      text(plotLeft - 8, cy + 4.5, clip(r.name, 26), 'text-anchor="end"'),
      `<rect x="${plotLeft}" y="${(cy - L.bar / 2).toFixed(1)}" width="${w.toFixed(1)}" height="${L.bar}" fill="${color}"/>`,
      text(plotLeft + w + 6, cy + 4.5, `${p.toLocaleString('ru-RU')} %`, 'fill="#333"'),
    );
  });
  parts.push(
    `<line x1="${plotLeft}" y1="${plotTop}" x2="${plotLeft}" y2="${plotTop + plotHeight}" stroke="#888"/>`,
    `<line x1="${plotLeft}" y1="${plotTop + plotHeight}" x2="${plotLeft + plotWidth}" y2="${plotTop + plotHeight}" stroke="#888"/>`,
    text(
      plotLeft + plotWidth / 2,
      plotTop + plotHeight + 36,
      'Конверсия во «Встреча состоялась», %',
      'text-anchor="middle"',
    ),
  );
  let lx = plotLeft;
  const ly = plotTop + plotHeight + L.axisHeight + 14;
  for (const g of GROUPS) {
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${g.color}"/>`, text(lx + 18, ly, g.label));
    lx += 18 + g.label.length * 8 + 24;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function rasterise(svg: string): Resvg {
  return new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: CHART_FONT },
    fitTo: { mode: 'zoom', value: 2 },
  });
}

export async function renderRankingChart(ranking: Ranking, title: string): Promise<Buffer> {
  return Promise.resolve(rasterise(rankingChartSvg(ranking, title)).render().asPng());
}

/**
 * Whether the chart's text can be drawn here: renders one word and looks for dark pixels. False on a machine with no
 * usable font, where the chart would come out as bars with no names.
 */
export function chartFontsAvailable(): boolean {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="4" y="22" font-family="${CHART_FONT}" font-size="18" fill="#000">Рейтинг</text></svg>`;
  const img = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: CHART_FONT } }).render();
  const px = img.pixels;
  for (let i = 0; i < px.length; i += 4) if ((px[i] ?? 255) < 128) return true;
  return false;
}
