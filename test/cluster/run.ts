/**
 * `npm run test:cluster`: the integration tier against a 3-node Redis Cluster.
 *
 * Starts three `redis-server --cluster-enabled yes` (Debian's package) on free loopback ports in temporary
 * directories, joins them with `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, waits for
 * `cluster_state:ok`, then runs `test/run-tests.mjs test/integration` (the same split as `npm test`) with
 * REDIS_CLUSTER_NODES pointing at the three nodes, so the service, the stores and the test helpers connect through
 * an ioredis Cluster. Exits with jest's status and always stops the nodes. Extra arguments go to jest (e.g. a
 * single file).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../sim/local-redis.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
}

async function main(): Promise<number> {
  // Cluster bus ports are port + 10000, so pick ports whose bus port is free too and below 65536.
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await freePort();
    if (p < 55_000 && !ports.includes(p)) ports.push(p);
  }
  const dirs: string[] = [];
  const nodes: ChildProcess[] = [];
  const stop = (): void => {
    for (const n of nodes) n.kill('SIGTERM');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    for (const port of ports) {
      const dir = mkdtempSync(join(tmpdir(), `amo-cluster-${port}-`));
      dirs.push(dir);
      nodes.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, 'nodes.conf'),
            '--cluster-node-timeout',
            '5000',
            '--appendonly',
            'yes',
            '--save',
            '',
            '--maxmemory-policy',
            'noeviction',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      for (let i = 0; ; i++) {
        try {
          if (cli(port, 'ping').trim() === 'PONG') break;
        } catch {
          // not up yet
        }
        if (i > 100) throw new Error(`redis-server on ${port} did not start (is the redis-server package installed?)`);
        await sleep(100);
      }
    }
    execFileSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { stdio: 'ignore' },
    );
    for (let i = 0; ; i++) {
      if (ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok'))) break;
      if (i > 200) throw new Error('the cluster did not reach cluster_state:ok');
      await sleep(100);
    }
    const clusterNodes = ports.map((p) => `127.0.0.1:${p}`).join(',');
    console.log(`cluster: 3 masters on ${clusterNodes}`);
    const extra = process.argv.slice(2);
    const jest = spawnSync('node', ['test/run-tests.mjs', ...(extra.length > 0 ? extra : ['test/integration'])], {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_OPTIONS: '--experimental-vm-modules --import tsx',
        // The first node answers PING, so the global setup uses it instead of starting its own Redis.
        REDIS_URL: `redis://127.0.0.1:${ports[0]}`,
        REDIS_CLUSTER_NODES: clusterNodes,
      },
    });
    return jest.status ?? 1;
  } finally {
    stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
