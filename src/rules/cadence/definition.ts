import type { RuleInfo } from '../definition.js';

/** R3: call cadences kept going with amoCRM tasks while a lead sits in a bound stage. */
export const R3 = {
  id: 'R3',
  title: 'Каденции звонков',
  summary: 'call cadences with amoCRM tasks',
  seed: 'seed 001 «Не дозвонились»; seed 004 правило 1; seed 002 §3.3',
  folder: 'src/rules/cadence/',
  configKey: 'cadences',
  doc: 'docs/rules/cadence.md',
  timers: true,
} as const satisfies RuleInfo;
