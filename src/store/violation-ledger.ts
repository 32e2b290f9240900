/**
 * The violation ledger: every violation the robot records, with its state (open → disputed → upheld or withdrawn, or
 * cured) and who changed it, when and how (the rules of who may: src/rules/disputes/policy.ts).
 *
 * Keys (one slot, `{ledger}`): `<prefix>:{ledger}:v:<ref>`, the entry as JSON, and `<prefix>:{ledger}:at`, a sorted
 * set of refs by the violation's time for listing a period. Both are kept as long as the record's archives
 * (RECORD_ARCHIVE_DAYS). Every change is one Lua script: it reads the state, refuses a change from any other state than
 * the expected one, appends the change to the history and writes the entry, so two presses at once change it once.
 * An entry is created when the violation's record is written (idempotent: a retried plan opens it once) and cured
 * when the rule records the condition fixed.
 */
import type { Redis } from 'ioredis';
import {
  violationRef,
  type LedgerChange,
  type LedgerEntry,
  type ViolationEvidence,
  type ViolationState,
} from '../rules/disputes/policy.js';
import type { RobotRecord } from '../rules/plan.js';
import type { Keys } from './keys.js';
import { RECORD_ARCHIVE_DAYS } from './record-store.js';

const TTL_SECONDS = RECORD_ARCHIVE_DAYS * 24 * 3600;

/** KEYS: entry, index. ARGV: entry JSON, score, ttl, trim-before score. Creates the entry once; 1 when created. */
const OPEN = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), cjson.decode(ARGV[1]).ref)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1`;

/**
 * KEYS: entry. ARGV: expected states (comma-separated), the change JSON, ttl. Returns the entry after the change, or
 * {err-less} a two-element reply: 'missing' | 'state' and the entry as it is.
 */
const CHANGE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing', ''} end
local entry = cjson.decode(raw)
local ok = false
for s in string.gmatch(ARGV[1], '[^,]+') do if entry.state == s then ok = true end end
if not ok then return {'state', raw} end
local change = cjson.decode(ARGV[2])
entry.state = change.state
if type(entry.history) ~= 'table' or next(entry.history) == nil then entry.history = {} end
table.insert(entry.history, change)
local out = cjson.encode(entry)
redis.call('SET', KEYS[1], out, 'EX', tonumber(ARGV[3]))
return {'ok', out}`;

export type ChangeResult =
  { ok: true; entry: LedgerEntry } | { ok: false; why: 'missing' } | { ok: false; why: 'state'; entry: LedgerEntry };

export interface ViolationLedger {
  /** Creates the entry of a violation record (once); true when it was created now. */
  open(record: RobotRecord): Promise<boolean>;
  /** Applies what a written record means for the ledger: a violation opens, a `violation_resolved` cures. */
  onRecord(record: RobotRecord): Promise<void>;
  get(ref: string): Promise<LedgerEntry | undefined>;
  byId(violationId: string): Promise<LedgerEntry | undefined>;
  /** Changes the state when it is one of `from`; the change is appended to the history. */
  change(ref: string, from: readonly ViolationState[], change: LedgerChange): Promise<ChangeResult>;
  /** The entries of violations recorded between two instants (inclusive), oldest first. */
  range(fromMs: number, toMs: number, limit?: number): Promise<LedgerEntry[]>;
  /** States of the given violation ids (those without an entry are left out). */
  states(ids: Iterable<string>): Promise<Map<string, ViolationState>>;
}

const parse = (raw: string | null): LedgerEntry | undefined => {
  if (raw === null || raw === '') return undefined;
  const e = JSON.parse(raw) as LedgerEntry;
  // cjson writes an empty Lua table as {}; the history is a list.
  if (!Array.isArray(e.history)) e.history = [];
  if (e.evidence && e.evidence.events !== undefined && !Array.isArray(e.evidence.events)) e.evidence.events = [];
  return e;
};

export function createViolationLedger(redis: Redis, keys: Keys): ViolationLedger {
  const entryKey = (ref: string): string => keys.tagged('ledger', 'v', ref);
  const indexKey = keys.tagged('ledger', 'at');

  const ledger: ViolationLedger = {
    async open(record) {
      if (record.kind !== 'violation' || record.violationId === undefined) return false;
      const ref = violationRef(record.violationId);
      const atMs = Date.parse(record.at);
      const entry: LedgerEntry = {
        ref,
        id: record.violationId,
        state: 'open',
        rule: record.rule,
        type: record.type ?? 'unknown',
        leadId: record.leadId,
        ...(record.userId !== undefined ? { userId: record.userId } : {}),
        ...(record.department !== undefined ? { department: record.department } : {}),
        at: record.at,
        ...(record.seed !== undefined ? { seed: record.seed } : {}),
        reason: record.reason,
        ...(record.evidence !== undefined ? { evidence: record.evidence as ViolationEvidence } : {}),
        history: [{ state: 'open', at: record.at, by: 'robot', via: 'robot', note: record.reason }],
      };
      const created = (await redis.eval(
        OPEN,
        2,
        entryKey(ref),
        indexKey,
        JSON.stringify(entry),
        String(atMs),
        String(TTL_SECONDS),
        String(atMs - TTL_SECONDS * 1000),
      )) as number;
      return created === 1;
    },
    async onRecord(record) {
      if (record.kind === 'violation') await ledger.open(record);
      else if (record.kind === 'action' && record.type === 'violation_resolved' && record.violationId !== undefined)
        await ledger.change(violationRef(record.violationId), ['open'], {
          state: 'cured',
          at: record.at,
          by: 'robot',
          via: 'robot',
          note: record.reason,
        });
    },
    async get(ref) {
      return parse(await redis.get(entryKey(ref)));
    },
    async byId(violationId) {
      return ledger.get(violationRef(violationId));
    },
    async change(ref, from, change) {
      const [status, raw] = (await redis.eval(
        CHANGE,
        1,
        entryKey(ref),
        from.join(','),
        JSON.stringify(change),
        String(TTL_SECONDS),
      )) as [string, string];
      if (status === 'missing') return { ok: false, why: 'missing' };
      const entry = parse(raw);
      if (!entry) return { ok: false, why: 'missing' };
      return status === 'ok' ? { ok: true, entry } : { ok: false, why: 'state', entry };
    },
    async range(fromMs, toMs, limit = 10_000) {
      const refs = await redis.zrangebyscore(indexKey, fromMs, toMs, 'LIMIT', 0, limit);
      if (refs.length === 0) return [];
      const raws = await redis.mget(refs.map(entryKey));
      return raws.map(parse).filter((e): e is LedgerEntry => e !== undefined);
    },
    async states(ids) {
      const list = [...new Set(ids)];
      const out = new Map<string, ViolationState>();
      for (let i = 0; i < list.length; i += 500) {
        const part = list.slice(i, i + 500);
        const raws = await redis.mget(part.map((id) => entryKey(violationRef(id))));
        raws.forEach((raw, j) => {
          const e = parse(raw);
          if (e) out.set(part[j]!, e.state);
        });
      }
      return out;
    },
  };
  return ledger;
}
