/**
 * R11 and R12 read the record rather than a lead, so their code is in src/reports/ (it reads the record store); what
 * they are and where their config sits is declared here, with the other rules.
 */
import type { RuleInfo } from '../definition.js';

export const R11 = {
  id: 'R11',
  title: 'Рейтинг месяца',
  summary: 'the monthly ranking and its weight factors',
  seed: 'seed 001 «Правило распределения лидов»',
  folder: 'src/reports/',
  configKey: 'rules.reports.ranking',
  doc: 'docs/rules/reports.md',
  timers: false,
} as const satisfies RuleInfo;

export const R12 = {
  id: 'R12',
  title: 'Ежедневная сводка',
  summary: 'the daily digest',
  seed: 'seed 004 правило 5; seed 003 «статистика»',
  folder: 'src/reports/',
  configKey: 'rules.reports',
  doc: 'docs/rules/reports.md',
  timers: false,
} as const satisfies RuleInfo;
