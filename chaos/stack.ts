/**
 * The processes of one chaos case, each a real OS process: a private redis-server (AOF on, its own port and
 * directory, so it can be restarted without touching anyone else's Redis), the simulator (sim/serve.ts), one
 * `ROLE=web` process and N `ROLE=worker` processes (chaos/service-entry.ts). Logs go to the case's directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, redisAnswers } from '../sim/local-redis.js';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSimClient, type SimClient } from './sim-client.js';

export const WEBHOOK_TOKEN = 'chaos-webhook-token-0123456789abcdef';
export const SIM_LONG_LIVED_TOKEN = 'chaos-long-lived-token';
export const OAUTH_CLIENT_ID = 'chaos-integration';
const ROOT = resolve(import.meta.dirname, '..');

export interface StackOptions {
  dir: string;
  workers: number;
  auth: 'long-lived' | 'oauth';
  rulesFile: string;
  faultSeed: number;
  logLevel?: string;
  workerConcurrency?: number;
  /** OAuth access token lifetime in the simulator. */
  accessTtlSec?: number;
}

export interface Stack {
  sim: SimClient;
  redisUrl: string;
  prefix: string;
  /** The OAuth client secret the services use (the suite greps logs for it). */
  clientSecret: string;
  workerPids(): number[];
  startWorker(): Promise<number>;
  /** Workers that die by a signal are started again (a supervisor's job in production). */
  autoRestart: boolean;
  /** Worker deaths by a signal, and restarts done. */
  counters: { workerDeaths: number; workerRestarts: number; redisRestarts: number };
  killWorker(pid: number, signal?: NodeJS.Signals): void;
  restartRedis(downMs: number): Promise<void>;
  logFiles(): string[];
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export async function startStack(options: StackOptions): Promise<Stack> {
  const mine = new Set<ChildProcess>();
  try {
    return await start(options, mine);
  } catch (err) {
    // A stack that failed to start leaves nothing running behind it.
    for (const c of mine) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    throw err;
  }
}

async function start(options: StackOptions, mine: Set<ChildProcess>): Promise<Stack> {
  mkdirSync(options.dir, { recursive: true });
  const logs: string[] = [];
  const streams: WriteStream[] = [];
  const logTo = (name: string): WriteStream => {
    const file = join(options.dir, `${name}.log`);
    logs.push(file);
    const s = createWriteStream(file, { flags: 'a' });
    streams.push(s);
    return s;
  };

  /** Spawns a child with its output in a log file; resolves when a line starting with `ready` appears. */
  const launch = (
    name: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    ready: string | undefined,
    timeoutMs = 180_000,
  ): Promise<{ child: ChildProcess; line: string }> => {
    const out = logTo(name);
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    mine.add(child);
    child.once('exit', () => children.delete(child));
    child.stderr!.pipe(out, { end: false });
    return new Promise((ok, fail) => {
      if (ready === undefined) {
        child.stdout!.pipe(out, { end: false });
        ok({ child, line: '' });
        return;
      }
      let buffer = '';
      let done = false;
      const timer = setTimeout(() => {
        if (!done)
          fail(new Error(`${name} did not become ready in ${timeoutMs} ms (see ${join(options.dir, `${name}.log`)})`));
      }, timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        out.write(chunk);
        if (done) return;
        buffer += chunk.toString();
        const line = buffer.split('\n').find((l) => l.startsWith(ready));
        if (line) {
          done = true;
          clearTimeout(timer);
          ok({ child, line });
        }
      });
      child.once('exit', (code, signal) => {
        if (!done) {
          done = true;
          clearTimeout(timer);
          fail(
            new Error(
              `${name} exited before it was ready (code ${code}, signal ${signal}); see ${join(options.dir, `${name}.log`)}`,
            ),
          );
        }
      });
    });
  };

  // Redis: our own server, AOF on, so a restart keeps everything acknowledged.
  const redisPort = await freePort();
  const redisDir = join(options.dir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  let redis: ChildProcess | undefined;
  const startRedis = async (): Promise<void> => {
    const { child } = await launch(
      'redis',
      'redis-server',
      [
        '--port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--dir',
        redisDir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
      ],
      process.env,
      undefined,
    );
    redis = child;
    for (let i = 0; i < 100 && !(await redisAnswers(redisUrl)); i++) await sleep(100);
    if (!(await redisAnswers(redisUrl))) throw new Error(`redis-server did not answer on ${redisUrl}`);
  };
  await startRedis();

  const webPort = await freePort();
  // The OAuth client secret is known only to the simulator and the services (the suite greps logs for it).
  const clientSecret = `chaos-secret-${randomBytes(12).toString('hex')}`;
  const sim = await launch(
    'sim',
    process.execPath,
    [
      '--import',
      'tsx',
      'sim/serve.ts',
      '--port',
      '0',
      '--webhook-url',
      `http://127.0.0.1:${webPort}/webhooks/amocrm/${WEBHOOK_TOKEN}`,
      '--long-lived-token',
      SIM_LONG_LIVED_TOKEN,
      '--oauth-client-id',
      OAUTH_CLIENT_ID,
      '--oauth-client-secret',
      clientSecret,
      '--fault-seed',
      String(options.faultSeed),
      ...(options.accessTtlSec !== undefined ? ['--access-ttl-sec', String(options.accessTtlSec)] : []),
    ],
    process.env,
    'SIM_READY',
  );
  const simUrl = sim.line.split(' ')[1]!.trim();
  const client = createSimClient(simUrl);

  const prefix = 'chaos';
  const baseEnv = (role: 'web' | 'worker', port: number, authCode?: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    ROLE: role,
    WEBHOOK_TOKEN,
    AMO_SUBDOMAIN: 'demo-realty',
    AMO_BASE_URL: simUrl,
    RULES_FILE: options.rulesFile,
    LOG_LEVEL: options.logLevel ?? 'info',
    WORKER_CONCURRENCY: String(options.workerConcurrency ?? 4),
    AMO_RPS: '7',
    ...(options.auth === 'long-lived'
      ? { AMO_LONG_LIVED_TOKEN: SIM_LONG_LIVED_TOKEN }
      : {
          AMO_CLIENT_ID: OAUTH_CLIENT_ID,
          AMO_CLIENT_SECRET: clientSecret,
          AMO_REDIRECT_URI: `http://127.0.0.1:${webPort}/oauth/callback`,
          ...(authCode ? { AMO_AUTH_CODE: authCode } : {}),
        }),
  });

  // In OAuth mode the web process exchanges the one authorization code first; workers then find the tokens in Redis.
  const webStarting = launch(
    'web',
    process.execPath,
    ['--import', 'tsx', 'chaos/service-entry.ts'],
    baseEnv('web', webPort, options.auth === 'oauth' ? await client.authCode() : undefined),
    'CHAOS_READY',
  );
  if (options.auth === 'oauth') await webStarting;

  const workers = new Map<number, ChildProcess>();
  let workerSeq = 0;
  const counters = { workerDeaths: 0, workerRestarts: 0, redisRestarts: 0 };
  let closing = false;
  const stack: Stack = {
    sim: client,
    redisUrl,
    prefix,
    clientSecret,
    autoRestart: false,
    counters,
    workerPids: () => [...workers.keys()],
    async startWorker() {
      workerSeq += 1;
      const { child } = await launch(
        `worker-${workerSeq}`,
        process.execPath,
        ['--import', 'tsx', 'chaos/service-entry.ts'],
        baseEnv('worker', 0),
        'CHAOS_READY',
      );
      const pid = child.pid!;
      workers.set(pid, child);
      child.once('exit', (_code, signal) => {
        workers.delete(pid);
        if (closing || signal === null) return;
        counters.workerDeaths += 1;
        if (stack.autoRestart) {
          void stack.startWorker().then(
            () => void (counters.workerRestarts += 1),
            (err: unknown) => console.error(`chaos: could not restart a worker: ${(err as Error).message}`),
          );
        }
      });
      return pid;
    },
    killWorker(pid, signal = 'SIGKILL') {
      workers.get(pid)?.kill(signal);
    },
    async restartRedis(downMs) {
      const old = redis!;
      const exited = new Promise((r) => old.once('exit', r));
      // SIGTERM: Redis writes and syncs its AOF before it exits, as on a service restart.
      old.kill('SIGTERM');
      await exited;
      await sleep(downMs);
      await startRedis();
      counters.redisRestarts += 1;
    },
    logFiles: () => [...logs],
    async close() {
      closing = true;
      const all = [...workers.values(), (await webStarting).child, sim.child];
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((r) => {
              if (c.exitCode !== null || c.signalCode !== null) return r();
              const force = setTimeout(() => c.kill('SIGKILL'), 10_000);
              c.once('exit', () => {
                clearTimeout(force);
                r();
              });
              c.kill('SIGTERM');
            }),
        ),
      );
      if (redis && redis.exitCode === null && redis.signalCode === null) {
        const exited = new Promise((r) => redis!.once('exit', r));
        redis.kill('SIGTERM');
        await exited;
      }
      for (const s of streams) s.end();
    },
  };
  await Promise.all(Array.from({ length: options.workers }, () => stack.startWorker()));
  await webStarting;
  return stack;
}
