/**
 * Benchmarks (`npm run bench`): figures go to bench/results/latest.json and latest.md.
 * Every figure is quoted beside a baseline measured in the same run, because absolute times on a shared
 * 2-core machine move from run to run while ratios hold.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import qs from 'qs';
import { expandFormBody } from '../src/amocrm/form-body.js';
import { normalizeWebhook } from '../src/amocrm/webhook-payload.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { startService } from '../src/service.js';
import { ensureLocalRedis } from '../sim/local-redis.js';
import { cadenceBench, cadenceBenchLines, type CadenceBenchResult } from './cadence.js';

const TOKEN = 'bench-webhook-token-0123456789abcdef';

function leadsStatusBody(items: number, seed: number): string {
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

async function main(): Promise<void> {
  const results: Record<string, unknown> = { at: new Date().toISOString(), node: process.version };
  const body300 = leadsStatusBody(300, 1);
  const meta = { deliveryId: 'bench', receivedAt: new Date().toISOString() };

  // 1. Parsing a 300-item body: our expander + normaliser, against qs with limits that do not corrupt it.
  const ours = stats(time(() => normalizeWebhook(expandFormBody(body300), meta), 300));
  const qsOnly = stats(time(() => qs.parse(body300, { depth: 20, arrayLimit: 10_000, parameterLimit: 100_000 }), 300));
  const expandOnly = stats(time(() => expandFormBody(body300), 300));
  results.parse300 = { bodyBytes: body300.length, expandAndNormalize: ours, expandOnly, qsParseBaseline: qsOnly, expandVsQs: +(expandOnly.meanMs / qsOnly.meanMs).toFixed(2) };

  // 2. The whole route (verify, parse, store raw body, dedupe, enqueue 300 jobs, answer) through app.inject.
  const redis = await ensureLocalRedis();
  const service = await startService(
    {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_PREFIX: `bench-${process.pid}`,
      ROLE: 'web',
      WEBHOOK_TOKEN: TOKEN,
      AMO_SUBDOMAIN: 'bench',
      AMO_BASE_URL: undefined,
      WORKER_CONCURRENCY: 1,
    },
    { logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) },
  );
  const app = service.app!;
  const route: number[] = [];
  const health: number[] = [];
  for (let i = 0; i < 60; i++) {
    const body = leadsStatusBody(300, 1000 + i);
    let t = performance.now();
    const res = await app.inject({ method: 'POST', url: `/webhooks/amocrm/${TOKEN}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
    if (i >= 10) route.push(performance.now() - t);
    if (res.statusCode !== 200) throw new Error(`route answered ${res.statusCode}: ${res.body}`);
    t = performance.now();
    await app.inject('/health/live');
    if (i >= 10) health.push(performance.now() - t);
  }
  results.route300 = { webhook: stats(route), healthBaseline: stats(health), ratio: +(stats(route).meanMs / stats(health).meanMs).toFixed(1) };

  // 3. Load: 1-item webhooks over real HTTP, 10 connections for 5 s, against /health/live as the baseline.
  const url = await service.listen();
  let seq = 0;
  const load = await autocannon({
    url: `${url}/webhooks/amocrm/${TOKEN}`,
    connections: 10,
    duration: 5,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req) => ({ ...req, body: leadsStatusBody(1, 1_000_000 + seq++) }),
      },
    ],
  });
  const base = await autocannon({ url: `${url}/health/live`, connections: 10, duration: 5 });
  results.load1 = {
    webhook: { rps: load.requests.average, p50Ms: load.latency.p50, p99Ms: load.latency.p99, non2xx: load.non2xx, errors: load.errors },
    healthBaseline: { rps: base.requests.average, p50Ms: base.latency.p50, p99Ms: base.latency.p99 },
    rpsRatio: +(load.requests.average / base.requests.average).toFixed(2),
  };

  await service.redis.eval(`for _,k in ipairs(redis.call('keys', ARGV[1])) do redis.call('unlink', k) end return 1`, 0, `bench-${process.pid}*`);
  await service.close();

  // 4. R3 cadences at 1,000 leads: requests per step and time beside the rate-limit bound (bench/cadence.ts).
  results.cadence1000 = await cadenceBench(redis.url, 1_000);
  await redis.stop();

  writeFileSync('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
  const r = results as { parse300: { expandAndNormalize: { meanMs: number }; qsParseBaseline: { meanMs: number }; expandVsQs: number }; route300: { webhook: { meanMs: number; p99Ms: number }; healthBaseline: { meanMs: number }; ratio: number }; load1: { webhook: { rps: number; p99Ms: number }; healthBaseline: { rps: number }; rpsRatio: number } };
  const md = [
    `# Benchmarks (${results.at as string}, node ${process.version})`,
    '',
    `- Parse a 300-item leads[status] body (${body300.length} bytes): expand+normalise ${r.parse300.expandAndNormalize.meanMs} ms; qs.parse alone ${r.parse300.qsParseBaseline.meanMs} ms; expand alone / qs = ${r.parse300.expandVsQs}`,
    `- Webhook route, 300-item body, app.inject with real Redis: mean ${r.route300.webhook.meanMs} ms, p99 ${r.route300.webhook.p99Ms} ms (${r.route300.ratio}× /health/live at ${r.route300.healthBaseline.meanMs} ms)`,
    `- Load, 1-item webhooks over HTTP, 10 connections: ${r.load1.webhook.rps} req/s, p99 ${r.load1.webhook.p99Ms} ms (${r.load1.rpsRatio}× the req/s of /health/live at ${r.load1.healthBaseline.rps})`,
    ...cadenceBenchLines(results.cadence1000 as CadenceBenchResult),
    '',
  ].join('\n');
  writeFileSync('bench/results/latest.md', md);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
