/**
 * For the demo and benchmarks only: use the Redis at REDIS_URL when one answers, otherwise start a private
 * redis-server (Debian package `redis-server`) on a free loopback port with a temporary directory.
 * `npm start` never does this; production connects only to the Redis it is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface LocalRedis {
  url: string;
  startedHere: boolean;
  stop(): Promise<void>;
}

/** Whether a Redis answers PING at `url` now (one connection attempt, no retries). */
export async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A free TCP port on loopback (the OS picks it; it is free again when this returns). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The environment a redis-server is started with: the caller's, without a shifted clock. Under `faketime` (the
 * shifted-clock test runs) Redis keeps real time, as it would in production beside a worker whose clock is off.
 */
export function realClockEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env))
    if (name === 'LD_PRELOAD' || name.startsWith('FAKETIME') || name === 'DONT_FAKE_MONOTONIC') delete env[name];
  return env;
}

export async function ensureLocalRedis(
  preferredUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
): Promise<LocalRedis> {
  if (await redisAnswers(preferredUrl)) return { url: preferredUrl, startedHere: false, stop: async () => undefined };

  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'amo-demo-redis-'));
  let child: ChildProcess;
  try {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore', env: realClockEnv() },
    );
  } catch (err) {
    throw new Error(
      `no Redis answers at ${preferredUrl} and redis-server could not be started (${(err as Error).message}); install it with: sudo apt-get install redis-server`,
    );
  }
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new Error(
          `no Redis answers at ${preferredUrl} and redis-server could not be started (${err.message}); install it with: sudo apt-get install redis-server`,
        ),
      ),
    ),
  );
  const url = `redis://127.0.0.1:${port}`;
  const ready = (async () => {
    for (let i = 0; i < 100; i++) {
      if (await redisAnswers(url)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server did not answer on ${url}`);
  })();
  await Promise.race([ready, spawnError]);
  return {
    url,
    startedHere: true,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
