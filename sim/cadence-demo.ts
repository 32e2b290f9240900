/**
 * `npm run demo:cadence`: an R3 call cadence running on the bundled simulator with a compressed clock: simulated
 * time jumps from one moment that matters to the next (a manager's call, a cadence timer) once the service is
 * quiet, so the 8 weeks of seed 001 pass in a couple of minutes while every lease and lock keeps its meaning.
 * A few leads land in «Не дозвонились»; simulated managers call shortly before each task is due and complete it;
 * most clients never answer, one does. Prints every task as it appears in the simulated account, every call and
 * how each lead ends. Options: --seconds N (default 180), --seed N.
 */
import { DateTime } from 'luxon';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import type { Clock } from '../src/lib/clock.js';
import { startRuntime } from '../src/runtime.js';
import { ensureLocalRedis } from './local-redis.js';
import { prng } from './scenario.js';
import { createSimulator } from './server.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};

async function main(): Promise<void> {
  const seconds = arg('seconds', 180);
  const realStart = Date.now();
  // Simulated time = real time + an offset that only grows; it starts on a Monday morning.
  let offset = DateTime.fromISO('2026-11-23T09:00', { zone: 'Europe/Moscow' }).toMillis() - Date.now();
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  const jumpTo = (ms: number): void => {
    offset = Math.max(offset, ms - Date.now());
  };
  const at = (): string =>
    DateTime.fromJSDate(clock.now(), { zone: 'Europe/Moscow' }).setLocale('ru').toFormat('dd.MM ccc HH:mm');
  const say = (s: string): void => console.log(`[${at()}]  ${s}`);
  const random = prng(arg('seed', 5));

  const token = 'demo-cadence-webhook-token-0123456789';
  const redis = await ensureLocalRedis();
  const sim = createSimulator({
    longLivedToken: 'demo-cadence-sim',
    webhookBatchWindowMs: 100,
    now: () => clock.now().getTime(),
    rps: 1000,
  });
  const simUrl = await sim.listen();
  const runtime = await startRuntime({
    service: {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_PREFIX: `demo-cadence-${process.pid}`,
      ROLE: 'all',
      WEBHOOK_TOKEN: token,
      AMO_SUBDOMAIN: 'demo-realty',
      AMO_BASE_URL: simUrl,
      WORKER_CONCURRENCY: 4,
    },
    amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: 'demo-cadence-sim' }, rps: 7 },
    rulesFile: 'config/rules.demo.yaml',
    logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error' }),
    metrics: createMetrics({ defaultMetrics: false }),
    clock,
  });
  const url = await runtime.service.app!.listen({ port: 0, host: '127.0.0.1' });
  sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${token}`]);
  const rules = runtime.rules();
  const name = (id: number): string => rules.userNames.get(id) ?? `user ${id}`;
  console.log(
    `\nR3 call cadence demo: «${rules.cadences.bindings.map((b) => `${b.profile}» in «${b.stageName}`).join(', ')}»; simulated time jumps to the next call or timer\n`,
  );

  const stage = sim.account.statusByName('Не дозвонились').id;
  const managers = [9101, 9102, 9103];
  const leads = ['Ольга: студия у моря', 'Павел: 2-к в новостройке', 'Роман: ипотека, 1-к'].map((n, i) => {
    const lead = sim.account.createLead({
      name: n,
      statusId: stage,
      responsibleUserId: managers[i]!,
      by: managers[i]!,
    });
    say(`lead ${lead.id} «${n}» is in «Не дозвонились» (manager ${name(managers[i]!)})`);
    return lead.id;
  });
  const answersAt = new Map([[leads[1]!, 4]]); // Павел answers the 4th call
  const calls = new Map<number, number>();
  const seen = new Set<number>();
  /** Manager actions waiting for their simulated moment. */
  const actions: Array<{ at: number; run: () => void }> = [];

  const watchTasks = (): void => {
    for (const task of sim.account.tasks.values()) {
      if (seen.has(task.id) || task.isCompleted || !leads.includes(task.entityId)) continue;
      seen.add(task.id);
      const due = DateTime.fromSeconds(task.completeTill, { zone: 'Europe/Moscow' })
        .setLocale('ru')
        .toFormat('dd.MM ccc HH:mm');
      say(
        `lead ${task.entityId}: new task for ${name(task.responsibleUserId)}, due ${due}: «${task.text.slice(0, 110)}${task.text.length > 110 ? '…' : ''}»`,
      );
      // The manager acts some time before the task is due.
      const actAt = Math.max(clock.now().getTime() + 60_000, task.completeTill * 1000 - (0.2 + random()) * 3600_000);
      actions.push({
        at: actAt,
        run: () => {
          const current = sim.account.tasks.get(task.id);
          if (!current || current.isCompleted) return;
          if (task.text.startsWith('Звонок')) {
            const n = (calls.get(task.entityId) ?? 0) + 1;
            calls.set(task.entityId, n);
            const answered = answersAt.get(task.entityId) === n;
            sim.account.call({
              leadId: task.entityId,
              by: task.responsibleUserId,
              durationSec: answered ? 180 : 0,
              status: answered ? 4 : 6,
            });
            say(
              `lead ${task.entityId}: ${name(task.responsibleUserId)} calls — ${answered ? 'the client ANSWERS (3 min)' : 'no answer'}`,
            );
            if (answered) return;
          }
          sim.account.completeTask(
            task.id,
            task.text.startsWith('Звонок') ? 'Не дозвонился' : 'Написал в WhatsApp',
            task.responsibleUserId,
          );
        },
      });
    }
  };

  const notesSeen = new Set<number>();
  const watchNotes = (): void => {
    for (const n of sim.account.notes.values()) {
      if (notesSeen.has(n.id) || n.noteType !== 'common' || !leads.includes(n.entityId)) continue;
      notesSeen.add(n.id);
      const text = String(n.params.text);
      if (text.includes('остановлена') || text.includes('завершена'))
        say(`lead ${n.entityId}: note «${text.slice(0, 400)}${text.length > 400 ? '…' : ''}»`);
    }
  };

  const done = async (): Promise<void> => {
    for (const id of leads) {
      const lead = sim.account.leads.get(id)!;
      const state = await runtime.cadence!.readState(id);
      say(
        `lead ${id}: stage «${sim.account.pipelines[0]!.statuses.find((s) => s.id === lead.statusId)?.name}», cadence ${state?.status ?? '-'}, ${state?.attempts.length ?? 0} steps done`,
      );
    }
    console.log(
      `\nExplain any lead: REDIS_PREFIX=demo-cadence-${process.pid} npm run lead:explain -- <lead id> --rules config/rules.demo.yaml`,
    );
    await sim.webhooks.close();
    await runtime.close();
    await sim.close();
    await redis.stop();
  };

  const finished = async (): Promise<boolean> => {
    for (const id of leads) {
      const s = await runtime.cadence!.readState(id);
      if (!s || ['running', 'waiting_end', 'waiting_slot'].includes(s.status)) return false;
    }
    return true;
  };
  const deadline = realStart + seconds * 1000;
  const quiet = async (): Promise<void> => {
    // Quiet: webhooks delivered, jobs and plans carried out (no pending intents), nothing new for a moment.
    await sim.webhooks.flush();
    await new Promise((r) => setTimeout(r, 700));
    await runtime.effects!.tick();
    await new Promise((r) => setTimeout(r, 300));
  };
  await quiet();
  while (Date.now() < deadline && !(await finished())) {
    watchTasks();
    watchNotes();
    actions.sort((a, b) => a.at - b.at);
    const timerAts = (await Promise.all(leads.map((id) => runtime.cadence!.readState(id)))).flatMap((s) =>
      s && ['running', 'waiting_end', 'waiting_slot'].includes(s.status) && s.timerAt !== undefined ? [s.timerAt] : [],
    );
    const next = Math.min(actions[0]?.at ?? Infinity, ...timerAts);
    if (!Number.isFinite(next)) break;
    jumpTo(next);
    while (actions[0] && actions[0].at <= clock.now().getTime()) actions.shift()!.run();
    await quiet();
  }
  watchTasks();
  watchNotes();
  await done();
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
