/**
 * What every stage rule's config piece is made of: ISO-8601 durations the engine can schedule, stage names as an admin
 * sees them in amoCRM, and the tools a rule's compile step resolves its names with.
 */
import { z } from 'zod';
import type { DirectoryPipeline } from '../directory.js';
import { durationSchema, ms } from '../duration.js';

export const StageDurationSchema = durationSchema('P1D');

export const LOCAL_TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM');
export const Stage = z.string().min(1);
export const FieldId = z.number().int().positive().describe('amoCRM custom field id (Settings → fields)');

export interface StageRef {
  pipelineId: number;
  statusId: number;
  name: string;
}

export { ms };

/** What a rule's compile step gets: its path in the rules file and name resolution that reports to the admin. */
export interface StageCompileTools {
  /** `stageRules.<key>`: where the rule's errors point. */
  path: string;
  /** The pipeline `stageRules.pipeline` names. */
  pipeline: DirectoryPipeline;
  /** A stage of `p` (the rules' pipeline by default) by name; an unknown name is an error at `path`. */
  stage(name: string, path: string, p?: DirectoryPipeline): StageRef | undefined;
  /** Another pipeline by name; an unknown name is an error at `path`. */
  pipelineOf(name: string, path: string): DirectoryPipeline | undefined;
}
