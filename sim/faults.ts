/**
 * Fault controls of the simulator, for the chaos suite and fault tests: what amoCRM does on a bad day.
 *
 * - fault rules: a predicate on a request (method, path, lead ids it touches, probability, how many times) and
 *   what to answer instead (429 with retry_after, a 5xx, a 400 naming the lead, or a dropped socket);
 * - added latency on every API call;
 * - an outage: every API and OAuth call fails for N seconds;
 * - token expiry: every access token issued so far is invalid from now on;
 * - kill hooks: when a matching write lands, SIGKILL the process that sent it (its pid travels in a header) or
 *   given pids, after amoCRM applied the write and before the answer reaches the sender.
 *
 * The controller is plain data and decisions; the server applies them (sim/server.ts), and the control API
 * (sim/control.ts) exposes the same operations over HTTP so a harness in another process can flip them.
 */
import { z } from 'zod';
import { prng } from './scenario.js';

export const FaultActionSchema = z.discriminatedUnion('kind', [
  /** Answer this status instead of serving the request. 429 carries `retry_after` (seconds) like amoCRM. */
  z.object({
    kind: z.literal('status'),
    status: z.number().int().min(400).max(599),
    retryAfterSec: z.number().min(0).optional(),
  }),
  /** Close the connection without an answer (the client sees a socket error). */
  z.object({ kind: z.literal('drop') }),
]);
export type FaultAction = z.infer<typeof FaultActionSchema>;

const MatchSchema = z.object({
  /** HTTP method, e.g. PATCH; any when absent. */
  method: z.string().toUpperCase().optional(),
  /** Path prefix without the query, e.g. `/api/v4/leads` or `/oauth2/access_token`; any API or OAuth path when absent. */
  path: z.string().optional(),
  /** Matches a request that touches any of these leads (in its path, its body items or its `filter[id]`). */
  leadIds: z.array(z.number().int()).optional(),
});

export const FaultRuleInputSchema = MatchSchema.extend({
  action: FaultActionSchema,
  /** Share of matching requests that get the fault (seeded, so a run repeats). Default 1. */
  probability: z.number().min(0).max(1).optional(),
  /** How many times the rule fires before it retires itself; unlimited when absent. */
  times: z.number().int().positive().optional(),
});
export type FaultRuleInput = z.infer<typeof FaultRuleInputSchema>;

export const KillHookInputSchema = MatchSchema.extend({
  /** Only writes that change this lead field fire the hook (e.g. `responsible_user_id`); any write when absent. */
  field: z.string().optional(),
  /** `sender`: the pid in the request's pid header; or explicit pids. */
  target: z.union([z.literal('sender'), z.object({ pids: z.array(z.number().int().positive()) })]).default('sender'),
  times: z.number().int().positive().default(1),
});
export type KillHookInput = z.input<typeof KillHookInputSchema>;

export const LatencySchema = z.object({ ms: z.number().min(0), jitterMs: z.number().min(0).default(0) });
export const OutageSchema = z.object({
  seconds: z.number().positive(),
  /** What every call gets during the outage: a status (503 by default) or a dropped socket. */
  action: FaultActionSchema.default({ kind: 'status', status: 503 }),
});

export interface RequestInfo {
  method: string;
  path: string;
  leadIds: number[];
}

export interface FaultRule extends FaultRuleInput {
  id: string;
  hits: number;
}

export interface KillHook {
  id: string;
  method?: string;
  path?: string;
  leadIds?: number[];
  field?: string;
  target: 'sender' | { pids: number[] };
  times: number;
  fired: number;
}

export interface KillRecord {
  at: number;
  hookId: string;
  pids: number[];
  method: string;
  path: string;
  leadIds: number[];
  error?: string;
}

export interface FaultState {
  rules: FaultRule[];
  killHooks: KillHook[];
  kills: KillRecord[];
  latency: { ms: number; jitterMs: number };
  outageUntil: number | null;
  outageAction: FaultAction | null;
  tokensExpiredAt: number | null;
  /** Requests answered with an injected fault, by kind (`status:429`, `drop`, `outage`). */
  injected: Record<string, number>;
}

export interface FaultController {
  addRule(input: FaultRuleInput): string;
  removeRule(id: string): boolean;
  setLatency(latency: { ms: number; jitterMs?: number }): void;
  startOutage(seconds: number, action?: FaultAction): void;
  endOutage(): void;
  /** Invalidates every access token issued so far (the server supplies how). */
  expireTokens(): void;
  addKillHook(input: KillHookInput): string;
  /** Removes every rule, hook, latency and outage (counters and kill records stay). */
  clear(): void;
  state(): FaultState;

  // Used by the server on each request.
  outage(now: number): FaultAction | undefined;
  latencyMs(): number;
  /** The first rule that fires for this request (its action, and the leads it targets). */
  match(req: RequestInfo): { action: FaultAction; leadIds?: number[] } | undefined;
  /** The kill hook a write of these changed fields fires, consumed (one firing). */
  takeKillHook(req: RequestInfo, changedFields: string[]): KillHook | undefined;
  recordKill(record: KillRecord): void;
  countInjected(kind: string): void;
}

const matches = (
  m: { method?: string | undefined; path?: string | undefined; leadIds?: number[] | undefined },
  req: RequestInfo,
): boolean =>
  (m.method === undefined || m.method === req.method) &&
  (m.path === undefined || req.path.startsWith(m.path)) &&
  (m.leadIds === undefined || m.leadIds.some((id) => req.leadIds.includes(id)));

export function createFaultController(
  options: { seed?: number; now?: () => number; onExpireTokens?: () => void } = {},
): FaultController {
  const now = options.now ?? Date.now;
  const random = prng(options.seed ?? 1);
  let seq = 0;
  let rules: FaultRule[] = [];
  let hooks: KillHook[] = [];
  const kills: KillRecord[] = [];
  let latency = { ms: 0, jitterMs: 0 };
  let outageUntil: number | null = null;
  let outageAction: FaultAction | null = null;
  let tokensExpiredAt: number | null = null;
  const injected: Record<string, number> = {};

  return {
    addRule(input) {
      const parsed = FaultRuleInputSchema.parse(input);
      seq += 1;
      const id = `rule-${seq}`;
      rules.push({ ...parsed, id, hits: 0 });
      return id;
    },
    removeRule(id) {
      const before = rules.length;
      rules = rules.filter((r) => r.id !== id);
      return rules.length < before;
    },
    setLatency(l) {
      latency = { ms: l.ms, jitterMs: l.jitterMs ?? 0 };
    },
    startOutage(seconds, action = { kind: 'status', status: 503 }) {
      outageUntil = now() + seconds * 1000;
      outageAction = action;
    },
    endOutage() {
      outageUntil = null;
      outageAction = null;
    },
    expireTokens() {
      tokensExpiredAt = now();
      options.onExpireTokens?.();
    },
    addKillHook(input) {
      const parsed = KillHookInputSchema.parse(input);
      seq += 1;
      const id = `kill-${seq}`;
      hooks.push({
        id,
        ...(parsed.method !== undefined ? { method: parsed.method } : {}),
        ...(parsed.path !== undefined ? { path: parsed.path } : {}),
        ...(parsed.leadIds !== undefined ? { leadIds: parsed.leadIds } : {}),
        ...(parsed.field !== undefined ? { field: parsed.field } : {}),
        target: parsed.target,
        times: parsed.times,
        fired: 0,
      });
      return id;
    },
    clear() {
      rules = [];
      hooks = [];
      latency = { ms: 0, jitterMs: 0 };
      outageUntil = null;
      outageAction = null;
    },
    state: () => ({
      rules: rules.map((r) => ({ ...r })),
      killHooks: hooks.map((h) => ({ ...h })),
      kills: kills.map((k) => ({ ...k, pids: [...k.pids] })),
      latency: { ...latency },
      outageUntil: outageUntil !== null && outageUntil > now() ? outageUntil : null,
      outageAction: outageUntil !== null && outageUntil > now() ? outageAction : null,
      tokensExpiredAt,
      injected: { ...injected },
    }),

    outage(t) {
      if (outageUntil === null || t >= outageUntil) return undefined;
      return outageAction ?? { kind: 'status', status: 503 };
    },
    latencyMs: () => latency.ms + (latency.jitterMs > 0 ? Math.round(random() * latency.jitterMs) : 0),
    match(req) {
      for (const rule of rules) {
        if (!matches(rule, req)) continue;
        if (rule.probability !== undefined && rule.probability < 1 && random() >= rule.probability) continue;
        rule.hits += 1;
        if (rule.times !== undefined && rule.hits >= rule.times) rules = rules.filter((r) => r !== rule);
        return { action: rule.action, ...(rule.leadIds ? { leadIds: rule.leadIds } : {}) };
      }
      return undefined;
    },
    takeKillHook(req, changedFields) {
      const hook = hooks.find(
        (h) => h.fired < h.times && matches(h, req) && (h.field === undefined || changedFields.includes(h.field)),
      );
      if (!hook) return undefined;
      hook.fired += 1;
      return hook;
    },
    recordKill(record) {
      kills.push(record);
    },
    countInjected(kind) {
      injected[kind] = (injected[kind] ?? 0) + 1;
    },
  };
}

/** Lead ids a request touches: `/leads/<id>…` in the path, `id`/`entity_id` of body items, `filter[id]` in the query. */
export function leadIdsOf(path: string, body: unknown, query: unknown): number[] {
  const ids = new Set<number>();
  const m = /^\/api\/v4\/leads\/(\d+)/.exec(path);
  if (m?.[1]) ids.add(Number(m[1]));
  const items = Array.isArray(body) ? body : body && typeof body === 'object' ? [body] : [];
  const isLeadPath =
    path.startsWith('/api/v4/leads') &&
    !path.startsWith('/api/v4/leads/notes') &&
    !/^\/api\/v4\/leads\/\d+\/notes/.test(path);
  for (const item of items) {
    if (!item || typeof item !== 'object') continue;
    const o = item as Record<string, unknown>;
    if (isLeadPath && typeof o.id === 'number') ids.add(o.id);
    if (typeof o.entity_id === 'number' && (o.entity_type === undefined || o.entity_type === 'leads'))
      ids.add(o.entity_id);
  }
  const filter = query && typeof query === 'object' ? (query as Record<string, unknown>).filter : undefined;
  if (path.startsWith('/api/v4/leads') && filter && typeof filter === 'object') {
    const raw = (filter as Record<string, unknown>).id;
    for (const v of Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
      if (Number.isFinite(Number(v))) ids.add(Number(v));
  }
  return [...ids];
}
