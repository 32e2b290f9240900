/**
 * Intake under load: the real route (`ROLE=web`) against two baselines in the same run, each server in its own
 * process, 1-lead `leads[status]` bodies (each one unique, so nothing is a duplicate), 50 connections.
 * Reported per server: req/s, p99, CPU per request (the server process) and Redis commands per request
 * (INFO commandstats of a private Redis, commands inside Lua scripts included); then the route's p99 at a fixed
 * 2,000 req/s. CPU profiles: BENCH_CPU_PROF=<dir> runs the servers with --cpu-prof into that directory.
 */
import { fork, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { commandCalls, type PrivateRedis } from './lib/private-redis.js';

export const BENCH_TOKEN = 'bench-webhook-token-0123456789abcdef';
export type IntakeMode = 'bare' | 'bare-add' | 'service';

export function leadsStatusBody(items: number, seed: number): string {
  const p = new URLSearchParams();
  for (let i = 0; i < items; i++) {
    const b = `leads[status][${i}]`;
    p.append(`${b}[id]`, String(1_000_000 + seed * 1000 + i));
    p.append(`${b}[name]`, `Заявка ${i} с сайта`);
    p.append(`${b}[status_id]`, '7100005');
    p.append(`${b}[old_status_id]`, '7100004');
    p.append(`${b}[pipeline_id]`, '7000001');
    p.append(`${b}[responsible_user_id]`, '9101');
    p.append(`${b}[modified_user_id]`, '9101');
    p.append(`${b}[last_modified]`, String(1_748_268_812 + seed));
    p.append(`${b}[updated_at]`, String(1_748_268_812 + seed));
    p.append(`${b}[custom_fields][0][id]`, '752009');
    p.append(`${b}[custom_fields][0][name]`, 'Источник');
    p.append(`${b}[custom_fields][0][values][0][value]`, 'Авито');
    p.append(`${b}[tags][0][id]`, '11');
    p.append(`${b}[tags][0][name]`, 'Авито');
  }
  p.append('account[subdomain]', 'bench');
  p.append('account[id]', '1');
  return p.toString();
}

interface Server {
  url: string;
  child: ChildProcess;
  cpuMicros(): Promise<number>;
  ask(msg: unknown, answer: string): Promise<void>;
  stop(): Promise<void>;
}

async function startServer(mode: IntakeMode, redis: PrivateRedis, prefix: string): Promise<Server> {
  const child = fork(new URL('./intake-server.ts', import.meta.url).pathname, [mode, redis.url, prefix], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    child.on('message', (m: { ready?: string }) => {
      if (m.ready) resolve(m.ready);
    });
  });
  return {
    url,
    child,
    cpuMicros: () =>
      new Promise((resolve) => {
        child.once('message', (m: { cpu: { user: number; system: number } }) => resolve(m.cpu.user + m.cpu.system));
        child.send('cpu');
      }),
    ask: (msg, answer) =>
      new Promise((resolve) => {
        const on = (m: Record<string, unknown>): void => {
          if (answer in m) {
            child.off('message', on);
            resolve();
          }
        };
        child.on('message', on);
        child.send(msg as string);
      }),
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.send('stop');
      }),
  };
}

let seq = 0;
// Bodies differ only in the lead id and timestamps; splicing numbers into a template keeps the load generator cheap.
const TEMPLATE = leadsStatusBody(1, 0).split(/1000000|1748268812/);
const bodyFor = (n: number): string => {
  const id = String(1_000_000 + n * 1000);
  const ts = String(1_748_268_812 + n);
  return `${TEMPLATE[0]}${id}${TEMPLATE[1]}${ts}${TEMPLATE[2]}${ts}${TEMPLATE[3]}`;
};

async function load(
  url: string,
  opts: { seconds: number; connections: number; rate?: number },
): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}/webhooks/amocrm/${BENCH_TOKEN}`,
    connections: opts.connections,
    duration: opts.seconds,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req) => ({ ...req, body: bodyFor(seq++) }),
      },
    ],
  });
}

export interface IntakeRun {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  cpuMsPerRequest: number;
  redisCommandsPerRequest: number;
}

async function measure(
  mode: IntakeMode,
  redis: PrivateRedis,
  admin: Redis,
  opts: { seconds: number; connections: number; rate?: number },
): Promise<IntakeRun> {
  const prefix = `bench-${mode}-${seq}`;
  const server = await startServer(mode, redis, prefix);
  try {
    await load(server.url, { seconds: 1, connections: 10 }); // warm-up: JIT, script loading, connection pools
    const prof = process.env.BENCH_CPU_PROF;
    if (prof) await server.ask('prof-start', 'profiling');
    const cpu0 = await server.cpuMicros();
    const cmd0 = await commandCalls(admin);
    const r = await load(server.url, opts);
    const cpu1 = await server.cpuMicros();
    const cmd1 = await commandCalls(admin);
    if (prof)
      await server.ask(
        { profStop: `${prof}/${mode}${opts.rate ? `-at-${opts.rate}` : ''}-${Date.now()}.cpuprofile` },
        'profiled',
      );
    const n = r.requests.total;
    return {
      rps: Math.round(r.requests.average),
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      cpuMsPerRequest: +((cpu1 - cpu0) / 1000 / n).toFixed(3),
      // The two INFO calls themselves are not counted (commandCalls skips `info`).
      redisCommandsPerRequest: +((cmd1 - cmd0) / n).toFixed(1),
    };
  } finally {
    await server.stop();
    await admin.flushdb(); // the private benchmark Redis only
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export interface IntakeFigures {
  connections: number;
  seconds: number;
  repetitions: number;
  runs: Record<IntakeMode, IntakeRun[]>;
  median: Record<IntakeMode, { rps: number; p99Ms: number; cpuMsPerRequest: number; redisCommandsPerRequest: number }>;
  ratioToBare: number;
  ratioToBareAdd: number;
  fixedRate: { rate: number; rps: number; p50Ms: number; p99Ms: number; non2xx: number };
  /** The same fixed rate against the bare + add route: what this machine gives a minimal intake at that rate. */
  fixedRateBareAdd: { rate: number; rps: number; p50Ms: number; p99Ms: number; non2xx: number };
  /** The route at half the rate it sustained at 50 connections: its latency with headroom on this machine. */
  halfCapacity: { rate: number; rps: number; p50Ms: number; p99Ms: number; non2xx: number };
}

export async function runIntakeBench(
  redis: PrivateRedis,
  opts: { seconds?: number; repetitions?: number } = {},
): Promise<IntakeFigures> {
  const seconds = opts.seconds ?? 5;
  const repetitions = opts.repetitions ?? 3;
  const connections = 50;
  const admin = new Redis(redis.url);
  const modes: IntakeMode[] = ['bare', 'bare-add', 'service'];
  const runs: Record<IntakeMode, IntakeRun[]> = { bare: [], 'bare-add': [], service: [] };
  // Interleaved, so drift of a shared machine touches every server alike.
  for (let rep = 0; rep < repetitions; rep++) {
    for (const mode of modes) runs[mode].push(await measure(mode, redis, admin, { seconds, connections }));
  }
  const med = {} as IntakeFigures['median'];
  for (const mode of modes) {
    const rs = runs[mode];
    med[mode] = {
      rps: median(rs.map((r) => r.rps)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      cpuMsPerRequest: median(rs.map((r) => r.cpuMsPerRequest)),
      redisCommandsPerRequest: median(rs.map((r) => r.redisCommandsPerRequest)),
    };
  }
  const fixed = await measure('service', redis, admin, { seconds: Math.max(seconds, 5), connections, rate: 2000 });
  const fixedBareAdd = await measure('bare-add', redis, admin, {
    seconds: Math.max(seconds, 5),
    connections,
    rate: 2000,
  });
  const half = Math.max(100, Math.round(med.service.rps / 2 / 100) * 100);
  const halfRun = await measure('service', redis, admin, { seconds: Math.max(seconds, 5), connections, rate: half });
  admin.disconnect();
  const pick = (r: IntakeRun, rate: number) => ({ rate, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, non2xx: r.non2xx });
  return {
    connections,
    seconds,
    repetitions,
    runs,
    median: med,
    ratioToBare: +(med.service.rps / med.bare.rps).toFixed(2),
    ratioToBareAdd: +(med.service.rps / med['bare-add'].rps).toFixed(2),
    fixedRate: pick(fixed, 2000),
    fixedRateBareAdd: pick(fixedBareAdd, 2000),
    halfCapacity: pick(halfRun, half),
  };
}

/** `tsx bench/intake.ts` runs this part alone and prints its JSON. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startPrivateRedis } = await import('./lib/private-redis.js');
  const redis = await startPrivateRedis();
  try {
    console.log(
      JSON.stringify(
        await runIntakeBench(redis, {
          seconds: Number(process.env.BENCH_SECONDS ?? 5),
          repetitions: Number(process.env.BENCH_REPS ?? 3),
        }),
        null,
        2,
      ),
    );
  } finally {
    await redis.stop();
  }
}
