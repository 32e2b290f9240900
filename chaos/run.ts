/**
 * `npm run chaos`: the chaos suite. For each case: a private Redis (AOF on), the simulator, one web and N worker
 * processes of the service; a known workload; the case's fault; then the simulator's final state and its audit
 * log of accepted writes are compared with the course every lead must take (verdict.ts).
 *
 *   npm run chaos                          every case at full size
 *   npm run chaos -- --smoke               every case, short (CI)
 *   npm run chaos -- --case outage         one case (repeat --case, or comma-separate, for several)
 *   npm run chaos -- --list                the cases
 *   options: --seed N (workload and fault probabilities), --log-level debug
 *
 * Results: chaos/results/latest[-smoke].json and .md; process logs under chaos/.runs/<time>/<case>/.
 * Exit code 0 only when every case has 0 lost, 0 doubled, 0 returned to a misser, 0 wrong, 0 invalid and its
 * fault was seen to happen.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { CASES, snapshot, type CaseContext, type ChaosCase, type Control } from './cases.js';
import { startStack, type Stack } from './stack.js';
import { judge, type PlannedLead, type Verdict } from './verdict.js';
import { DEPARTMENTS, startWorkload } from './workload.js';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const values = (name: string): string[] =>
  args.flatMap((a, i) => (a === `--${name}` && args[i + 1] ? args[i + 1]!.split(',') : []));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface CaseResult {
  name: string;
  title: string;
  passed: boolean;
  seconds: number;
  leads: number;
  lost: number;
  doubled: number;
  returnedToMisser: number;
  wrong: number;
  invalid: number;
  redundantWrites: number;
  secretInLogs: number;
  control: Control;
  problems: Verdict['problems'];
  settled: boolean;
  logs: string;
  error?: string;
  /** Problems that appeared after the case's own run (a later write to its leads, seen at the end of a smoke run). */
  late?: Verdict['problems'];
}

/** What a case's verdict needs again at the end of a smoke run, when later writes to its leads may have landed. */
interface Rejudge {
  plan: PlannedLead[];
  calls: Map<number, { userId: number; at: number }>;
  maxMisses: number;
}
const rejudges = new Map<string, Rejudge>();

function rulesFor(dir: string, timeoutSec: number, maxMisses: number): string {
  const text = readFileSync(join(ROOT, 'chaos', 'rules.chaos.yaml'), 'utf8')
    .replace(/^calendar: .*$/m, 'calendar: calendars/ru-2025-2027.yaml')
    .replace(/^(\s+timeout:) PT\d+S$/m, `$1 PT${timeoutSec}S`)
    .replace(/^(\s+maxMisses:) \d+$/m, `$1 ${maxMisses}`)
    .replace(/^# yaml-language-server.*$/m, '');
  const file = join(dir, 'rules.yaml');
  writeFileSync(file, text);
  return file;
}

/** Smoke cases share one stack (OAuth, four workers, the smoke clock), so CI pays the start-up once. */
interface Shared {
  stack: Stack;
  timeoutSec: number;
  maxMisses: number;
  secretsSeen: number;
}

const SHARED = { workers: 4, auth: 'oauth' as const, timeoutSec: 3, maxMisses: 2 };

const countSecret = (stack: Stack): number =>
  stack.logFiles().reduce((n, f) => n + (readFileSync(f, 'utf8').split(stack.clientSecret).length - 1), 0);

async function runCase(
  c: ChaosCase,
  smoke: boolean,
  runDir: string,
  seed: number,
  shared?: Shared,
): Promise<CaseResult> {
  const started = Date.now();
  const config = c.config(smoke);
  const dir = join(runDir, shared ? 'shared' : c.name);
  mkdirSync(dir, { recursive: true });
  const log = (m: string): void => console.log(`  [${c.name} +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`);
  if (shared && (shared.timeoutSec !== config.timeoutSec || shared.maxMisses !== config.maxMisses)) {
    throw new Error(
      `${c.name} needs a ${config.timeoutSec} s clock and ${config.maxMisses} misses; the shared smoke stack has ${shared.timeoutSec} s and ${shared.maxMisses}`,
    );
  }
  const stack =
    shared?.stack ??
    (await startStack({
      dir,
      workers: config.workers,
      auth: config.auth,
      rulesFile: rulesFor(dir, config.timeoutSec, config.maxMisses),
      faultSeed: seed,
      ...(values('log-level')[0] ? { logLevel: values('log-level')[0]! } : {}),
    }));
  if (shared) {
    await stack.sim.clearFaults();
    stack.autoRestart = true;
  } else {
    log(
      `stack up: redis ${stack.redisUrl}, simulator ${stack.sim.url}, 1 web + ${config.workers} workers (${config.auth})`,
    );
  }
  const before = await snapshot(stack);
  const workload = startWorkload(
    stack.sim,
    { ...config.workload, seed },
    { ...(c.onPoison ? { onPoison: (id) => c.onPoison!(stack, id) } : {}) },
  );

  // Settle deadline: every lead's full course (maxMisses + 1 clocks, each with a batch window and the rate limit),
  // stretched for slow amoCRM answers, plus what the fault itself costs, plus a margin.
  const arrivalMs = Math.ceil(config.workload.leads / config.workload.perArrival) * config.workload.arrivalEveryMs;
  const courseMs = (config.maxMisses + 1) * (config.timeoutSec * 1000 + 3_000) * config.slowness;
  // Counted from the workload's start (not the stack's), and stretched while no worker is alive (a restart after a
  // kill can take long on a loaded machine): the service cannot be blamed for time it was not running.
  let deadline =
    Date.now() + arrivalMs + courseMs + config.faultMs + 60_000 + config.workload.leads * 400 * config.slowness;
  let settledFlag = false;
  let resolveSettled!: () => void;
  const settledPromise = new Promise<void>((r) => (resolveSettled = r));
  const ctx: CaseContext = { stack, before, workload, config, smoke, settled: settledPromise, log };
  const injection = c.inject(ctx).catch((err: unknown) => log(`fault injection failed: ${(err as Error).message}`));

  let error: string | undefined;
  let pending: number[] = [];
  try {
    await workload.created;
    log(
      `${workload.plan.length} leads created (${workload.plan.filter((l) => l.kind === 'taken').length} taken, ${workload.plan.filter((l) => l.kind === 'untaken').length} untaken, ${workload.plan.filter((l) => l.kind === 'poison').length} poisoned)`,
    );
    let lastReport = 0;
    let idleMs = 0;
    for (;;) {
      const s = await workload.settled();
      pending = s.pending;
      if (s.done) {
        settledFlag = true;
        break;
      }
      if (Date.now() >= deadline) break;
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        log(`${s.pending.length} lead(s) still on their course`);
      }
      await sleep(1_000);
      if (stack.workerPids().length === 0) {
        deadline += 1_000;
        idleMs += 1_000;
      }
    }
    if (idleMs > 0)
      log(`no worker was alive for ${idleMs / 1000} s (restarts); the settle deadline was moved by as much`);
    resolveSettled();
    await injection;
    // Quiet period: anything the robot still does now is beyond the known course (a late double).
    await sleep(config.quietMs ?? (smoke ? config.timeoutSec * 1000 + 2_000 : config.timeoutSec * 1000 * 2 + 3_000));
    log(
      settledFlag
        ? 'every lead reached the end of its course; quiet period over'
        : `settle deadline passed with ${pending.length} lead(s) short of their course`,
    );
  } catch (err) {
    error = (err as Error).message;
    resolveSettled();
  }
  workload.stop();

  let verdict: Verdict | undefined;
  let control: Control = { ok: false, figures: {} };
  try {
    const [audit, leads] = await Promise.all([stack.sim.audit(), stack.sim.leads()]);
    verdict = judge({
      plan: workload.plan,
      departments: DEPARTMENTS,
      audit,
      finalResponsible: new Map(leads.map((l) => [l.id, l.responsibleUserId])),
      calls: workload.calls,
      maxMisses: config.maxMisses,
    });
    control = await c.control(ctx);
    rejudges.set(c.name, { plan: workload.plan, calls: workload.calls, maxMisses: config.maxMisses });
  } catch (err) {
    error = `${error ? `${error}; ` : ''}${(err as Error).message}`;
  }
  if (shared) await stack.sim.clearFaults().catch(() => undefined);
  else await stack.close();
  // The OAuth client secret must never reach a log line.
  let secretInLogs = countSecret(stack);
  if (shared) {
    secretInLogs -= shared.secretsSeen;
    shared.secretsSeen += secretInLogs;
  }

  const v = verdict;
  const passed =
    !error &&
    v !== undefined &&
    control.ok &&
    secretInLogs === 0 &&
    v.lost + v.doubled + v.returnedToMisser + v.wrong + v.invalid === 0;
  return {
    name: c.name,
    title: c.title,
    passed,
    seconds: Math.round((Date.now() - started) / 1000),
    leads: v?.leads ?? 0,
    lost: v?.lost ?? -1,
    doubled: v?.doubled ?? -1,
    returnedToMisser: v?.returnedToMisser ?? -1,
    wrong: v?.wrong ?? -1,
    invalid: v?.invalid ?? -1,
    redundantWrites: v?.redundantWrites ?? 0,
    secretInLogs,
    control,
    problems: v?.problems ?? [],
    settled: settledFlag,
    logs: dir,
    ...(error ? { error } : {}),
  };
}

function markdown(results: CaseResult[], meta: Record<string, string>): string {
  const lines = [
    `Chaos run ${meta.date} on ${meta.machine}, ${meta.mode}, seed ${meta.seed}, commit ${meta.commit}.`,
    '',
    '| case | leads | lost | doubled | returned to a misser | wrong | invalid | fault seen | secret in logs | time, s | result |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.leads} | ${r.lost} | ${r.doubled} | ${r.returnedToMisser} | ${r.wrong} | ${r.invalid} | ${r.control.ok ? 'yes' : 'NO'}: ${Object.entries(
          r.control.figures,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join('; ')} | ${r.secretInLogs} | ${r.seconds} | ${r.passed ? 'pass' : 'FAIL'} |`,
    ),
    '',
  ];
  for (const r of results.filter((x) => !x.passed)) {
    lines.push(`### ${r.name}: what went wrong`, '');
    if (r.error) lines.push(`- error: ${r.error}`);
    for (const p of r.problems.slice(0, 30)) lines.push(`- ${p.kind}, lead ${p.leadId}: ${p.detail}`);
    if (r.problems.length > 30) lines.push(`- … ${r.problems.length - 30} more in the JSON results`);
    for (const p of (r.late ?? []).slice(0, 30))
      lines.push(`- after the case's run: ${p.kind}, lead ${p.leadId}: ${p.detail}`);
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (flag('list')) {
    for (const c of CASES) console.log(`${c.name.padEnd(22)} ${c.title}`);
    return;
  }
  const smoke = flag('smoke');
  const seed = Number(values('seed')[0] ?? 7) || 7;
  const names = values('case');
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length > 0) {
    console.error(`unknown case(s): ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
    process.exit(2);
  }
  const selected = names.length > 0 ? CASES.filter((c) => names.includes(c.name)) : CASES;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(ROOT, 'chaos', '.runs', stamp);
  mkdirSync(runDir, { recursive: true });
  console.log(`chaos: ${selected.length} case(s), ${smoke ? 'smoke' : 'full'} sizes, seed ${seed}; logs in ${runDir}`);

  const results: CaseResult[] = [];
  let shared: Shared | undefined;
  if (smoke && !flag('separate')) {
    const dir = join(runDir, 'shared');
    mkdirSync(dir, { recursive: true });
    const t0 = Date.now();
    const stack = await startStack({
      dir,
      workers: SHARED.workers,
      auth: SHARED.auth,
      rulesFile: rulesFor(dir, SHARED.timeoutSec, SHARED.maxMisses),
      faultSeed: seed,
      ...(values('log-level')[0] ? { logLevel: values('log-level')[0]! } : {}),
    });
    shared = { stack, timeoutSec: SHARED.timeoutSec, maxMisses: SHARED.maxMisses, secretsSeen: 0 };
    console.log(
      `shared smoke stack up in ${Math.round((Date.now() - t0) / 1000)} s: redis ${stack.redisUrl}, simulator ${stack.sim.url}, 1 web + ${SHARED.workers} workers (${SHARED.auth})`,
    );
  }
  for (const c of selected) {
    console.log(`\n${c.name}: ${c.title}`);
    let result: CaseResult;
    try {
      result = await runCase(c, smoke, runDir, seed, shared);
    } catch (err) {
      result = {
        name: c.name,
        title: c.title,
        passed: false,
        seconds: 0,
        leads: 0,
        lost: -1,
        doubled: -1,
        returnedToMisser: -1,
        wrong: -1,
        invalid: -1,
        redundantWrites: 0,
        secretInLogs: 0,
        control: { ok: false, figures: {} },
        problems: [],
        settled: false,
        logs: join(runDir, c.name),
        error: (err as Error).message,
      };
    }
    results.push(result);
    console.log(
      `  ${result.passed ? 'PASS' : 'FAIL'}  leads ${result.leads}, lost ${result.lost}, doubled ${result.doubled}, returned to a misser ${result.returnedToMisser}, wrong ${result.wrong}, invalid ${result.invalid}; ${Object.entries(
        result.control.figures,
      )
        .map(([k, v]) => `${k}: ${v}`)
        .join(
          '; ',
        )}${result.secretInLogs ? `; client secret in logs ${result.secretInLogs} time(s)` : ''} (${result.seconds} s)`,
    );
    if (result.error) console.log(`  error: ${result.error}`);
    for (const p of result.problems.slice(0, 10)) console.log(`  - ${p.kind} lead ${p.leadId}: ${p.detail}`);
    if (result.problems.length > 10) console.log(`  - … ${result.problems.length - 10} more (chaos/results)`);
  }

  if (shared) {
    // Late writes: a plan taken over after its lease, a stale job redelivered — judged again on the final audit.
    const [audit, leads] = await Promise.all([shared.stack.sim.audit(), shared.stack.sim.leads()]);
    for (const r of results) {
      const again = rejudges.get(r.name);
      if (!again) continue;
      // A poisoned lead is only poisoned during its own case: the next case clears the rule, and the robot may then
      // legitimately assign it (the sweep finds it without a clock).
      const plan = again.plan.filter((l) => l.kind !== 'poison');
      const v = judge({
        ...again,
        plan,
        departments: DEPARTMENTS,
        audit,
        finalResponsible: new Map(leads.map((l) => [l.id, l.responsibleUserId])),
      });
      const seen = new Set(r.problems.map((p) => `${p.kind}|${p.leadId}|${p.detail}`));
      const late = v.problems.filter((p) => !seen.has(`${p.kind}|${p.leadId}|${p.detail}`));
      if (late.length === 0) continue;
      r.late = late;
      r.passed = false;
      r.lost = v.lost;
      r.doubled = v.doubled;
      r.returnedToMisser = v.returnedToMisser;
      r.wrong = v.wrong;
      r.invalid = v.invalid;
      console.log(`\n${r.name}: ${late.length} problem(s) appeared after its run:`);
      for (const p of late.slice(0, 10)) console.log(`  - ${p.kind} lead ${p.leadId}: ${p.detail}`);
    }
    await shared.stack.close();
  }
  const { execSync } = await import('node:child_process');
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout
  }
  const meta = {
    date: new Date().toISOString(),
    machine: `${hostname()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    mode: smoke ? 'smoke' : 'full',
    seed: String(seed),
    commit,
  };
  if (names.length === 0 || flag('save')) {
    const out = join(ROOT, 'chaos', 'results');
    mkdirSync(out, { recursive: true });
    const base = join(out, smoke ? 'latest-smoke' : 'latest');
    writeFileSync(`${base}.json`, `${JSON.stringify({ ...meta, results }, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown(results, meta));
    console.log(`\nresults: ${base}.md`);
  } else {
    writeFileSync(join(runDir, 'results.md'), markdown(results, meta));
    console.log(`\nresults: ${join(runDir, 'results.md')}`);
  }
  const failed = results.filter((r) => !r.passed);
  console.log(
    failed.length === 0
      ? `chaos: all ${results.length} case(s) passed`
      : `chaos: ${failed.length} of ${results.length} case(s) FAILED: ${failed.map((r) => r.name).join(', ')}`,
  );
  process.exit(failed.length === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  console.error('chaos failed:', err instanceof Error ? err.stack : err);
  process.exit(1);
});
