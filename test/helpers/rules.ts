/** Compiled rules for unit tests: the demo rules file against the simulator's seed account, with overrides. */
import { compileRules } from '../../src/config/compile.js';
import { loadRulesFile } from '../../src/config/load.js';
import type { RulesConfig } from '../../src/config/schema.js';
import type { CompiledRules, RuleContext } from '../../src/rules/types.js';
import { seedDirectory } from '../../sim/directory.js';

export async function demoRules(edit: (config: RulesConfig) => void = () => undefined): Promise<CompiledRules> {
  const loaded = await loadRulesFile('config/rules.demo.yaml');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const config = structuredClone(loaded.config);
  edit(config);
  const compiled = compileRules(config, loaded.calendar, seedDirectory());
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.rules;
}

export const ctxAt = (rules: CompiledRules, now: string | number, loads: Record<number, number> = {}): RuleContext => ({
  rules,
  now: typeof now === 'number' ? now : Date.parse(now),
  loads: new Map(Object.entries(loads).map(([k, v]) => [Number(k), v])),
});

export const STAGE = 7100005; // Передан в работу
export const PIPELINE = 7000001;
export const ADMIN = 9001;
