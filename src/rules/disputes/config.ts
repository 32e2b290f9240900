/**
 * The rules file's `disputes` block: how long a manager has to contest a violation and the РОП to decide it. Every
 * field has a default, so rules files without the block stay valid.
 */
import { Duration } from 'luxon';
import { z } from 'zod';

const PositiveIso = z
  .string()
  .refine((s) => {
    const d = Duration.fromISO(s);
    return d.isValid && d.toMillis() > 0;
  }, 'must be a positive ISO-8601 duration such as PT12H, P2D or P1W')
  .describe('ISO-8601 duration, e.g. P2D');

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
    disputeWithinMs: Duration.fromISO(cfg.disputeWithin).toMillis(),
    decideWithin: cfg.decideWithin,
    decideWithinMs: Duration.fromISO(cfg.decideWithin).toMillis(),
  };
}

export const DEFAULT_DISPUTES: CompiledDisputes = compileDisputes(DisputesSchema.parse({}));
