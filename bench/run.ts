/**
 * Benchmarks (`npm run bench`): figures go to bench/results/latest.json and latest.md, each printed beside the
 * baseline measured in the same run and the target it is held to (docs/BENCHMARKS.md explains each one).
 * Absolute times on a shared machine move from run to run; ratios within one run hold.
 *
 * BENCH_SECONDS (5) and BENCH_REPS (3) size the intake runs; BENCH_MEMORY_LEADS ("10000,100000") the memory runs
 * (the first through the real code paths, the others grown from it); BENCH_BURSTS ("300:20,1000:88", leads:seconds)
 * the deadline bursts; BENCH_TIMERS ("100000") and BENCH_TIMERS_SECONDS (60) the timers at scale.
 * BENCH_ONLY=parse|intake|memory|burst|timers|cadence|capacity (or a comma-separated list) runs those parts.
 */
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import qs from 'qs';
import { expandFormBody } from '../src/amocrm/form-body.js';
import { normalizeWebhook } from '../src/amocrm/webhook-payload.js';
import { leadsStatusBody, runIntakeBench, type IntakeFigures } from './intake.js';
import { runMemoryBench, type MemoryFigures } from './memory.js';
import { startPrivateRedis } from './lib/private-redis.js';
import { cadenceBench, cadenceBenchLines } from './cadence.js';
import { BURSTS, runBurstBench, type BurstFigures } from './burst.js';
import { runTimerBench, type SweepFigures, type TimerFigures } from './timers.js';
import { runCoreBench, runShellBench, type CoreFigures, type ShellFigures } from './capacity.js';

function stats(samples: number[]): { n: number; meanMs: number; p50Ms: number; p99Ms: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    n: s.length,
    meanMs: round(s.reduce((a, b) => a + b, 0) / s.length),
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
  };
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
    '| figure | measured (route) | baseline | target | |',
    '| --- | --- | --- | --- | --- |',
    `| req/s vs bare Fastify route parsing the same body | ${m.service.rps} | ${m.bare.rps} (ratio ${f.ratioToBare}) | ≥ 0.4× | ${verdict(f.ratioToBare >= 0.4)} |`,
    `| req/s vs bare route + one BullMQ add | ${m.service.rps} | ${m['bare-add'].rps} (ratio ${f.ratioToBareAdd}) | ≥ 0.6× | ${verdict(f.ratioToBareAdd >= 0.6)} |`,
    `| p99 at 50 connections, ms | ${m.service.p99Ms} | bare ${m.bare.p99Ms}, bare+add ${m['bare-add'].p99Ms} | — | |`,
    `| p99 at a fixed ${f.fixedRate.rate} req/s, ms | ${f.fixedRate.p99Ms} (achieved ${f.fixedRate.rps} req/s, p50 ${f.fixedRate.p50Ms}) | bare+add at the same rate: ${f.fixedRateBareAdd.p99Ms} (achieved ${f.fixedRateBareAdd.rps} req/s, p50 ${f.fixedRateBareAdd.p50Ms}) | < 20 ms | ${verdict(f.fixedRate.p99Ms < 20 && f.fixedRate.rps >= f.fixedRate.rate * 0.95)} |`,
    `| p99 at half the route's rate above (${f.halfCapacity.rate} req/s), ms | ${f.halfCapacity.p99Ms} (achieved ${f.halfCapacity.rps} req/s, p50 ${f.halfCapacity.p50Ms}) | — | — | |`,
    `| Redis commands per request (Lua-internal included) | ${m.service.redisCommandsPerRequest} | bare+add ${m['bare-add'].redisCommandsPerRequest} | one round trip | |`,
    `| CPU per request, ms (server process) | ${m.service.cpuMsPerRequest} | bare ${m.bare.cpuMsPerRequest}, bare+add ${m['bare-add'].cpuMsPerRequest} | — | |`,
    '',
    `Runs (req/s): route ${f.runs.service.map((r) => r.rps).join(', ')}; bare ${f.runs.bare.map((r) => r.rps).join(', ')}; bare+add ${f.runs['bare-add'].map((r) => r.rps).join(', ')}; non-2xx ${f.runs.service.reduce((a, r) => a + r.non2xx, 0)}.`,
    '',
  ];
}

const n = (x: number): string => x.toLocaleString('en');
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(', ');

function memoryLines(runs: MemoryFigures[]): string[] {
  const out = [
    '## Redis per tracked lead (one delivery, one pick, one pickup plan with its timer and record per lead)',
    '',
  ];
  out.push(
    '| leads | how | bytes per lead | keys per lead | baseline (before: 10,000 real, same harness) | target | |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const r of runs)
    out.push(
      `| ${n(r.leads)} | ${r.method} | ${n(r.bytesPerLead)} | ${r.keysPerLead} | 4,205 | ≤ 2,048 at 100,000 | ${r.leads >= 100_000 ? verdict(r.bytesPerLead <= 2048) + (r.bytesPerLead > 2048 ? ` by ${n(r.bytesPerLead - 2048)}` : '') : ''} |`,
    );
  const last = runs[runs.length - 1];
  if (last) {
    out.push(
      '',
      `Key families at ${n(last.leads)} leads (bytes per lead from sampled MEMORY USAGE; TTL of a sample key):`,
      '',
    );
    out.push('| family | keys | bytes per lead | TTL |', '| --- | --- | --- | --- |');
    for (const f of last.families) out.push(`| \`${f.family}\` | ${n(f.keys)} | ${n(f.bytesPerLead)} | ${f.ttl} |`);
  }
  out.push('');
  return out;
}

function burstLines(runs: BurstFigures[]): string[] {
  const out = [
    '## Deadline bursts (simulator at 7 requests/second; baseline: an ideal batching client on a second simulator, same deadlines, same time)',
    '',
  ];
  out.push(
    '| leads, spread | figure | service | baseline (ideal client) | target | |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const b of runs) {
    const s = b.service;
    const i = b.ideal;
    const at = `${n(b.leads)} in ${b.spreadMs / 1000} s`;
    const eps = (x: Record<string, number>): string =>
      Object.entries(x)
        .map(([k, v]) => `${k.replace('/api/v4/', '')} ${v}`)
        .join(', ');
    out.push(
      `| ${at} | amoCRM requests per lead | ${s.requestsPerLead} (${s.requests}: ${eps(s.byEndpoint)}) | ${i.requestsPerLead} (${i.requests}); unbatched ${b.unbatchedRequestsPerLead} | ≤ 0.1 | ${verdict(s.requestsPerLead <= 0.1)}${s.requestsPerLead > 0.1 ? ` by ${(s.requestsPerLead - 0.1).toFixed(3)}` : ''} |`,
    );
    out.push(
      `| ${at} | … of the deadline path (without the safety sweep's ${s.sweepPages} pages) | ${s.deadlinePathRequestsPerLead} in ${s.batches} batches | ${i.deadlinePathRequestsPerLead} in ${i.batches} batches | ≤ 0.1 | ${verdict(s.deadlinePathRequestsPerLead <= 0.1)} |`,
    );
    out.push(
      `| ${at} | leads per PATCH (smallest, largest) | ${s.patchItems.join(', ')} | ${i.patchItems.join(', ')} | 50-250 | |`,
    );
    out.push(
      `| ${at} | lateness p50 / p99 / max, ms | ${n(s.latenessP50Ms)} / ${n(s.latenessP99Ms)} / ${n(s.latenessMaxMs)} | ${n(i.latenessP50Ms)} / ${n(i.latenessP99Ms)} / ${n(i.latenessMaxMs)} | p99 ≤ ${n(b.boundMs)} (window ${n(b.batchWindowMs)} + ${s.requests} requests at 7/s) | ${verdict(s.latenessP99Ms <= b.boundMs)} |`,
    );
    out.push(
      `| ${at} | 429s from the simulator | ${s.rateLimitViolations} | ${i.rateLimitViolations} | 0 | ${verdict(s.rateLimitViolations === 0)} |`,
    );
  }
  out.push('');
  return out;
}

function timerLines(t: TimerFigures, s: SweepFigures): string[] {
  return [
    `## Timers at scale (${n(t.clocks)} live clocks, deadlines over 15 minutes; ${t.seconds} s of one worker's loop; simulator at 7 requests/second)`,
    '',
    '| figure | measured | baseline | target | |',
    '| --- | --- | --- | --- | --- |',
    `| lateness of the check after the deadline, p50 / p99 / max, ms | ${n(t.latenessP50Ms)} / ${n(t.latenessP99Ms)} / ${n(t.latenessMaxMs)} (${n(t.checked)} checks in ${t.batches} batches) | bound: window ${n(t.batchWindowMs)} + one batch's 4 requests at 7/s = ${n(t.boundMs)} | p99 ≤ bound | ${verdict(t.latenessP99Ms <= t.boundMs)} |`,
    `| amoCRM requests per checked lead | ${t.requestsPerLead} (${t.requests}) | unbatched 4 | ≤ 0.1 | ${verdict(t.requestsPerLead <= 0.1)} |`,
    `| one backlog look at the full set (ZCOUNT + ZRANGE, round trip), ms p50 | ${t.claimP50Ms} | — | — | |`,
    `| timer set, bytes per clock | ${t.timerSetBytesPerClock} | — | — | |`,
    `| 429s from the simulator | ${t.rateLimitViolations} | — | 0 | ${verdict(t.rateLimitViolations === 0)} |`,
    `| safety sweep over ${n(s.leads)} leads in the stage: requests | ${n(s.requests)} (${Object.entries(s.byEndpoint)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}) | ${n(Math.ceil(s.leads / 250))} pages of 250 | within the rate limit | ${verdict(s.rateLimitViolations === 0)} (429s: ${s.rateLimitViolations}) |`,
    `| safety sweep: time, s | ${s.seconds} (found ${n(s.found)}, started ${s.started}, timers restored ${s.rescheduled}) | ${s.boundSeconds} (pages at the 5/s bulk work may use) | — | |`,
    '',
  ];
}

function capacityLines(core: CoreFigures, shell: ShellFigures, intake: IntakeFigures | undefined): string[] {
  const cpuPerRequest = intake?.median.service.cpuMsPerRequest;
  return [
    '## The limits of one process',
    '',
    '| figure | measured | how |',
    '| --- | --- | --- |',
    ...(cpuPerRequest !== undefined
      ? [
          `| intake, webhooks a second per core (\`ROLE=web\`) | ${n(Math.round(1000 / cpuPerRequest))} | 1 s ÷ ${cpuPerRequest} ms of CPU per request (the intake part above) |`,
        ]
      : []),
    `| rule core on a recorded day: events / decisions a second per core | ${n(core.eventsPerSecond)} / ${n(core.decisionsPerSecond)} | ${n(core.events)} webhook events of ${n(core.leads)} leads (${n(core.decisions)} decisions) replayed through the pure pickup and distribution rules in ${n(core.cpuMs)} ms of CPU |`,
    `| worker at deadlines: decisions a second, one process | ${n(shell.decisionsPerSecond)} (CPU ${shell.cpuMsPerDecision} ms a decision) | ${n(shell.leads)} clocks due at once, real engine and executor on Redis, amoCRM in memory; ${shell.seconds} s |`,
    `| amoCRM requests per deadline decision, batched | ${shell.requestsPerDecision} (${shell.batches} batches) | one leads read, one events read, one PATCH and one notes POST a batch |`,
    `| deadline decisions a second one account's 7 requests/s carry | ${n(shell.accountDecisionsPerSecond)} | 7 ÷ requests per decision |`,
    `| worker processes that saturate one account | ${shell.workersToSaturate} | decisions the account carries ÷ decisions one worker makes |`,
    '',
  ];
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',');
  const part = (name: string): boolean => !only || only.includes(name);
  const cpu = `${cpus().length} × ${cpus()[0]?.model ?? '?'}`;
  const results: Record<string, unknown> = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpu,
    loadAverageAtStart: loadavg(),
  };
  const md: string[] = [
    `# Benchmarks (${results.at as string})`,
    '',
    `Machine: ${cpu}, node ${process.version}; load average at start ${load()} (1, 5, 15 min; the machine is shared, so absolute times move with it). Each part gives the load average it ran under.`,
    '',
  ];
  const loads: Record<string, string> = {};
  const ran = (name: string, before: string): void => {
    loads[name] = `${before} → ${load()}`;
    md.push(`Load average during this part: ${loads[name]}.`, '');
  };

  if (part('parse')) {
    const before = load();
    // Parsing a 300-item body: our expander + normaliser, against qs with limits that do not corrupt it.
    const body300 = leadsStatusBody(300, 1);
    const meta = { deliveryId: 'bench', receivedAt: new Date().toISOString() };
    const ours = stats(time(() => normalizeWebhook(expandFormBody(body300), meta), 300));
    const qsOnly = stats(
      time(() => qs.parse(body300, { depth: 20, arrayLimit: 10_000, parameterLimit: 100_000 }), 300),
    );
    const expandOnly = stats(time(() => expandFormBody(body300), 300));
    results.parse300 = {
      bodyBytes: body300.length,
      expandAndNormalize: ours,
      expandOnly,
      qsParseBaseline: qsOnly,
      expandVsQs: +(expandOnly.meanMs / qsOnly.meanMs).toFixed(2),
    };
    md.push(
      '## Parsing',
      '',
      '| figure | measured | baseline | target |',
      '| --- | --- | --- | --- |',
      `| a 300-item leads[status] body (${n(body300.length)} bytes): expand + normalise, mean ms | ${ours.meanMs} | qs.parse alone ${qsOnly.meanMs} | — |`,
      `| expand alone ÷ qs.parse | ${(expandOnly.meanMs / qsOnly.meanMs).toFixed(2)} | 1 | — |`,
      '',
    );
    ran('parse', before);
  }

  const redis = await startPrivateRedis();
  try {
    if (part('intake')) {
      const before = load();
      const intake = await runIntakeBench(redis, {
        seconds: Number(process.env.BENCH_SECONDS ?? 5),
        repetitions: Number(process.env.BENCH_REPS ?? 3),
      });
      results.intake = intake;
      md.push(...intakeLines(intake));
      ran('intake', before);
    }
    if (part('burst')) {
      const before = load();
      const sizes = (process.env.BENCH_BURSTS ?? BURSTS.map(([l, ms]) => `${l}:${ms / 1000}`).join(','))
        .split(',')
        .map((x) => x.split(':').map(Number) as [number, number]);
      const runs: BurstFigures[] = [];
      for (const [leads, spread] of sizes) runs.push(await runBurstBench(redis, leads, spread * 1000));
      results.burst = runs;
      md.push(...burstLines(runs));
      ran('burst', before);
    }
    if (part('memory')) {
      const before = load();
      const sizes = (process.env.BENCH_MEMORY_LEADS ?? '10000,100000').split(',').map(Number);
      const runs = await runMemoryBench(redis, sizes);
      results.memory = runs;
      md.push(...memoryLines(runs));
      ran('memory', before);
    }
    if (part('timers')) {
      const before = load();
      const { timers, sweep } = await runTimerBench(
        redis,
        Number(process.env.BENCH_TIMERS ?? 100_000),
        Number(process.env.BENCH_TIMERS_SECONDS ?? 60),
      );
      results.timers = timers;
      results.sweep = sweep;
      md.push(...timerLines(timers, sweep));
      ran('timers', before);
    }
    if (part('cadence')) {
      const before = load();
      // R3 at 1,000 leads: amoCRM requests per cadence step and the time to schedule them, beside the rate-limit bound.
      const cadence = await cadenceBench(redis.url, 1_000);
      results.cadence1000 = cadence;
      md.push('## Call cadences (R3, 1,000 leads)', '', ...cadenceBenchLines(cadence), '');
      ran('cadence', before);
    }
    if (part('capacity')) {
      const before = load();
      const core = await runCoreBench(Number(process.env.BENCH_CAPACITY_LEADS ?? 2_000));
      const shell = await runShellBench(redis.url, Number(process.env.BENCH_CAPACITY_LEADS ?? 2_000));
      results.capacity = { core, shell };
      md.push(...capacityLines(core, shell, results.intake as IntakeFigures | undefined));
      ran('capacity', before);
    }
  } finally {
    await redis.stop();
  }
  results.loadAverage = loads;

  const suffix = only ? `-${only.join('-')}` : '';
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
