/**
 * The README is the entry and documents every contract: each environment variable the service reads and each npm
 * script. A variable or script added without a line in the README fails here.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { EnvSchema } from '../../src/env.js';
import { RULES } from '../../src/rules/registry.js';

const readme = readFileSync('README.md', 'utf8');

describe('README', () => {
  it('when the service reads an environment variable, then the README lists it', () => {
    const names = Object.keys(EnvSchema.shape);
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  });

  it('when the service reads an environment variable, then .env.example lists it with its default', () => {
    const example = new Map(
      readFileSync('.env.example', 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const shape = EnvSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>;
    for (const name of Object.keys(shape)) {
      const parsed = shape[name]!.safeParse(undefined);
      const def = parsed.success && parsed.data !== undefined ? String(parsed.data) : '';
      expect({ name, value: example.get(name) }).toEqual({ name, value: def });
    }
    expect([...example.keys()].filter((k) => !(k in shape))).toEqual([]);
  });

  it('when package.json has a script, then the README names its command', () => {
    const scripts = Object.keys(
      (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts,
    );
    const command = (s: string): string => (s === 'test' || s === 'start' ? `npm ${s}` : `npm run ${s}`);
    expect(scripts.filter((s) => s !== 'dev' && !readme.includes(command(s)))).toEqual([]);
  });

  it('when the registry lists a rule, then the rules table has its row with its folder, config key and doc page', () => {
    const rows = new Map(
      readme
        .split('\n')
        .filter((l) => /^\| R\d+ \|/.test(l))
        .map((l) => [l.split('|')[1]!.trim(), l]),
    );
    expect([...rows.keys()]).toEqual(RULES.map((r) => r.id));
    for (const r of RULES) {
      const row = rows.get(r.id)!;
      expect({
        id: r.id,
        folder: row.includes(`\`${r.folder}\``),
        key: row.includes(`\`${r.configKey}\``),
        doc: row.includes(`](${r.doc})`),
      }).toEqual({ id: r.id, folder: true, key: true, doc: true });
    }
  });

  it('stays an entry page: at most 200 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
  });
});
