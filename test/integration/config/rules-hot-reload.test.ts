import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSimulator } from '../../../sim/server.js';
import { SIM_TOKEN } from '../../helpers/e2e.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../../helpers/redis.js';

interface Line {
  pid: number;
  event: 'started' | 'applied' | 'rejected';
  version: number;
  timeoutMs: number;
  paths?: string[];
}

/** Two worker OS processes (the service's runtime, ROLE=worker, on the simulator) following one rules file and Redis. */
/** Replaces the file the way editors and config tools do (a new file renamed over it), never half-written. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

describe('rules hot reload across worker processes', () => {
  const prefix = uniquePrefix('hot');
  const dir = mkdtempSync(join(tmpdir(), 'hot-'));
  const file = join(dir, 'rules.yaml');
  const demo = readFileSync('config/rules.demo.yaml', 'utf8');
  const workers: ChildProcess[] = [];
  const lines: Line[][] = [[], []];
  const sim = createSimulator({ longLivedToken: SIM_TOKEN });

  const waitFor = async (i: number, pred: (l: Line) => boolean, ms = 8000): Promise<Line> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines[i]!.find(pred);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`worker ${i} never printed the expected line; got ${JSON.stringify(lines[i])}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    cpSync('config/calendars', join(dir, 'calendars'), { recursive: true });
    expect(demo).toContain('timeout: PT15S');
    writeFileSync(file, demo);
    const simUrl = await sim.listen();
    for (let i = 0; i < 2; i++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'test/helpers/rules-worker.ts', TEST_REDIS_URL, prefix, file, simUrl],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      workers.push(child);
      createInterface({ input: child.stdout! }).on('line', (l) => lines[i]!.push(JSON.parse(l) as Line));
    }
    await waitFor(0, (l) => l.event === 'started', 40_000);
    await waitFor(1, (l) => l.event === 'started', 40_000);
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await sim.close();
    const redis = connectTestRedis();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when both start on one file, then both run the same single imported version with the file timeout', () => {
    const [a, b] = [lines[0]![0]!, lines[1]![0]!];
    expect(a.pid).not.toBe(b.pid);
    expect([a.version, a.timeoutMs]).toEqual([1, 15_000]);
    expect([b.version, b.timeoutMs]).toEqual([1, 15_000]);
  });

  it('when the file gets a new timeout, then both processes run it within seconds, as one new version', async () => {
    replaceFile(file, demo.replace('timeout: PT15S', 'timeout: PT45S'));
    const a = await waitFor(0, (l) => l.event === 'applied' && l.timeoutMs === 45_000);
    const b = await waitFor(1, (l) => l.event === 'applied' && l.timeoutMs === 45_000);
    expect([a.version, b.version]).toEqual([2, 2]);
  });

  it('when the file is broken, then both reject it with the path and keep running the previous timeout', async () => {
    replaceFile(file, demo.replace('timeout: PT15S', 'timeout: "fifteen minutes"'));
    const a = await waitFor(0, (l) => l.event === 'rejected');
    const b = await waitFor(1, (l) => l.event === 'rejected');
    for (const r of [a, b]) {
      expect(r.paths).toEqual(['rules.pickup.timeout']);
      expect([r.version, r.timeoutMs]).toEqual([2, 45_000]);
    }
    // Then a valid file again is picked up (the processes are alive and still following).
    replaceFile(file, demo.replace('timeout: PT15S', 'timeout: PT1M'));
    await waitFor(0, (l) => l.event === 'applied' && l.timeoutMs === 60_000);
    await waitFor(1, (l) => l.event === 'applied' && l.timeoutMs === 60_000);
  });

  it('when YAML itself is unparseable, then both keep running and name the line', async () => {
    const before = lines.map((l) => l.length);
    replaceFile(file, 'departments: [\n  - name: A\n');
    const a = await waitFor(0, (l) => l.event === 'rejected' && lines[0]!.indexOf(l) >= before[0]!);
    const b = await waitFor(1, (l) => l.event === 'rejected' && lines[1]!.indexOf(l) >= before[1]!);
    for (const r of [a, b]) {
      expect(r.paths?.[0]).toMatch(/^rules:\d+$/);
      expect(r.timeoutMs).toBe(60_000);
    }
  });
});
