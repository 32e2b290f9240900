/**
 * Benchmarks (`npm run bench`): figures go to bench/results/latest.json and latest.md, each printed beside the
 * baseline measured in the same run and the target it is held to (docs/BENCHMARKS.md explains each one).
 * Absolute times on a shared machine move from run to run; ratios within one run hold.
 *
 * BENCH_SECONDS (5) and BENCH_REPS (3) size the intake runs; BENCH_MEMORY_LEADS ("10000,100000") the memory runs;
 * BENCH_ONLY=intake|memory|parse runs one part.
 */
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import qs from 'qs';
import { expandFormBody } from '../src/amocrm/form-body.js';
import { normalizeWebhook } from '../src/amocrm/webhook-payload.js';
import { leadsStatusBody, runIntakeBench, type IntakeFigures } from './intake.js';
import { runMemoryBench, type MemoryFigures } from './memory.js';
import { startPrivateRedis } from './lib/private-redis.js';
import { cadenceBench, cadenceBenchLines } from './cadence.js';

function stats(samples: number[]): { n: number; meanMs: number; p50Ms: number; p99Ms: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: s.length, meanMs: round(s.reduce((a, b) => a + b, 0) / s.length), p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
}

function time(fn: () => unknown, n: number): number[] {
  for (let i = 0; i < Math.min(50, n); i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');

function intakeLines(f: IntakeFigures): string[] {
  const m = f.median;
  return [
    `## Intake (\`ROLE=web\`, 1-lead status bodies, ${f.connections} connections, ${f.repetitions} × ${f.seconds} s, medians)`,
    '',
    '| figure | route | baseline | target | |',
    '| --- | --- | --- | --- | --- |',
    `| req/s vs bare Fastify route parsing the same body | ${m.service.rps} | ${m.bare.rps} (ratio ${f.ratioToBare}) | ≥ 0.4× | ${verdict(f.ratioToBare >= 0.4)} |`,
    `| req/s vs bare route + one BullMQ add | ${m.service.rps} | ${m['bare-add'].rps} (ratio ${f.ratioToBareAdd}) | ≥ 0.6× | ${verdict(f.ratioToBareAdd >= 0.6)} |`,
    `| p99 at 50 connections, ms | ${m.service.p99Ms} | bare ${m.bare.p99Ms}, bare+add ${m['bare-add'].p99Ms} | — | |`,
    `| p99 at a fixed ${f.fixedRate.rate} req/s, ms | ${f.fixedRate.p99Ms} (achieved ${f.fixedRate.rps} req/s, p50 ${f.fixedRate.p50Ms}) | — | < 20 ms | ${verdict(f.fixedRate.p99Ms < 20 && f.fixedRate.rps >= f.fixedRate.rate * 0.95)} |`,
    `| Redis commands per request (Lua-internal included) | ${m.service.redisCommandsPerRequest} | bare+add ${m['bare-add'].redisCommandsPerRequest} | one round trip | |`,
    `| CPU per request, ms (server process) | ${m.service.cpuMsPerRequest} | bare ${m.bare.cpuMsPerRequest}, bare+add ${m['bare-add'].cpuMsPerRequest} | — | |`,
    '',
    `Runs (req/s): route ${f.runs.service.map((r) => r.rps).join(', ')}; bare ${f.runs.bare.map((r) => r.rps).join(', ')}; bare+add ${f.runs['bare-add'].map((r) => r.rps).join(', ')}; non-2xx ${f.runs.service.reduce((a, r) => a + r.non2xx, 0)}.`,
    '',
  ];
}

function memoryLines(runs: MemoryFigures[]): string[] {
  const out = ['## Redis per tracked lead (one delivery, one pick, one pickup plan with its timer and record per lead)', ''];
  out.push('| leads | bytes per lead | keys per lead | target | |', '| --- | --- | --- | --- | --- |');
  for (const r of runs) out.push(`| ${r.leads} | ${r.bytesPerLead} | ${r.keysPerLead} | ≤ 2,048 at 100,000 | ${r.leads >= 100_000 ? verdict(r.bytesPerLead <= 2048) : ''} |`);
  const last = runs[runs.length - 1];
  if (last) {
    out.push('', `Key families at ${last.leads} leads (bytes per lead from sampled MEMORY USAGE; TTL of a sample key):`, '');
    out.push('| family | keys | bytes per lead | TTL |', '| --- | --- | --- | --- |');
    for (const f of last.families) out.push(`| \`${f.family}\` | ${f.keys} | ${f.bytesPerLead} | ${f.ttl} |`);
  }
  out.push('');
  return out;
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  const results: Record<string, unknown> = { at: new Date().toISOString(), node: process.version, cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}` };
  const md: string[] = [`# Benchmarks (${results.at as string}, node ${process.version}, ${results.cpus as string})`, ''];

  if (!only || only === 'parse') {
    // Parsing a 300-item body: our expander + normaliser, against qs with limits that do not corrupt it.
    const body300 = leadsStatusBody(300, 1);
    const meta = { deliveryId: 'bench', receivedAt: new Date().toISOString() };
    const ours = stats(time(() => normalizeWebhook(expandFormBody(body300), meta), 300));
    const qsOnly = stats(time(() => qs.parse(body300, { depth: 20, arrayLimit: 10_000, parameterLimit: 100_000 }), 300));
    const expandOnly = stats(time(() => expandFormBody(body300), 300));
    results.parse300 = { bodyBytes: body300.length, expandAndNormalize: ours, expandOnly, qsParseBaseline: qsOnly, expandVsQs: +(expandOnly.meanMs / qsOnly.meanMs).toFixed(2) };
    md.push(
      '## Parsing',
      '',
      `- A 300-item leads[status] body (${body300.length} bytes): expand + normalise ${ours.meanMs} ms; baseline qs.parse alone ${qsOnly.meanMs} ms; expand alone / qs = ${(expandOnly.meanMs / qsOnly.meanMs).toFixed(2)}`,
      '',
    );
  }

  const redis = await startPrivateRedis();
  try {
    if (!only || only === 'intake') {
      const intake = await runIntakeBench(redis, { seconds: Number(process.env.BENCH_SECONDS ?? 5), repetitions: Number(process.env.BENCH_REPS ?? 3) });
      results.intake = intake;
      md.push(...intakeLines(intake));
    }
    if (!only || only === 'memory') {
      const sizes = (process.env.BENCH_MEMORY_LEADS ?? '10000,100000').split(',').map(Number);
      const runs: MemoryFigures[] = [];
      for (const n of sizes) runs.push(await runMemoryBench(redis, n));
      results.memory = runs;
      md.push(...memoryLines(runs));
    }
    if (!only || only === 'cadence') {
      // R3 at 1,000 leads: amoCRM requests per cadence step and the time to schedule them, beside the rate-limit bound.
      const cadence = await cadenceBench(redis.url, 1_000);
      results.cadence1000 = cadence;
      md.push(...cadenceBenchLines(cadence), '');
    }
  } finally {
    await redis.stop();
  }

  const suffix = only ? `-${only}` : '';
  writeFileSync(`bench/results/latest${suffix}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`bench/results/latest${suffix}.md`, `${md.join('\n')}\n`);
  console.log(md.join('\n'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
