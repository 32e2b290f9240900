/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, BENCH_CPU_PROF=<dir>): share of busy samples by where the
 * code lives (a package under node_modules, a file of ours, node internals, GC), self time only.
 * `tsx bench/profile-summary.ts <file.cpuprofile> [top]`
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

export function summarise(path: string, top = 15): Array<{ where: string; share: number }> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    busy += 1;
    let where: string;
    if (functionName === '(garbage collector)') where = '(gc)';
    else if (url.includes('/node_modules/')) where = url.replace(/.*\/node_modules\/((@[^/]+\/)?[^/]+).*/, '$1');
    else if (url.startsWith('node:')) where = `${url} ${functionName}`;
    else if (url === '') where = `(native) ${functionName}`;
    else where = `${url.replace(/.*\/(src|bench|sim)\//, '$1/')} ${functionName}`;
    counts.set(where, (counts.get(where) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, n]) => ({ where, share: +((100 * n) / busy).toFixed(1) }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
  for (const row of summarise(file, Number(top ?? 20))) console.log(`${String(row.share).padStart(5)}%  ${row.where}`);
}
