/**
 * R2 routing before rotation (SPEC R2; seed 003: «Создаёт заявку на того агента, чей объект … Присваивает заявку
 * агенту, который ведёт этот объект»): a lead about a listing goes to the listing's owner (a configured lead field
 * holding the agent's name or user id, or a tag `<prefix><agent's name>`), a returning client to the manager who
 * owns the contact — when that person is eligible now. Otherwise rotation decides and the reason is kept.
 */
import type { CompiledDepartment, CompiledRules, LeadSnapshot, RoutingNote, RuleContext } from '../types.js';
import { eligibleCandidates } from './distribution.js';

const norm = (s: string): string => s.trim().toLocaleLowerCase('ru').replace(/ё/g, 'е').replace(/\s+/g, ' ');

function userByNameOrId(rules: CompiledRules, text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t) && rules.userNames.has(Number(t))) return Number(t);
  for (const [id, name] of rules.userNames) if (norm(name) === norm(t)) return id;
  return undefined;
}

export function listingOwnerOf(lead: LeadSnapshot, rules: CompiledRules): number | undefined {
  const r = rules.routing;
  if (!r) return undefined;
  if (r.listingOwnerFieldId !== undefined) {
    const v = lead.fields?.get(r.listingOwnerFieldId);
    const id = v !== undefined ? userByNameOrId(rules, v) : undefined;
    if (id !== undefined) return id;
  }
  if (r.listingOwnerTagPrefix) {
    const prefix = norm(r.listingOwnerTagPrefix);
    for (const tag of lead.tags) {
      if (!norm(tag).startsWith(prefix)) continue;
      const id = userByNameOrId(rules, tag.trim().slice(r.listingOwnerTagPrefix.trim().length));
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

export type RouteResult =
  | { kind: 'routed'; department: CompiledDepartment; note: RoutingNote; weight: number; cap: number }
  | { kind: 'rotation'; note?: RoutingNote };

/** The owner the lead should go to, if any, and whether they can take it now (else why rotation decides). */
export function route(lead: LeadSnapshot, ctx: RuleContext, excluded: ReadonlySet<number>): RouteResult {
  const { rules } = ctx;
  const owners: Array<{ kind: RoutingNote['kind']; userId: number }> = [];
  const listing = listingOwnerOf(lead, rules);
  if (listing !== undefined) owners.push({ kind: 'listing_owner', userId: listing });
  if (rules.routing?.returningClient && lead.contactOwnerUserId !== undefined && lead.contactOwnerUserId > 0)
    owners.push({ kind: 'returning_client', userId: lead.contactOwnerUserId });
  let first: RoutingNote | undefined;
  for (const o of owners) {
    const dept = rules.departments.find((d) => d.managers.some((m) => m.userId === o.userId));
    if (!dept) {
      first ??= { ...o, skipped: 'not_a_manager' };
      continue;
    }
    const { eligible, skipped } = eligibleCandidates(dept, ctx, excluded);
    const me = eligible.find((c) => c.userId === o.userId);
    if (me) return { kind: 'routed', department: dept, note: o, weight: me.weight, cap: me.cap };
    first ??= { ...o, skipped: skipped.find((s) => s.userId === o.userId)?.reason ?? 'not_a_manager' };
  }
  return first ? { kind: 'rotation', note: first } : { kind: 'rotation' };
}
