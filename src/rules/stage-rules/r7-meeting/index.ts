/** R7 as one definition: its identity, config piece, compile step and handlers (registered in ../registry.ts). */
import type { StageRuleDefinition } from '../define.js';
import { compileMeeting, MeetingSchema } from './config.js';
import { r7Meeting, R7_SEED } from './rule.js';

export const R7 = {
  id: 'R7',
  title: 'Встреча',
  summary: 'meeting time filled and confirmed',
  seed: R7_SEED,
  folder: 'src/rules/stage-rules/r7-meeting/',
  configKey: 'stageRules.meeting',
  doc: 'docs/rules/stage-rules.md',
  timers: true,
  schema: MeetingSchema.optional(),
  compile: compileMeeting,
  watchedStages: (s) => (s.meeting ? [s.meeting.stage.statusId] : []),
  clockFromEntry: true,
  /** The Russian title of its violation in the РОП's alerts: with the config in force, or the plain wording. */
  violations: { meeting_without_time: { plain: 'встреча назначена без даты и времени', text: () => undefined } },
  handlers: r7Meeting,
} satisfies StageRuleDefinition;
