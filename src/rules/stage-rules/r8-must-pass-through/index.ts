/** R8 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import { z } from 'zod';
import type { StageRuleDefinition } from '../define.js';
import { compileMustPassThrough, MustPassThroughSchema } from './config.js';
import { r8MustPassThrough, R8_SEED } from './rule.js';

export const R8 = {
  id: 'R8',
  title: 'Этапы без пропусков',
  summary: 'stages not skipped',
  seed: R8_SEED,
  folder: 'src/rules/stage-rules/r8-must-pass-through/',
  configKey: 'stageRules.mustPassThrough',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: z.array(MustPassThroughSchema).default([]),
  compile: compileMustPassThrough,
  watchedStages: (s) => s.mustPassThrough.flatMap((mp) => [mp.from.statusId, mp.mustPass.statusId]),
  clockFromEntry: false,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: {
    meeting_skipped: {
      plain: 'пропущен этап «Встреча состоялась»',
      text: (s) => {
        const mp = s.mustPassThrough.find((m) => m.violation === 'meeting_skipped');
        return mp ? `пропущен этап «${mp.mustPass.name}»` : undefined;
      },
    },
  },
  handlers: r8MustPassThrough,
} satisfies StageRuleDefinition;
