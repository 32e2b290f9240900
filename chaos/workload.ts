/**
 * The known workload of a chaos case: leads arrive in the pickup stage at a steady pace; a seeded share of them is
 * "taken" (the manager the robot gives it to calls the client at once), the rest are never taken, and some may be
 * poisoned (amoCRM refuses every PATCH carrying them). What must happen to each is fixed in advance (see
 * verdict.ts); the departments below are read off chaos/rules.chaos.yaml and the simulator's seed account by hand.
 */
import { prng } from '../sim/scenario.js';
import type { SimClient } from './sim-client.js';
import type { Department, LeadKind, PlannedLead } from './verdict.js';

export const STAGE = 'Передан в работу';
export const ADMIN_ID = 9001;

/** chaos/rules.chaos.yaml: managers by department and the fallback (the РОП). */
export const DEPARTMENTS: Department[] = [
  { name: 'Отдел продаж 1', managers: [9101, 9102, 9103, 9104], fallback: 9100 },
  { name: 'Отдел продаж 2', managers: [9201, 9202, 9203, 9204], fallback: 9200 },
];
const MANAGERS = new Set(DEPARTMENTS.flatMap((d) => d.managers));
const FALLBACKS = new Set(DEPARTMENTS.map((d) => d.fallback));

export interface WorkloadOptions {
  leads: number;
  /** Share of leads the manager takes at once. */
  takenShare: number;
  /** How many leads (spread through the run) are poisoned. */
  poison: number;
  /** Leads created per arrival, and the pause between arrivals. */
  perArrival: number;
  arrivalEveryMs: number;
  seed: number;
}

export interface Workload {
  plan: PlannedLead[];
  calls: Map<number, { userId: number; at: number }>;
  /** Resolves when every lead was created. */
  created: Promise<void>;
  /** True when every lead reached the end of its known course in the simulator. */
  settled(): Promise<{ done: boolean; pending: number[] }>;
  stop(): void;
}

export function startWorkload(
  sim: SimClient,
  options: WorkloadOptions,
  hooks: { onPoison?: (leadId: number) => Promise<void>; onCreated?: (lead: PlannedLead) => void } = {},
): Workload {
  const random = prng(options.seed);
  const plan: PlannedLead[] = [];
  const calls = new Map<number, { userId: number; at: number }>();
  const poisonAt = new Set(
    Array.from({ length: options.poison }, (_, i) =>
      Math.floor(((i + 0.5) * options.leads) / Math.max(1, options.poison)),
    ),
  );
  let stopped = false;
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const created = (async () => {
    for (let i = 0; i < options.leads && !stopped;) {
      const n = Math.min(options.perArrival, options.leads - i);
      const kinds: LeadKind[] = Array.from({ length: n }, (_, k) =>
        poisonAt.has(i + k) ? 'poison' : random() < options.takenShare ? 'taken' : 'untaken',
      );
      const ids = await sim.createLeads(n, STAGE, 'Заявка с сайта');
      for (let k = 0; k < n; k++) {
        const lead = { leadId: ids[k]!, kind: kinds[k]! };
        if (lead.kind === 'poison') await hooks.onPoison?.(lead.leadId);
        plan.push(lead);
        hooks.onCreated?.(lead);
      }
      i += n;
      if (i < options.leads) await sleep(options.arrivalEveryMs);
    }
  })();

  // The managers: whoever the robot gives a "taken" lead to calls the client as soon as they see it.
  const react = (async () => {
    while (!stopped) {
      try {
        const pending = plan.filter((l) => l.kind === 'taken' && !calls.has(l.leadId));
        if (pending.length > 0) {
          const leads = new Map((await sim.leads()).map((l) => [l.id, l]));
          for (const l of pending) {
            const r = leads.get(l.leadId)?.responsibleUserId;
            if (r !== undefined && MANAGERS.has(r)) {
              calls.set(l.leadId, { userId: r, at: Date.now() });
              await sim.call(l.leadId, r);
            }
          }
        }
      } catch {
        // The simulator's control API is never faulted; a failed poll is retried on the next tick.
      }
      await sleep(200);
    }
  })();
  void react;

  return {
    plan,
    calls,
    created,
    async settled() {
      const leads = new Map((await sim.leads()).map((l) => [l.id, l]));
      const pending = plan
        .filter((l) => {
          const r = leads.get(l.leadId)?.responsibleUserId;
          if (l.kind === 'poison') return false;
          if (l.kind === 'taken') return !calls.has(l.leadId);
          return r === undefined || !FALLBACKS.has(r);
        })
        .map((l) => l.leadId);
      return { done: pending.length === 0 && plan.length === options.leads, pending };
    },
    stop() {
      stopped = true;
    },
  };
}
