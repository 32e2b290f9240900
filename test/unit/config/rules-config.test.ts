import { mkdtempSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { compileRules, isShadow } from '../../../src/config/compile.js';
import { loadRulesFile } from '../../../src/config/load.js';
import { rulesJsonSchema } from '../../../src/cli/rules-schema.js';
import { seedDirectory } from '../../../sim/directory.js';

function tempRules(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  cpSync('config/calendars', join(dir, 'calendars'), { recursive: true });
  writeFileSync(join(dir, 'rules.yaml'), yaml);
  return join(dir, 'rules.yaml');
}

describe('rules configuration', () => {
  it.each(['config/rules.yaml', 'config/rules.demo.yaml'])('when %s is loaded, then it validates', async (file) => {
    const loaded = await loadRulesFile(file);
    expect(loaded.ok).toBe(true);
  });

  it('when the demo rules are compiled against the simulator account, then names become ids', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error('load');
    const compiled = compileRules(loaded.config, loaded.calendar, seedDirectory());
    if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
    expect(compiled.rules.pickup).toMatchObject({
      pipelineId: 7000001,
      statusId: 7100005,
      timeoutMs: 15_000,
      maxMisses: 3,
    });
    expect(compiled.rules.departments.map((d) => [d.name, d.headUserId, d.managers.map((m) => m.userId)])).toEqual([
      ['Отдел продаж 1', 9100, [9101, 9102, 9103, 9104, 9901]],
      ['Отдел продаж 2', 9200, [9201, 9202, 9203, 9204]],
    ]);
    expect([...compiled.rules.pickup.robotUserIds]).toEqual([0, 9001]);
  });

  it('when a file has several mistakes, then every one is reported with its path', async () => {
    const file = tempRules(`
departments:
  - name: A
    head: РОП
    pipelines: []
    schedule: { kind: weekly, days: { mon: ["9-21"] } }
    managers: [{ user: X, weight: 0 }, { user: X }]
rules: { pickup: { pipeline: P, stage: S, timeout: "15 minutes", maxMisses: 0 } }
`);
    const loaded = await loadRulesFile(file);
    expect(loaded.ok).toBe(false);
    const paths = loaded.ok ? [] : loaded.errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'departments[0].pipelines',
        'departments[0].schedule.days.mon[0]',
        'departments[0].managers[0].weight',
        'rules.pickup.timeout',
        'rules.pickup.maxMisses',
        'departments[0].managers[1].user',
      ]),
    );
  });

  it('when YAML itself is broken, then the line is named', async () => {
    const loaded = await loadRulesFile(tempRules('departments: [\n  - name: A\n'));
    expect(loaded.ok).toBe(false);
    expect(loaded.ok ? '' : loaded.errors[0]?.path).toMatch(/^rules:\d+/);
  });

  it('when names do not exist in amoCRM, then each is a warning listing the names that do, and only its part is disabled', async () => {
    const file = tempRules(`
departments:
  - name: A
    head: Нет Такого
    pipelines: [Вторичка]
    schedule: { kind: always }
    managers: [{ user: Анна Смирнова }]
  - name: B
    head: Дмитрий Лебедев
    pipelines: [Первичный рынок]
    schedule: { kind: always }
    managers: [{ user: Уволенный Менеджер }, { user: Борис Кузнецов }]
rules: { pickup: { pipeline: Первичный рынок, stage: Передано в работу } }
`);
    const loaded = await loadRulesFile(file);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const compiled = compileRules(loaded.config, loaded.calendar, seedDirectory());
    if (!compiled.ok) throw new Error('names must not fail the compilation');
    const warnings = compiled.warnings;
    expect(warnings.find((e) => e.path === 'departments[0].head')?.message).toContain('"Дмитрий Лебедев"');
    expect(warnings.find((e) => e.path === 'departments[0].pipelines[0]')?.message).toContain('"Первичный рынок"');
    expect(warnings.find((e) => e.path === 'rules.pickup.stage')?.message).toContain('"Передан в работу"');
    expect(warnings.find((e) => e.path === 'departments[1].managers[0].user')?.disabled).toBe(
      'manager "Уволенный Менеджер" (gets no leads)',
    );
    // Department A lost its head: it is off. Department B runs with the one manager that resolves (seed account: Борис Кузнецов = 9102).
    expect(compiled.rules.departments.map((d) => [d.name, d.headUserId, d.managers.map((m) => m.userId)])).toEqual([
      ['B', 9100, [9102]],
    ]);
    // The stage was renamed: the pickup rule is off, not the service.
    expect(compiled.rules.pickup.enabled).toBe(false);
  });

  it('when every name resolves, then there is no warning and pickup stays on (control)', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error('load');
    const compiled = compileRules(loaded.config, loaded.calendar, seedDirectory());
    if (!compiled.ok) throw new Error('compile');
    expect(compiled.warnings).toEqual([]);
    expect(compiled.rules.pickup.enabled).toBe(true);
  });

  it('when a rule is marked shadow, then isShadow names it and only it', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error('load');
    const plain = compileRules(loaded.config, loaded.calendar, seedDirectory());
    const config = structuredClone(loaded.config);
    config.rules.pickup.shadow = true;
    const shadowed = compileRules(config, loaded.calendar, seedDirectory());
    if (!plain.ok || !shadowed.ok) throw new Error('compile');
    expect(isShadow(plain.rules, 'pickup')).toBe(false);
    expect(isShadow(shadowed.rules, 'pickup')).toBe(true);
    expect(isShadow(shadowed.rules, 'R1')).toBe(true); // the code its plans carry (SPEC §3 R1)
    expect(isShadow(shadowed.rules, 'cadences')).toBe(false);
  });

  it('when the JSON Schema is generated, then it describes the rules file for editors', () => {
    const schema = rulesJsonSchema() as { properties: Record<string, unknown>; required?: string[] };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['departments', 'rules', 'timeZone', 'calendar']),
    );
  });
});
