/**
 * The chaos cases. Each names its workload and stack, injects its fault while the workload runs, and says how
 * the suite can tell the fault really happened (its positive control: a case whose fault never fired proves
 * nothing and fails). Smoke sizes keep the whole CI run near two minutes; full sizes are the figures.
 */
import type { Stack } from './stack.js';
import type { Workload, WorkloadOptions } from './workload.js';

export interface CaseConfig {
  workload: Omit<WorkloadOptions, 'seed'>;
  workers: number;
  auth: 'long-lived' | 'oauth';
  /** The pickup clock and the misses before the fallback, written into the case's rules file. */
  timeoutSec: number;
  maxMisses: number;
  /** Extra time the fault itself costs (an outage's length), added to the settle deadline. */
  faultMs: number;
  /** Multiplies the settle deadline (slow amoCRM answers). */
  slowness: number;
  /**
   * How long to keep watching after every lead reached the end of its course. A killed worker's unfinished plans
   * are taken over when their lease ends (60 s in the service), so kill cases watch longer than that.
   */
  quietMs?: number;
}

/** Counters of the stack and the simulator; a case reports the difference over its own run (smoke cases share a stack). */
export interface Snapshot {
  workerDeaths: number;
  workerRestarts: number;
  redisRestarts: number;
  injected: Record<string, number>;
  kills: number;
  tokenRefreshes: number;
  requests: number;
  webhookEvents: number;
}

export async function snapshot(stack: Stack): Promise<Snapshot> {
  const [f, s] = await Promise.all([stack.sim.faults(), stack.sim.state()]);
  return {
    ...stack.counters,
    injected: f.injected,
    kills: f.kills.length,
    tokenRefreshes: s.stats.tokenRefreshes,
    requests: s.stats.requests,
    webhookEvents: s.stats.webhooks.events,
  };
}

export function since(before: Snapshot, now: Snapshot): Snapshot {
  const injected: Record<string, number> = {};
  for (const [k, v] of Object.entries(now.injected)) injected[k] = v - (before.injected[k] ?? 0);
  return {
    workerDeaths: now.workerDeaths - before.workerDeaths,
    workerRestarts: now.workerRestarts - before.workerRestarts,
    redisRestarts: now.redisRestarts - before.redisRestarts,
    injected,
    kills: now.kills - before.kills,
    tokenRefreshes: now.tokenRefreshes - before.tokenRefreshes,
    requests: now.requests - before.requests,
    webhookEvents: now.webhookEvents - before.webhookEvents,
  };
}

export interface CaseContext {
  stack: Stack;
  /** The counters when the case started. */
  before: Snapshot;
  workload: Workload;
  config: CaseConfig;
  smoke: boolean;
  /** Resolves when the workload reached the end of its course (or the settle deadline passed). */
  settled: Promise<void>;
  log(message: string): void;
}

export interface Control {
  ok: boolean;
  /** What the fault did, for the report (e.g. `outage answers: 212`). */
  figures: Record<string, number | string>;
}

export interface ChaosCase {
  name: string;
  title: string;
  what: string;
  config(smoke: boolean): CaseConfig;
  /** Called for each poisoned lead right after it is created, before the robot can write to it. */
  onPoison?(stack: Stack, leadId: number): Promise<void>;
  /** Runs beside the workload; returns when the fault is over. */
  inject(ctx: CaseContext): Promise<void>;
  control(ctx: CaseContext): Promise<Control>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const base = (smoke: boolean, over: Partial<CaseConfig> & { leads?: number } = {}): CaseConfig => {
  const { leads, ...rest } = over;
  return {
    workload: {
      leads: leads ?? (smoke ? 12 : 60),
      takenShare: 0.4,
      poison: 0,
      perArrival: smoke ? 3 : 4,
      arrivalEveryMs: smoke ? 700 : 1_500,
    },
    workers: 2,
    auth: 'long-lived',
    timeoutSec: smoke ? 3 : 5,
    maxMisses: smoke ? 2 : 3,
    faultMs: 0,
    slowness: 1,
    ...rest,
  };
};

export const CASES: ChaosCase[] = [
  {
    name: 'poison-lead',
    title: 'A poison lead among healthy ones',
    what: 'amoCRM answers 400 (validation error naming the item) to every PATCH that carries the poisoned lead, for the whole run; the other leads must follow their course as if it were not there.',
    config: (smoke) => {
      const c = base(smoke);
      return { ...c, workload: { ...c.workload, poison: smoke ? 1 : 3 } };
    },
    async onPoison(stack, leadId) {
      await stack.sim.addRule({
        method: 'PATCH',
        path: '/api/v4/leads',
        leadIds: [leadId],
        action: { kind: 'status', status: 400 },
      });
    },
    async inject() {},
    async control(ctx) {
      const faults = await ctx.stack.sim.faults();
      const hits = faults.rules.reduce((s, r) => s + r.hits, 0);
      return { ok: hits > 0, figures: { 'PATCHes refused for the poisoned lead(s)': hits } };
    },
  },
  {
    name: 'outage',
    title: 'amoCRM outage',
    what: 'Once the first leads are assigned, every amoCRM API and OAuth call answers 503 for the outage (3 minutes; 20 s in smoke) while leads keep arriving and deadlines keep passing.',
    config: (smoke) => ({ ...base(smoke, { leads: smoke ? 12 : 60 }), faultMs: smoke ? 20_000 : 180_000 }),
    async inject(ctx) {
      await sleep(ctx.smoke ? 3_000 : 8_000);
      const seconds = ctx.config.faultMs / 1000;
      ctx.log(`outage for ${seconds} s`);
      await ctx.stack.sim.outage(seconds);
      await sleep(ctx.config.faultMs);
    },
    async control(ctx) {
      const d = since(ctx.before, await snapshot(ctx.stack));
      const n = d.injected['outage:503'] ?? 0;
      return {
        ok: n > 0,
        figures: { 'outage length, s': ctx.config.faultMs / 1000, 'calls answered 503 during the outage': n },
      };
    },
  },
  {
    name: 'kill-after-patch',
    title: 'kill -9 of a worker right after a responsible PATCH',
    what: 'For chosen untaken leads the simulator SIGKILLs the worker that sent the responsible PATCH the moment amoCRM applied it, before the answer leaves: half at the first assignment, half at the first reassignment after a miss. Killed workers are started again.',
    config: (smoke) => {
      const c = base(smoke, { leads: smoke ? 10 : 30, faultMs: 120_000, quietMs: 75_000 });
      return { ...c, workload: { ...c.workload, takenShare: 0.3 } };
    },
    async inject(ctx) {
      ctx.stack.autoRestart = true;
      const wanted = ctx.smoke ? 2 : 6;
      const atAssignment = new Set<number>();
      const atReassignment = new Set<number>();
      while (atAssignment.size + atReassignment.size < wanted) {
        const untaken = ctx.workload.plan.filter(
          (l) => l.kind === 'untaken' && !atAssignment.has(l.leadId) && !atReassignment.has(l.leadId),
        );
        for (const l of untaken) {
          if (atAssignment.size + atReassignment.size >= wanted) break;
          if (atAssignment.size <= atReassignment.size) {
            await ctx.stack.sim.killHook({ method: 'PATCH', leadIds: [l.leadId], field: 'responsible_user_id' });
            atAssignment.add(l.leadId);
          } else {
            // Armed once the first assignment landed, so the hook fires at the reassignment after the first miss.
            const leads = new Map((await ctx.stack.sim.leads()).map((x) => [x.id, x]));
            if ((leads.get(l.leadId)?.responsibleUserId ?? 9001) !== 9001) {
              await ctx.stack.sim.killHook({ method: 'PATCH', leadIds: [l.leadId], field: 'responsible_user_id' });
              atReassignment.add(l.leadId);
            }
          }
        }
        await sleep(150);
      }
      ctx.log(
        `kill hooks on leads ${[...atAssignment].join(', ')} (assignment) and ${[...atReassignment].join(', ')} (reassignment)`,
      );
      await ctx.settled;
    },
    async control(ctx) {
      const f = await ctx.stack.sim.faults();
      const d = since(ctx.before, await snapshot(ctx.stack));
      const fired = f.kills.slice(ctx.before.kills).filter((k) => k.pids.length > 0 && !k.error);
      const armed = f.killHooks.length;
      return {
        ok: armed > 0 && fired.length === armed,
        figures: {
          'kill hooks armed': armed,
          'workers killed by a hook': fired.length,
          'workers restarted': d.workerRestarts,
          'killed right after PATCH of leads': fired.flatMap((k) => k.leadIds).join(' '),
        },
      };
    },
  },
  {
    name: 'kill-random',
    title: 'kill -9 of workers at random during 2,000 events',
    what: "Three workers; every few seconds one chosen at random is SIGKILLed and started again, while a workload of about 2,000 amoCRM events (leads arriving, the robot's own writes coming back as webhooks, managers' calls) runs. Never the last live worker; kills go on until at least 8 (3 in smoke) were done and every lead has arrived.",
    config: (smoke) => {
      const c = base(smoke, { leads: smoke ? 24 : 210, workers: 3, faultMs: 120_000, quietMs: 75_000 });
      return { ...c, workload: { ...c.workload, perArrival: smoke ? 4 : 6, arrivalEveryMs: smoke ? 700 : 1_000 } };
    },
    async inject(ctx) {
      ctx.stack.autoRestart = true;
      let createdDone = false;
      let settled = false;
      void ctx.workload.created.then(() => (createdDone = true));
      void ctx.settled.then(() => (settled = true));
      // At least this many kills, spread over the arrivals and the clocks that follow; never the last live worker
      // (a restart can take long on a loaded machine, and a run with no worker for minutes proves nothing).
      const target = ctx.smoke ? 3 : 8;
      let kills = 0;
      let seed = 12345;
      const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      while (!settled && !(createdDone && kills >= target)) {
        await sleep(ctx.smoke ? 3_000 : 5_000);
        const pids = ctx.stack.workerPids();
        if (pids.length > 1 && !settled) {
          const pid = pids[Math.floor(random() * pids.length)]!;
          ctx.stack.killWorker(pid);
          kills += 1;
        }
      }
      ctx.log(`${kills} random kills`);
    },
    async control(ctx) {
      const d = since(ctx.before, await snapshot(ctx.stack));
      return {
        ok: d.workerDeaths >= 3,
        figures: {
          'workers killed': d.workerDeaths,
          'workers restarted': d.workerRestarts,
          'amoCRM events delivered to the service': d.webhookEvents,
        },
      };
    },
  },
  {
    name: 'redis-restart',
    title: 'Redis restarted mid-run (AOF on)',
    what: "While leads arrive and clocks run, the service's Redis (appendonly yes, appendfsync everysec) is stopped with SIGTERM, stays down (10 s; 3 s in smoke) and is started again from its AOF; webhooks answered 503 meanwhile are redelivered by the simulator.",
    config: (smoke) => ({ ...base(smoke, { leads: smoke ? 12 : 60 }), faultMs: smoke ? 3_000 : 10_000 }),
    async inject(ctx) {
      await sleep(ctx.smoke ? 4_000 : 15_000);
      ctx.log(`redis down for ${ctx.config.faultMs} ms`);
      await ctx.stack.restartRedis(ctx.config.faultMs);
    },
    async control(ctx) {
      const d = since(ctx.before, await snapshot(ctx.stack));
      return {
        ok: d.redisRestarts === 1,
        figures: { 'Redis restarts': d.redisRestarts, 'Redis down, s': ctx.config.faultMs / 1000 },
      };
    },
  },
  {
    name: 'flaky',
    title: '30% 429/5xx with 3 s latency',
    what: "Every amoCRM call waits 3 s; 15% of them answer 429 (retry_after 1) and another 15% answer 503, for the whole run. The pickup clock is longer here so that a manager's call can land within it.",
    // In smoke the shared 3 s clock is shorter than one 3 s write, so only untaken leads (their course needs no
    // manager in time); the full run has a 20 s clock and taken leads too.
    config: (smoke) => {
      const c = base(smoke, { leads: smoke ? 8 : 40, slowness: 3, ...(smoke ? {} : { timeoutSec: 20 }) });
      return { ...c, workload: { ...c.workload, takenShare: smoke ? 0 : c.workload.takenShare } };
    },
    async inject(ctx) {
      await ctx.stack.sim.latency(3_000);
      await ctx.stack.sim.addRule({
        path: '/api/',
        probability: 0.15,
        action: { kind: 'status', status: 429, retryAfterSec: 1 },
      });
      await ctx.stack.sim.addRule({ path: '/api/', probability: 0.15 / 0.85, action: { kind: 'status', status: 503 } });
      await ctx.settled;
    },
    async control(ctx) {
      const d = since(ctx.before, await snapshot(ctx.stack));
      const injected = (d.injected['rule:429'] ?? 0) + (d.injected['rule:503'] ?? 0);
      return {
        ok: injected > 0,
        figures: {
          'amoCRM calls': d.requests,
          '429 injected': d.injected['rule:429'] ?? 0,
          '503 injected': d.injected['rule:503'] ?? 0,
        },
      };
    },
  },
  {
    name: 'token-expiry',
    title: 'Token expiry with 4 workers',
    what: 'OAuth mode with one web and four worker processes; every access token is invalidated at once, several times during the run. Refresh tokens are single-use, so two processes refreshing at once would revoke the integration.',
    config: (smoke) => ({ ...base(smoke, { leads: smoke ? 12 : 60 }), workers: 4, auth: 'oauth' }),
    async inject(ctx) {
      const times = ctx.smoke ? 2 : 4;
      for (let i = 0; i < times; i++) {
        await sleep(ctx.smoke ? 4_000 : 12_000);
        await ctx.stack.sim.expireTokens();
      }
      ctx.log(`tokens expired ${times} times`);
    },
    async control(ctx) {
      const f = await ctx.stack.sim.faults();
      const d = since(ctx.before, await snapshot(ctx.stack));
      return {
        ok: f.tokensExpiredAt !== null && d.tokenRefreshes > 0,
        figures: { 'token expiries': ctx.smoke ? 2 : 4, 'refreshes the simulator accepted': d.tokenRefreshes },
      };
    },
  },
  {
    name: 'refresh-socket-drop',
    title: 'A refresh failing at the socket (OAuth mode)',
    what: 'OAuth mode; every access token is invalidated and the next three POST /oauth2/access_token have their connection dropped without an answer, so the refresh fails at the socket and must be retried. The client secret must not appear in any log.',
    config: (smoke) => ({ ...base(smoke, { leads: smoke ? 10 : 40 }), auth: 'oauth' }),
    async inject(ctx) {
      await sleep(ctx.smoke ? 4_000 : 10_000);
      await ctx.stack.sim.addRule({ path: '/oauth2/access_token', action: { kind: 'drop' }, times: 3 });
      await ctx.stack.sim.expireTokens();
      ctx.log('tokens expired; next 3 refreshes dropped at the socket');
    },
    async control(ctx) {
      const d = since(ctx.before, await snapshot(ctx.stack));
      return {
        ok: (d.injected['rule:drop'] ?? 0) > 0,
        figures: {
          'refreshes dropped at the socket': d.injected['rule:drop'] ?? 0,
          'refreshes the simulator accepted': d.tokenRefreshes,
        },
      };
    },
  },
];
