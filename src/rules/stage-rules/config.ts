/**
 * The compiled `stageRules` block: ids and milliseconds, one piece per rule, each from its folder's compile step
 * (the registry, ./registry.ts, checks at compile time that this list and its definitions agree).
 */
import type { CompiledHandoff } from './r4-handoff/config.js';
import type { CompiledCloseReason } from './r5-close-reason/config.js';
import type { CompiledDeferred } from './r6-deferred/config.js';
import type { CompiledMeeting } from './r7-meeting/config.js';
import type { CompiledMustPass } from './r8-must-pass-through/config.js';
import type { CompiledOffer } from './r9-offer/config.js';
import type { CompiledWeeklyUpdate } from './r10-weekly-update/config.js';

export { StageDurationSchema, type StageRef } from './parts.js';
export type { CompiledMustPass } from './r8-must-pass-through/config.js';

/** The per-rule pieces of the compiled block. */
export type StagePieceKey = Exclude<keyof CompiledStageRules, 'pipelineId' | 'statusNames' | 'pieceOf'>;

export interface CompiledStageRules {
  pipelineId: number;
  /** Every stage of the account's pipelines: id → name, for notes. */
  statusNames: ReadonlyMap<number, string>;
  /** Which piece each rule reads, by rule id (`R9` → `offer`), from the registry: a violation's evidence quotes it. */
  pieceOf: Readonly<Record<string, StagePieceKey>>;
  handoff?: CompiledHandoff;
  closeReason?: CompiledCloseReason;
  deferred?: CompiledDeferred;
  meeting?: CompiledMeeting;
  mustPassThrough: CompiledMustPass[];
  offer?: CompiledOffer;
  weeklyUpdate?: CompiledWeeklyUpdate;
}
