/**
 * The stage rules R4-R10: one definition per folder, in the order the regulations walk a lead through the pipeline
 * (and the order their handlers run). The `stageRules` block of the rules file, its compile step and the handler
 * list are built from this map; adding a stage rule is one folder and one line here (docs/architecture.md).
 */
import { z } from 'zod';
import { resolvePipeline, resolveStatus, type AccountDirectory } from '../directory.js';
import type { CompiledStageRules } from './config.js';
import type { StageCompileTools, StageRef } from './parts.js';
import { R4 } from './r4-handoff/index.js';
import { R5 } from './r5-close-reason/index.js';
import { R6 } from './r6-deferred/index.js';
import { R7 } from './r7-meeting/index.js';
import { R8 } from './r8-must-pass-through/index.js';
import { R9 } from './r9-offer/index.js';
import { R10 } from './r10-weekly-update/index.js';
import type { StageRule } from './rule.js';
import type { StageRuleDefinition } from './define.js';

/** Config key (under `stageRules`) → definition. */
export const STAGE_RULE_DEFINITIONS = {
  handoff: R4,
  closeReason: R5,
  deferred: R6,
  meeting: R7,
  mustPassThrough: R8,
  offer: R9,
  weeklyUpdate: R10,
} as const satisfies Record<string, StageRuleDefinition>;

type Definitions = typeof STAGE_RULE_DEFINITIONS;
export type StageRuleKey = keyof Definitions;
const KEYS = Object.keys(STAGE_RULE_DEFINITIONS) as StageRuleKey[];

/** Every compiled piece of CompiledStageRules comes from exactly one definition's compile step. */
type Pieces = { [K in StageRuleKey]: Exclude<ReturnType<Definitions[K]['compile']>, undefined> };
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const piecesMatch: Same<Pieces, Required<Omit<CompiledStageRules, 'pipelineId' | 'statusNames' | 'pieceOf'>>> = true;
void piecesMatch;

export const STAGE_RULES: StageRule[] = KEYS.map((k) => STAGE_RULE_DEFINITIONS[k].handlers);
export const STAGE_RULE_IDS: string[] = KEYS.map((k) => STAGE_RULE_DEFINITIONS[k].id);
export const STAGE_RULE_LIST: StageRuleDefinition[] = KEYS.map((k) => STAGE_RULE_DEFINITIONS[k]);

const pieces = Object.fromEntries(KEYS.map((k) => [k, STAGE_RULE_DEFINITIONS[k].schema])) as {
  [K in StageRuleKey]: Definitions[K]['schema'];
};

export const StageRulesSchema = z
  .object({
    /** The pipeline the stage names below belong to. */
    pipeline: z.string().min(1),
    ...pieces,
  })
  .strict()
  .describe(`Stage rules ${STAGE_RULE_IDS[0]}-${STAGE_RULE_IDS.at(-1)}`);
export type StageRulesConfig = z.infer<typeof StageRulesSchema>;

/** Resolves names to ids; every unresolved name is an error with the names that exist. */
export function compileStageRules(
  cfg: StageRulesConfig,
  dir: AccountDirectory,
  error: (path: string, message: string) => void,
): CompiledStageRules | undefined {
  const at = 'stageRules';
  const pipelineOf = (name: string, path: string) => {
    const p = resolvePipeline(dir, name);
    if (!p.ok) error(path, p.error);
    return p.ok ? p.value : undefined;
  };
  const pipeline = pipelineOf(cfg.pipeline, `${at}.pipeline`);
  if (!pipeline) return undefined;
  const stage: StageCompileTools['stage'] = (name, path, p = pipeline): StageRef | undefined => {
    const s = resolveStatus({ ...dir, pipelines: [p] }, p.name, name);
    if (!s.ok) {
      error(path, s.error);
      return undefined;
    }
    return { ...s.value, name: p.statuses.find((x) => x.id === s.value.statusId)!.name };
  };
  const out: Record<string, unknown> = {
    pipelineId: pipeline.id,
    statusNames: new Map(dir.pipelines.flatMap((p) => p.statuses.map((x) => [x.id, x.name] as [number, string]))),
    pieceOf: Object.fromEntries(KEYS.map((key) => [STAGE_RULE_DEFINITIONS[key].id, key])),
  };
  for (const key of KEYS) {
    const compile = STAGE_RULE_DEFINITIONS[key].compile as (c: unknown, t: StageCompileTools) => unknown;
    const piece = compile(cfg[key], { path: `${at}.${key}`, pipeline, stage, pipelineOf });
    if (piece !== undefined) out[key] = piece;
  }
  return out as unknown as CompiledStageRules;
}
