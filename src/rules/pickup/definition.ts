import type { RuleInfo } from '../definition.js';

/** R1: a new lead is taken into work within the configured time, else it goes to the next manager. */
export const R1 = {
  id: 'R1',
  title: 'Взять в работу',
  summary: 'a new lead taken into work within `timeout`, else reassigned',
  seed: 'seed 001 «Передан в работу»: 15 минут, чтобы взять клиента в работу',
  folder: 'src/rules/pickup/',
  configKey: 'rules.pickup',
  doc: 'docs/rules/pickup-distribution.md',
  timers: true,
} as const satisfies RuleInfo;
