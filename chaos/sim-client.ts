/** A typed client of the simulator's control API (sim/control.ts), for the chaos harness in its own process. */
import type { SimLead, SimNote, SimTask, SimEvent } from '../sim/account.js';
import type { AuditEntry } from '../sim/audit.js';
import type { FaultRuleInput, FaultState, KillHookInput, FaultAction } from '../sim/faults.js';
import type { SimulatorStats } from '../sim/server.js';

export interface SimState {
  leads: SimLead[];
  notes: SimNote[];
  tasks: SimTask[];
  events: SimEvent[];
  stats: SimulatorStats;
}

export interface SimClient {
  readonly url: string;
  addRule(rule: FaultRuleInput): Promise<string>;
  removeRule(id: string): Promise<void>;
  latency(ms: number, jitterMs?: number): Promise<void>;
  outage(seconds: number, action?: FaultAction): Promise<void>;
  endOutage(): Promise<void>;
  expireTokens(): Promise<void>;
  killHook(hook: KillHookInput): Promise<string>;
  clearFaults(): Promise<void>;
  faults(): Promise<FaultState>;
  audit(since?: number): Promise<AuditEntry[]>;
  state(): Promise<SimState>;
  leads(): Promise<SimLead[]>;
  createLeads(count: number, stage: string, name: string): Promise<number[]>;
  call(leadId: number, userId: number): Promise<void>;
  move(leadId: number, userId: number, stage: string): Promise<void>;
  authCode(): Promise<string>;
}

export function createSimClient(url: string): SimClient {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${url}/__sim${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`simulator control ${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  return {
    url,
    addRule: async (rule) => (await call<{ id: string }>('POST', '/faults/rules', rule)).id,
    removeRule: async (id) => void (await call('DELETE', `/faults/rules/${id}`)),
    latency: async (ms, jitterMs = 0) => void (await call('POST', '/faults/latency', { ms, jitterMs })),
    outage: async (seconds, action) =>
      void (await call('POST', '/faults/outage', { seconds, ...(action ? { action } : {}) })),
    endOutage: async () => void (await call('DELETE', '/faults/outage')),
    expireTokens: async () => void (await call('POST', '/faults/expire-tokens', {})),
    killHook: async (hook) => (await call<{ id: string }>('POST', '/faults/kill-hooks', hook)).id,
    clearFaults: async () => void (await call('POST', '/faults/clear', {})),
    faults: () => call<FaultState>('GET', '/faults'),
    audit: async (since = 0) => (await call<{ entries: AuditEntry[] }>('GET', `/audit?since=${since}`)).entries,
    state: () => call<SimState>('GET', '/state'),
    leads: async () => (await call<{ leads: SimLead[] }>('GET', '/state?parts=leads')).leads,
    createLeads: async (count, stage, name) =>
      (await call<{ ids: number[] }>('POST', '/people/leads', { count, stage, name })).ids,
    call: async (leadId, userId) => void (await call('POST', '/people/call', { leadId, userId })),
    move: async (leadId, userId, stage) => void (await call('POST', '/people/move', { leadId, userId, stage })),
    authCode: async () => (await call<{ code: string }>('POST', '/oauth/code', {})).code,
  };
}
