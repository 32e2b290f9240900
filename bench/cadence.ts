/**
 * R3 at scale: 1,000 leads in «Не дозвонились» on the simulator (7 requests/s, like amoCRM) with the whole runtime
 * (real Redis, the shared executor, the rate-limited client). Two figures, each beside the rate-limit bound
 * (requests ÷ 7 per second, the least time any client could take):
 * - the join: the sweep lists the stage (paged, 250 a request) and sets every lead's first task and start note;
 * - one cadence step: every manager completes the task without reaching the client, and every lead gets its next
 *   call task and a messenger task (week 1 of seed 001), all carried out in one batch.
 */
import { performance } from 'node:perf_hooks';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { startRuntime } from '../src/runtime.js';
import type { LeadState } from '../src/rules/lead-state.js';
import type { TaskEvent } from '../src/rules/events.js';
import type { Plan } from '../src/effects/types.js';
import { createSimulator } from '../sim/server.js';

export interface CadenceBenchResult {
  leads: number;
  join: {
    requests: Record<string, number>;
    total: number;
    perLead: number;
    seconds: number;
    rateLimitBoundSeconds: number;
    rateLimitViolations: number;
  };
  step: {
    requests: Record<string, number>;
    total: number;
    perLead: number;
    seconds: number;
    rateLimitBoundSeconds: number;
    rateLimitViolations: number;
  };
}

const RPS = 7;
const diff = (after: Record<string, number>, before: Record<string, number>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)])
      .filter(
        ([k, v]) =>
          ((v as number) > 0 && String(k).startsWith('GET /api')) ||
          ((v as number) > 0 && /^(POST|PATCH)/.test(String(k))),
      ),
  );

export async function cadenceBench(redisUrl: string, leads = 1_000): Promise<CadenceBenchResult> {
  const sim = createSimulator({ longLivedToken: 'bench-sim', rps: RPS });
  const simUrl = await sim.listen();
  const runtime = await startRuntime({
    service: {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      REDIS_PREFIX: `bench-cadence-${process.pid}`,
      ROLE: 'worker',
      WEBHOOK_TOKEN: 'bench-cadence-token-0123456789abcdef',
      AMO_SUBDOMAIN: 'demo-realty',
      AMO_BASE_URL: simUrl,
      WORKER_CONCURRENCY: 1,
    },
    amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: 'bench-sim' }, rps: RPS },
    rulesFile: 'config/rules.demo.yaml',
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  try {
    const cadence = runtime.cadence!;
    const effects = runtime.effects!;
    await effects.stop(); // the bench drives the executor itself
    const stage = sim.account.statusByName('Не дозвонились').id;
    const managers = [9101, 9102, 9103, 9104];
    const ids: number[] = [];
    // The leads wait in another stage while the start-up sweeps run, then land in the stage without webhooks (the
    // simulator has no destination), as if a cadence had just been switched on for them.
    const parked = sim.account.statusByName('Квалификатор').id;
    for (let i = 0; i < leads; i++)
      ids.push(
        sim.account.createLead({
          name: `Лид ${i}`,
          statusId: parked,
          responsibleUserId: managers[i % managers.length]!,
          by: 9001,
        }).id,
      );
    await new Promise((r) => setTimeout(r, 2_000));
    await runtime.amo.flush();
    for (const id of ids) sim.account.updateLead(id, { statusId: stage }, 9001);

    let before = sim.stats();
    let t = performance.now();
    const swept = await cadence.sweep();
    await runtime.amo.flush();
    const joinSeconds = (performance.now() - t) / 1000;
    let after = sim.stats();
    const joinRequests = diff(after.byEndpoint, before.byEndpoint);
    const joinTotal = Object.values(joinRequests).reduce((a, b) => a + b, 0);
    if (swept.joined !== leads) throw new Error(`sweep joined ${swept.joined} of ${leads}`);

    // One step: every open cadence task completed by its manager without a call.
    const open = [...sim.account.tasks.values()].filter((task) => !task.isCompleted && task.text.startsWith('Звонок'));
    const plans: Plan[] = [];
    for (const task of open) {
      sim.account.updateTask(task.id, { isCompleted: true, resultText: 'Не дозвонился' }, task.responsibleUserId);
      const lead = sim.account.leads.get(task.entityId)!;
      const state: LeadState = {
        leadId: lead.id,
        pipelineId: lead.pipelineId,
        statusId: lead.statusId,
        responsibleUserId: lead.responsibleUserId,
        tags: [],
        deleted: false,
        history: [],
      };
      const event: TaskEvent = {
        kind: 'task',
        action: 'update',
        taskId: task.id,
        entityType: 'lead',
        entityId: lead.id,
        isCompleted: true,
        resultText: 'Не дозвонился',
        modifiedUserId: task.responsibleUserId,
        text: task.text,
        dedupeKey: `bench-${task.id}`,
        deliveryId: 'bench',
        receivedAt: new Date().toISOString(),
        account: { subdomain: 'demo-realty' },
      };
      plans.push(...(await cadence.onLeadEvent({ before: state, after: state, event })));
    }
    before = sim.stats();
    t = performance.now();
    await effects.executor.execute(plans);
    await runtime.amo.flush();
    const stepSeconds = (performance.now() - t) / 1000;
    after = sim.stats();
    const stepRequests = diff(after.byEndpoint, before.byEndpoint);
    const stepTotal = Object.values(stepRequests).reduce((a, b) => a + b, 0);
    const newTasks = [...sim.account.tasks.values()].filter(
      (task) => !task.isCompleted && task.text.startsWith('Звонок 2 из 4'),
    ).length;
    if (newTasks !== leads) throw new Error(`step set ${newTasks} next tasks for ${leads} leads`);
    const round = (x: number, d = 2): number => +x.toFixed(d);
    return {
      leads,
      join: {
        requests: joinRequests,
        total: joinTotal,
        perLead: round(joinTotal / leads, 3),
        seconds: round(joinSeconds, 1),
        rateLimitBoundSeconds: round(joinTotal / RPS, 1),
        rateLimitViolations: after.rateLimitViolations,
      },
      step: {
        requests: stepRequests,
        total: stepTotal,
        perLead: round(stepTotal / leads, 3),
        seconds: round(stepSeconds, 1),
        rateLimitBoundSeconds: round(stepTotal / RPS, 1),
        rateLimitViolations: after.rateLimitViolations,
      },
    };
  } finally {
    await runtime.service.redis.eval(
      `for _,k in ipairs(redis.call('keys', ARGV[1])) do redis.call('unlink', k) end return 1`,
      0,
      `bench-cadence-${process.pid}*`,
    );
    await runtime.close();
    await sim.close();
  }
}

export function cadenceBenchLines(r: CadenceBenchResult): string[] {
  const fmt = (x: Record<string, number>): string =>
    Object.entries(x)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ');
  return [
    `- R3 cadence join, ${r.leads} leads in «Не дозвонились» (sweep: first task + start note each): ${r.join.total} amoCRM requests (${r.join.perLead} per lead: ${fmt(r.join.requests)}) in ${r.join.seconds} s; rate-limit bound ${r.join.rateLimitBoundSeconds} s at 7 req/s; 429s from the simulator: ${r.join.rateLimitViolations}`,
    `- R3 one cadence step, ${r.leads} leads (next call task + messenger task each): ${r.step.total} requests (${r.step.perLead} per lead: ${fmt(r.step.requests)}) in ${r.step.seconds} s; rate-limit bound ${r.step.rateLimitBoundSeconds} s at 7 req/s; 429s: ${r.step.rateLimitViolations}`,
  ];
}

if (process.argv[1]?.endsWith('cadence.ts')) {
  const { ensureLocalRedis } = await import('../sim/local-redis.js');
  const redis = await ensureLocalRedis();
  const leads = Number(process.argv[2] ?? 1000);
  cadenceBench(redis.url, leads)
    .then((r) => console.log(JSON.stringify(r, null, 2), '\n' + cadenceBenchLines(r).join('\n')))
    .finally(() => void redis.stop());
}
