/**
 * The monthly ranking's bar chart (R11), rendered on the server: a Vega-Lite spec compiled to Vega, drawn to SVG
 * by Vega's headless view (no canvas, no browser) and rasterised to PNG by resvg (a prebuilt binary shipped in its
 * npm package). Text uses the system fonts.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Ranking } from './compute.js';

export async function renderRankingChart(ranking: Ranking, title: string): Promise<Buffer> {
  const values = ranking.rows.map((r) => ({
    manager: r.name,
    conversion: Math.round((r.conversion ?? 0) * 1000) / 10,
    group: r.position === undefined ? 'вне рейтинга' : r.factor !== undefined ? 'вес понижен' : 'в рейтинге',
  }));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 480,
    height: { step: 28 },
    background: 'white',
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'manager', type: 'nominal', sort: null, title: null },
      x: { field: 'conversion', type: 'quantitative', title: 'Конверсия во «Встреча состоялась», %' },
      color: {
        field: 'group',
        type: 'nominal',
        title: null,
        scale: { domain: ['в рейтинге', 'вес понижен', 'вне рейтинга'], range: ['#4c78a8', '#e45756', '#bab0ac'] },
      },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return new Resvg(svg, {
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
      fitTo: { mode: 'zoom', value: 2 },
    })
      .render()
      .asPng();
  } finally {
    view.finalize();
  }
}
