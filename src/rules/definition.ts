/**
 * What every rule declares about itself, in its own folder: who it is, which line of the regulations it enforces,
 * where its config sits in the rules file and where it is documented. The registry (src/rules/registry.ts) lists
 * these; everything that enumerates rules (the admin page, the dry run, the job handlers, the docs check) reads it.
 */
export interface RuleInfo {
  /** `R1` … `R12`: the id records, plans, timers and alerts carry. */
  id: string;
  /** Short Russian name, as the admin page shows it. */
  title: string;
  /** What the rule keeps, in English (README table, logs). */
  summary: string;
  /** The regulation line it enforces (`seed 001 «…»`). */
  seed: string;
  /** Where its code lives. */
  folder: string;
  /** Where its config sits in the rules file (dotted path), e.g. `stageRules.handoff`. */
  configKey: string;
  /** Its documentation page. */
  doc: string;
  /** It schedules timers of its own id (the effect loop hands them to the rule's due handler). */
  timers: boolean;
}
