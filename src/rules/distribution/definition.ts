import type { RuleInfo } from '../definition.js';

/** R2: who gets a lead: weights, shifts, caps, routing and intake pauses. */
export const R2 = {
  id: 'R2',
  title: 'Распределение',
  summary: 'leads shared by weight, shift, cap, routing and pauses',
  seed: 'seed 001 «робот назначает ответственного»; seed 002 §1.1',
  folder: 'src/rules/distribution/',
  configKey: 'departments',
  doc: 'docs/rules/pickup-distribution.md',
  timers: false,
} as const satisfies RuleInfo;
