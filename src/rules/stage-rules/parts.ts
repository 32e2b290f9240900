/**
 * What every stage rule's config piece is made of: ISO-8601 durations the engine can schedule, stage names as an admin
 * sees them in amoCRM, and the tools a rule's compile step resolves its names with.
 */
import { Duration } from 'luxon';
import { z } from 'zod';
import type { DirectoryPipeline } from '../directory.js';

export const StageDurationSchema = z
  .string()
  .refine((s) => {
    // What the engine can schedule: at least a second (a timer due sooner would fire again at once), fractions allowed.
    const d = Duration.fromISO(s);
    return d.isValid && d.toMillis() >= 1000;
  }, 'must be an ISO-8601 duration of at least one second, such as PT10M, P1D, P1.5D or P7D')
  .describe('ISO-8601 duration, e.g. P1D');

export const LOCAL_TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM');
export const Stage = z.string().min(1);
export const FieldId = z.number().int().positive().describe('amoCRM custom field id (Settings → fields)');

export interface StageRef {
  pipelineId: number;
  statusId: number;
  name: string;
}

/** An ISO-8601 duration in milliseconds (the schema above has already refused what luxon cannot read). */
export const ms = (iso: string): number => Duration.fromISO(iso).toMillis();

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
