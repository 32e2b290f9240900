/**
 * The violation ledger's rules (SPEC R11/R12; the ledger itself is src/store/violation-ledger.ts): every violation is
 * open when recorded; its manager may contest it (disputed) within `disputeWithin`; the РОП or fallback of its
 * department decides it (upheld or withdrawn), never the manager whose violation it is; a violation whose condition
 * was fixed before anyone contested it is cured. Withdrawn violations count nowhere. Pure: the shell reads the entry
 * and the clock and applies what these functions allow.
 */
import type { CompiledDisputes } from './config.js';

export type ViolationState = 'open' | 'disputed' | 'upheld' | 'withdrawn' | 'cured';
export const VIOLATION_STATES: readonly ViolationState[] = ['open', 'disputed', 'upheld', 'withdrawn', 'cured'];

/** Where a change came from. */
export type LedgerVia = 'robot' | 'telegram' | 'widget' | 'admin';

/** One change of a violation's state: who, when, how, and what they wrote. */
export interface LedgerChange {
  state: ViolationState;
  at: string;
  /** The person as people read it (name and channel), or `robot`. */
  by: string;
  byUserId?: number | undefined;
  via: LedgerVia;
  note?: string | undefined;
}

/** What the rule used to decide the violation: the times it read, the config in force, the regulation line. */
export interface ViolationEvidence {
  /** When the measured window opened (the stage entry, the last touch, the assignment). */
  since?: string | undefined;
  /** When the rule decided. */
  decidedAt: string;
  /** The lead as the rule saw it. */
  lead?: { pipelineId?: number | undefined; statusId?: number | undefined; responsibleUserId?: number | undefined };
  /** The rule's config values in force (durations as written in the rules file and in milliseconds). */
  config?: Record<string, unknown> | undefined;
  /** The events the rule read, oldest first. */
  events?: Array<{ what: string; at: string }> | undefined;
}

export interface LedgerEntry {
  /** Short stable reference for buttons and URLs (16 hex digits of the id). */
  ref: string;
  /** The violation id the record, the alert and reports share (`<type>:<leadId>:<window>`). */
  id: string;
  state: ViolationState;
  rule: string;
  type: string;
  leadId: number;
  userId?: number | undefined;
  department?: string | undefined;
  /** When the violation was recorded. */
  at: string;
  seed?: string | undefined;
  reason: string;
  evidence?: ViolationEvidence | undefined;
  history: LedgerChange[];
}

/**
 * The reference of a violation id: two 32-bit FNV-1a hashes with different offsets, 16 hex digits (a Telegram
 * button's data has 64 bytes; ids are longer). Deterministic, so every process derives the same one.
 */
export function violationRef(id: string): string {
  const fnv = (offset: number): string => {
    let h = offset >>> 0;
    for (let i = 0; i < id.length; i++) {
      h ^= id.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16).padStart(8, '0');
  };
  return `${fnv(0x811c9dc5)}${fnv(0x050c5d1f)}`;
}

export const isViolationRef = (s: string): boolean => /^[0-9a-f]{16}$/.test(s);

/** A dispute's reason is a few words at least, and at most a long paragraph. */
export const MIN_REASON_CHARS = 5;
export const MAX_REASON_CHARS = 1000;

export type DisputeRefusal = 'disabled' | 'not_yours' | 'late' | 'not_open';

/** Whether `userId` may contest the violation now; `deadlineMs` is when contesting closes. */
export function checkDispute(
  entry: Pick<LedgerEntry, 'state' | 'userId' | 'at'>,
  userId: number,
  cfg: CompiledDisputes,
  nowMs: number,
): { ok: true; deadlineMs: number } | { ok: false; why: DisputeRefusal; deadlineMs: number } {
  const deadlineMs = Date.parse(entry.at) + cfg.disputeWithinMs;
  if (!cfg.enabled) return { ok: false, why: 'disabled', deadlineMs };
  if (entry.userId === undefined || entry.userId !== userId) return { ok: false, why: 'not_yours', deadlineMs };
  if (entry.state !== 'open') return { ok: false, why: 'not_open', deadlineMs };
  if (nowMs > deadlineMs) return { ok: false, why: 'late', deadlineMs };
  return { ok: true, deadlineMs };
}

export type DecisionRefusal = 'not_head' | 'own' | 'not_disputed';

/**
 * Whether `userId` may decide the dispute: the РОП or fallback of the violation's department (`headsOf` lists the
 * departments they head), never the manager whose violation it is.
 */
export function checkDecision(
  entry: Pick<LedgerEntry, 'state' | 'userId' | 'department'>,
  userId: number,
  headsOf: readonly string[],
): { ok: true } | { ok: false; why: DecisionRefusal } {
  if (entry.userId !== undefined && entry.userId === userId) return { ok: false, why: 'own' };
  if (entry.department === undefined || !headsOf.includes(entry.department)) return { ok: false, why: 'not_head' };
  if (entry.state !== 'disputed') return { ok: false, why: 'not_disputed' };
  return { ok: true };
}

/** When the dispute was opened, from the history; undefined when it never was. */
export function disputedAt(entry: Pick<LedgerEntry, 'history'>): string | undefined {
  return entry.history.find((c) => c.state === 'disputed')?.at;
}

/** The manager's reason, as written when contesting. */
export function disputeReason(entry: Pick<LedgerEntry, 'history'>): string | undefined {
  return entry.history.find((c) => c.state === 'disputed')?.note;
}

/** A dispute still waiting past `decideWithin`. */
export function decisionOverdue(entry: LedgerEntry, cfg: CompiledDisputes, nowMs: number): boolean {
  const since = disputedAt(entry);
  return entry.state === 'disputed' && since !== undefined && nowMs - Date.parse(since) > cfg.decideWithinMs;
}

/** Per manager: violations that count (not withdrawn), contested ever, and withdrawn. */
export interface ViolationCounts {
  counted: number;
  disputed: number;
  withdrawn: number;
}

export function countViolations(states: Iterable<ViolationState>): ViolationCounts {
  const c: ViolationCounts = { counted: 0, disputed: 0, withdrawn: 0 };
  for (const s of states) {
    if (s !== 'withdrawn') c.counted += 1;
    if (s === 'disputed' || s === 'upheld' || s === 'withdrawn') c.disputed += 1;
    if (s === 'withdrawn') c.withdrawn += 1;
  }
  return c;
}
