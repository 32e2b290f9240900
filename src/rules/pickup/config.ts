/**
 * R1's piece of the rules file (`rules.pickup`, seed 001: 15 minutes to take a lead into work) and its compile step.
 * Pure: names resolve against the account directory; a stage that no longer resolves switches the rule off (ids 0
 * match no lead), not the service.
 */
import { z } from 'zod';
import { resolveStatus, type AccountDirectory } from '../directory.js';
import { durationSchema, ms } from '../duration.js';
import type { CompiledRules } from '../types.js';

const IsoDurationSchema = durationSchema();

export const TAKEN_SIGNALS = ['left_stage', 'outgoing_call', 'note', 'task_completed'] as const;
export type TakenSignal = (typeof TAKEN_SIGNALS)[number];

export const PickupRuleSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Shadow mode: evaluated and recorded, but no amoCRM writes; for rolling a rule change out safely. */
    shadow: z.boolean().default(false),
    pipeline: z.string().min(1),
    stage: z.string().min(1),
    /** R1, seed 001: 15 minutes to take the lead into work. */
    timeout: IsoDurationSchema.default('PT15M'),
    maxMisses: z.number().int().min(1).max(20).default(3),
    takenBy: z
      .array(z.enum(TAKEN_SIGNALS))
      .min(1)
      .default([...TAKEN_SIGNALS]),
    /** A drag to another stage counts as taken only with an outgoing call before it. */
    stageMoveRequiresCall: z.boolean().default(false),
    clockRunsOnlyOnShift: z.boolean().default(true),
    pinTag: z.string().min(1).default('СОГЛАСОВАНО РОПом'),
    strategy: z.enum(['smooth_weighted_round_robin', 'least_loaded']).default('smooth_weighted_round_robin'),
    /** Users whose changes are robots' (besides user 0 and the integration's own user). */
    robotUsers: z.array(z.string()).default([]),
    /** Deadlines within this window are checked together (one leads and one events request per batch). */
    batchWindow: IsoDurationSchema.default('PT5S'),
    /** How often the safety sweep looks for leads in the stage with no clock. */
    sweepInterval: IsoDurationSchema.default('PT1M'),
  })
  .strict();
export type PickupRuleConfig = z.infer<typeof PickupRuleSchema>;

/** A name that no longer resolves and what it switches off. */
export interface PickupWarning {
  path: string;
  message: string;
  disabled: string;
}

export function compilePickup(
  p: PickupRuleConfig,
  dir: AccountDirectory,
  user: (path: string, name: string, disabled: string) => number | undefined,
  warn: (w: PickupWarning) => void,
): CompiledRules['pickup'] {
  const stage = resolveStatus(dir, p.pipeline, p.stage);
  if (!stage.ok) warn({ path: 'rules.pickup.stage', message: stage.error, disabled: 'rule pickup (R1)' });
  const robots = new Set<number>([0]);
  if (dir.currentUserId !== undefined) robots.add(dir.currentUserId);
  p.robotUsers.forEach((name, i) => {
    const id = user(`rules.pickup.robotUsers[${i}]`, name, `robot user "${name}"`);
    if (id !== undefined) robots.add(id);
  });
  return {
    // A stage that no longer resolves switches the rule off (ids 0 match no lead), not the service.
    enabled: p.enabled && stage.ok,
    pipelineId: stage.ok ? stage.value.pipelineId : 0,
    statusId: stage.ok ? stage.value.statusId : 0,
    stageName: p.stage,
    timeoutMs: ms(p.timeout),
    maxMisses: p.maxMisses,
    takenBy: new Set(p.takenBy),
    stageMoveRequiresCall: p.stageMoveRequiresCall,
    clockRunsOnlyOnShift: p.clockRunsOnlyOnShift,
    pinTag: p.pinTag,
    strategy: p.strategy,
    robotUserIds: robots,
    batchWindowMs: ms(p.batchWindow),
    sweepIntervalMs: ms(p.sweepInterval),
  };
}
