import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { loadRulesFile } from '../../../src/config/load.js';
import { RULE_CODES, RULES, ruleStatuses } from '../../../src/rules/registry.js';
import { STAGE_RULE_DEFINITIONS, StageRulesSchema } from '../../../src/rules/stage-rules/registry.js';

describe('rule registry', () => {
  it('lists R1-R12 once each, in order, every folder and doc page existing', () => {
    expect(RULES.map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => `R${i + 1}`));
    for (const r of RULES) {
      expect({
        id: r.id,
        folder: existsSync(r.folder),
        doc: existsSync(r.doc),
        seed: /^seed 00\d/.test(r.seed),
      }).toEqual({ id: r.id, folder: true, doc: true, seed: true });
    }
  });

  it('when a stage rule is in the registry, then the rules schema has its block under its key', () => {
    const shape = Object.keys(StageRulesSchema.shape);
    expect(shape).toEqual(['pipeline', ...Object.keys(STAGE_RULE_DEFINITIONS)]);
    for (const [key, def] of Object.entries(STAGE_RULE_DEFINITIONS)) expect(def.configKey).toBe(`stageRules.${key}`);
  });

  it('maps each top-level block under rules: to its code for the shadow switch', () => {
    expect(RULE_CODES).toEqual({ pickup: 'R1', reports: 'R12' });
  });

  it('when the shipped config is read, then every rule but none is reported on, and a switched-off or shadowed block shows so', async () => {
    const loaded = await loadRulesFile('config/rules.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const statuses = ruleStatuses(loaded.config);
    expect(statuses.filter((s) => !s.enabled).map((s) => s.id)).toEqual([]);
    const changed = structuredClone(loaded.config) as unknown as {
      rules: { pickup: { shadow: boolean } };
      stageRules: { offer: { enabled: boolean }; mustPassThrough: Array<{ enabled: boolean }> };
    };
    changed.rules.pickup.shadow = true;
    changed.stageRules.offer.enabled = false;
    for (const mp of changed.stageRules.mustPassThrough) mp.enabled = false;
    const after = new Map(ruleStatuses(changed).map((s) => [s.id, s]));
    expect([
      after.get('R1')?.shadow,
      after.get('R9')?.enabled,
      after.get('R8')?.enabled,
      after.get('R4')?.enabled,
    ]).toEqual([true, false, false, true]);
  });
});
