/**
 * `npm run widget:build [-- --out dist/widget.zip]`: the amoCRM widget archive to upload in the integration's
 * settings («Загрузить архив»). amoCRM's widget format: `manifest.json`, `script.js` (an AMD module), `i18n/ru.json`
 * and the logos in `images/` at the archive's root. The logos are drawn here from one SVG (resvg); the manifest is
 * checked first: every text key it names must be in `i18n/ru.json`, and the script must be an AMD `define`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Resvg } from '@resvg/resvg-js';
import { zipSync, strToU8 } from 'fflate';

/** The logo sizes amoCRM asks of a widget (images/…): the marketplace list, the card, settings and the pipeline. */
export const LOGOS: Record<string, [number, number]> = {
  'logo.png': [130, 100],
  'logo_min.png': [84, 84],
  'logo_medium.png': [240, 84],
  'logo_main.png': [400, 272],
  'logo_small.png': [108, 108],
  'logo_dp.png': [174, 109],
};

function logoSvg(width: number, height: number): string {
  const r = Math.min(width, height) * 0.36;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" rx="${Math.round(r / 3)}" fill="#2b5797"/>` +
    `<circle cx="${width / 2}" cy="${height / 2}" r="${r}" fill="none" stroke="#ffffff" stroke-width="${Math.max(2, r / 6)}"/>` +
    `<path d="M ${width / 2} ${height / 2 - r * 0.6} L ${width / 2} ${height / 2} L ${width / 2 + r * 0.45} ${height / 2 + r * 0.3}" ` +
    `fill="none" stroke="#ffffff" stroke-width="${Math.max(2, r / 6)}" stroke-linecap="round"/></svg>`
  );
}

const get = (obj: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);

/** The archive's files, checked. Throws with what is wrong. */
export function widgetFiles(dir = 'widget'): Record<string, Uint8Array> {
  const manifestText = readFileSync(join(dir, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText) as {
    widget: { name: string; description: string; short_description: string; locale: string[] };
    locations: string[];
    settings: Record<string, { name: string }>;
  };
  const script = readFileSync(join(dir, 'script.js'), 'utf8');
  if (!/^\s*(\/\*[\s\S]*?\*\/\s*)?define\(/.test(script))
    throw new Error('widget/script.js must be an AMD module (define(...))');
  const files: Record<string, Uint8Array> = { 'manifest.json': strToU8(manifestText), 'script.js': strToU8(script) };
  for (const locale of manifest.widget.locale) {
    const text = readFileSync(join(dir, 'i18n', `${locale}.json`), 'utf8');
    const i18n = JSON.parse(text) as unknown;
    const keys = [
      manifest.widget.name,
      manifest.widget.description,
      manifest.widget.short_description,
      ...Object.values(manifest.settings).map((s) => s.name),
    ];
    for (const key of keys)
      if (typeof get(i18n, key) !== 'string') throw new Error(`i18n/${locale}.json has no text for "${key}"`);
    // Every t('…') of the script is a card.* text.
    for (const m of script.matchAll(/\bt\('([a-z_]+)'\)/g))
      if (typeof get(i18n, `card.${m[1]}`) !== 'string')
        throw new Error(`i18n/${locale}.json has no text for "card.${m[1]}"`);
    files[`i18n/${locale}.json`] = strToU8(text);
  }
  for (const [file, [w, h]] of Object.entries(LOGOS))
    files[`images/${file}`] = new Resvg(logoSvg(w, h)).render().asPng();
  return files;
}

function main(): number {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'dist/widget.zip' } } });
  const out = values.out ?? 'dist/widget.zip';
  const files = widgetFiles();
  // amoCRM reads the archive's root: no folder around the files.
  const zip = zipSync(files, { level: 9, mtime: new Date('2026-01-01T00:00:00Z') });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, zip);
  console.log(
    `wrote ${out}: ${Object.keys(files).length} files, ${zip.length} bytes (${Object.keys(files).join(', ')})`,
  );
  return 0;
}

if (process.argv[1] && /widget-build\.(ts|js)$/.test(process.argv[1])) {
  try {
    process.exit(main());
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
