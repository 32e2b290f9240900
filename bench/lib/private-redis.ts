/**
 * Benchmarks measure on a private redis-server (loopback, free port, temporary directory) so that the Redis the
 * tests share never skews a figure and `INFO commandstats` counts only the benchmark's own commands.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, redisAnswers } from '../../sim/local-redis.js';

export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** AOF on and noeviction, as the README asks of production; `appendfsync everysec` is Redis' default. */
export async function startPrivateRedis(extraArgs: string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'amo-bench-redis-'));
  const child = spawn(
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
      ...extraArgs,
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; !(await redisAnswers(url)); i++) {
    if (i > 100) throw new Error(`redis-server did not answer on ${url} (is the redis-server package installed?)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Total calls across every command in `INFO commandstats` (commands run inside Lua scripts included). */
export async function commandCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') total += Number(m[2]);
  }
  return total;
}
