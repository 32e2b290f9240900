/**
 * R2's routing piece of the rules file (`routing`, seed 003: the listing's owner and a returning client's manager
 * come before the rotation) and its compile step. Pure. The rotation itself is configured per department.
 */
import { z } from 'zod';
import type { CompiledRules } from '../types.js';

export const RoutingSchema = z
  .object({
    returningClient: z.boolean().default(true),
    /** Lead field holding the listing owner's name or amoCRM user id. */
    listingOwnerFieldId: z.number().int().positive().optional(),
    /** A tag "<prefix><agent's name>" names the listing owner, e.g. "Объект: Анна Смирнова". */
    listingOwnerTagPrefix: z.string().min(1).optional(),
  })
  .strict();
export type RoutingConfig = z.infer<typeof RoutingSchema>;

export function compileRouting(r: RoutingConfig): NonNullable<CompiledRules['routing']> {
  return {
    returningClient: r.returningClient,
    ...(r.listingOwnerFieldId !== undefined ? { listingOwnerFieldId: r.listingOwnerFieldId } : {}),
    ...(r.listingOwnerTagPrefix !== undefined ? { listingOwnerTagPrefix: r.listingOwnerTagPrefix } : {}),
  };
}
