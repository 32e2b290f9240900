import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { LOGOS, widgetFiles } from '../../src/cli/widget-build.js';

describe('the amoCRM widget archive', () => {
  it('when built, then manifest, AMD script, Russian texts and every logo sit at the archive root, and the PNGs are whole', () => {
    const files = widgetFiles('widget');
    const zip = unzipSync(zipSync(files));
    expect(Object.keys(zip).sort()).toEqual(
      ['i18n/ru.json', 'manifest.json', 'script.js', ...Object.keys(LOGOS).map((f) => `images/${f}`)].sort(),
    );
    const manifest = JSON.parse(Buffer.from(zip['manifest.json']!).toString('utf8')) as {
      widget: { interface_version: number; locale: string[] };
      locations: string[];
    };
    expect(manifest.widget.interface_version).toBe(2);
    expect(manifest.locations).toContain('lcard-1');
    expect(Buffer.from(zip['script.js']!).toString('utf8')).toMatch(/define\(\[\], function \(\)/);
    const ru = JSON.parse(Buffer.from(zip['i18n/ru.json']!).toString('utf8')) as { widget: { name: string } };
    expect(ru.widget.name).toBe('Дисциплина продаж');
    for (const [file, [w, h]] of Object.entries(LOGOS)) {
      const png = Buffer.from(zip[`images/${file}`]!);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([w, h]);
    }
  });

  it('when a text the manifest or the script names is missing from i18n, then the build stops and says which', () => {
    const dir = mkdtempSync(join(tmpdir(), 'widget-'));
    try {
      cpSync('widget', dir, { recursive: true });
      const ru = JSON.parse(readFileSync(join(dir, 'i18n/ru.json'), 'utf8')) as { card: Record<string, string> };
      delete ru.card.dispute;
      writeFileSync(join(dir, 'i18n/ru.json'), JSON.stringify(ru));
      expect(() => widgetFiles(dir)).toThrow('i18n/ru.json has no text for "card.dispute"');
      writeFileSync(join(dir, 'script.js'), 'console.log(1)');
      expect(() => widgetFiles(dir)).toThrow('must be an AMD module');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
