/**
 * Every rule the service runs, R1-R12, in the regulations' order. This is the one list of rules: the admin page, the
 * dry run, the job handlers' registration, the shadow switch and the README's rules table (checked by a test) read
 * it. A stage rule is added to ./stage-rules/registry.ts and appears here by itself.
 */
import { R3 } from './cadence/definition.js';
import type { RuleInfo } from './definition.js';
import { R2 } from './distribution/definition.js';
import { R1 } from './pickup/definition.js';
import { R11, R12 } from './reports/definition.js';
import { STAGE_RULE_LIST } from './stage-rules/registry.js';

export type { RuleInfo } from './definition.js';

export const RULES: readonly RuleInfo[] = [
  R1,
  R2,
  R3,
  ...STAGE_RULE_LIST.map(({ id, title, summary, seed, folder, configKey, doc, timers }) => ({
    id,
    title,
    summary,
    seed,
    folder,
    configKey,
    doc,
    timers,
  })),
  R11,
  R12,
];

export function ruleInfo(id: string): RuleInfo | undefined {
  return RULES.find((r) => r.id === id);
}

/**
 * The code plans carry in `Plan.rule` for each top-level block under `rules:` in the rules file (`rules.pickup` →
 * `R1`), so a switch such as `shadow: true` can be asked by either.
 */
export const RULE_CODES: Readonly<Record<string, string>> = Object.fromEntries(
  RULES.filter((r) => /^rules\.[A-Za-z]+$/.test(r.configKey)).map((r) => [r.configKey.slice('rules.'.length), r.id]),
);

export interface RuleStatus extends RuleInfo {
  /** The rule runs: its config block exists and is not switched off (a list rule: it has entries). */
  enabled: boolean;
  /** Evaluated and recorded without amoCRM writes (`shadow: true` on its block). */
  shadow: boolean;
}

/** Each rule's switches as a rules config (parsed, defaults applied) sets them. */
export function ruleStatuses(config: unknown): RuleStatus[] {
  return RULES.map((r) => {
    const block = r.configKey
      .split('.')
      .reduce<unknown>(
        (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
        config,
      );
    const on = Array.isArray(block)
      ? block.some((x) => (x as { enabled?: unknown }).enabled !== false)
      : block !== undefined && block !== null && (block as { enabled?: unknown }).enabled !== false;
    const shadow =
      !Array.isArray(block) &&
      block !== null &&
      typeof block === 'object' &&
      (block as { shadow?: unknown }).shadow === true;
    return { ...r, enabled: on, shadow };
  });
}
