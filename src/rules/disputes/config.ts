/**
 * The rules file's `disputes` block: how long a manager has to contest a violation and the РОП to decide it. Every
 * field has a default, so rules files without the block stay valid.
 */
import { z } from 'zod';
import { durationSchema, ms } from '../duration.js';

const PositiveIso = durationSchema('P2D');

export const DisputesSchema = z
  .object({
    /** Managers may contest their violations («Оспорить»); off: the button is not shown and presses are refused. */
    enabled: z.boolean().default(true),
    /** A violation can be contested this long after it was recorded. */
    disputeWithin: PositiveIso.default('P2D'),
    /** The РОП is expected to decide within this; an older undecided dispute is named in the daily digest. */
    decideWithin: PositiveIso.default('P3D'),
  })
  .strict();
export type DisputesConfig = z.infer<typeof DisputesSchema>;

export interface CompiledDisputes {
  enabled: boolean;
  disputeWithin: string;
  disputeWithinMs: number;
  decideWithin: string;
  decideWithinMs: number;
}

export function compileDisputes(cfg: DisputesConfig): CompiledDisputes {
  return {
    enabled: cfg.enabled,
    disputeWithin: cfg.disputeWithin,
    disputeWithinMs: ms(cfg.disputeWithin),
    decideWithin: cfg.decideWithin,
    decideWithinMs: ms(cfg.decideWithin),
  };
}

export const DEFAULT_DISPUTES: CompiledDisputes = compileDisputes(DisputesSchema.parse({}));
