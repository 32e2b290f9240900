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
  handlers: r8MustPassThrough,
} satisfies StageRuleDefinition;
