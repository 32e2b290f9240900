/** R10 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import { ruDuration } from '../../../lib/ru-duration.js';
import type { StageRuleDefinition } from '../define.js';
import { compileWeeklyUpdate, WeeklyUpdateSchema } from './config.js';
import { r10WeeklyUpdate, R10_SEED } from './rule.js';

export const R10 = {
  id: 'R10',
  title: 'Обновление раз в неделю',
  summary: 'a lead updated at least weekly',
  seed: R10_SEED,
  folder: 'src/rules/stage-rules/r10-weekly-update/',
  configKey: 'stageRules.weeklyUpdate',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: WeeklyUpdateSchema.default(WeeklyUpdateSchema.parse({})),
  compile: compileWeeklyUpdate,
  watchedStages: () => [],
  clockFromEntry: false,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: {
    lead_stale: {
      plain: 'сделка без движения дольше нормы',
      text: (s) =>
        s.weeklyUpdate ? `сделка без движения дольше, чем ${ruDuration(s.weeklyUpdate.maxSilenceMs)}` : undefined,
    },
  },
  handlers: r10WeeklyUpdate,
} satisfies StageRuleDefinition;
