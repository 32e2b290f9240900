/**
 * `npm run demo`: the service working on the bundled amoCRM simulator, no account and no Docker needed.
 * Starts Redis if none answers, the simulator, the service (web + worker) with config/rules.demo.yaml
 * (15 minutes become 15 seconds), and a scenario of arriving leads and managers who take most of them in time.
 * Beside it, a fixed tour walks one lead through each stage rule (R4-R10) so every rule fires within the run.
 * Halfway, amoCRM (the simulator) stops answering for a few seconds: readiness turns degraded with the reason and the
 * operator chat gets one incident message, edited to resolved when amoCRM answers again.
 * Prints what happens to each lead, then which rule fired how often. Options: --seconds N (default 90; 0 runs until
 * Ctrl+C), --seed N, --outage-at N (seconds into the run, default 45; 0: no outage), --outage N (its length, default
 * 10 s), --keep (leave the demo's Redis keys so `npm run lead:explain` can read them afterwards).
 */
import { DateTime } from 'luxon';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { connectRedis, scanKeys } from '../src/lib/redis.js';
import { startRuntime } from '../src/runtime.js';
import { ADMIN_ID } from './account.js';
import { ensureLocalRedis } from './local-redis.js';
import { createScenario, startStageTour } from './scenario.js';
import { createSimulator } from './server.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) ? v : fallback;
};

const color = process.stdout.isTTY
  ? (code: number, s: string) => `\u001b[${code}m${s}\u001b[0m`
  : (_: number, s: string) => s;
const time = (): string => new Date().toLocaleTimeString('ru-RU', { hour12: false });
const say = (s: string): void => console.log(`${color(90, time())}  ${s}`);

async function main(): Promise<void> {
  const seconds = arg('seconds', 90);
  const seed = arg('seed', 7);
  const keep = process.argv.includes('--keep');
  const outageAt = arg('outage-at', 45);
  const outageFor = arg('outage', 10);
  const token = 'demo-webhook-token-0123456789abcdef';
  const simToken = 'demo-long-lived-token';

  const redis = await ensureLocalRedis();
  const sim = createSimulator({ longLivedToken: simToken, webhookBatchWindowMs: 150 });
  const simUrl = await sim.listen();
  const runtime = await startRuntime({
    service: {
      PORT: Number(process.env.PORT ?? 3000),
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      REDIS_PREFIX: `demo-${process.pid}`,
      ROLE: 'all',
      WEBHOOK_TOKEN: token,
      AMO_SUBDOMAIN: 'demo-realty',
      AMO_BASE_URL: simUrl,
      WORKER_CONCURRENCY: 4,
    },
    // amoCRM counts as unreachable after 3 s without an answer (30 s in production), checked every second.
    amo: { baseUrl: simUrl, auth: { kind: 'long-lived', token: simToken }, rps: 7, unreachableAfterMs: 3_000 },
    healthCheckEveryMs: 1_000,
    rulesFile: 'config/rules.demo.yaml',
    logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error' }),
    metrics: createMetrics(),
  });
  let url: string;
  try {
    url = await runtime.service.listen();
  } catch {
    // Port 3000 taken: any free port will do for a demo.
    runtime.service.app!.server.close();
    url = await runtime.service.app!.listen({ port: 0, host: '127.0.0.1' });
  }
  sim.webhooks.setDestinations([`${url}/webhooks/amocrm/${token}`]);

  const rules = runtime.rules();
  const name = (id: number): string => rules.userNames.get(id) ?? `user ${id}`;
  const managerIds = rules.departments.flatMap((d) => d.managers.map((m) => m.userId));
  console.log(color(1, '\namo-discipline demo'));
  console.log(`  amoCRM simulator  ${simUrl}  (account demo-realty, pipeline «Первичный рынок»)`);
  console.log(`  service           ${url}  (metrics: ${url}/metrics)`);
  console.log(`  Redis             ${redis.url}${redis.startedHere ? ' (started for the demo)' : ''}`);
  console.log(
    `  rules             config/rules.demo.yaml: pickup in «${rules.pickup.stageName}» within ${rules.pickup.timeoutMs / 1000} s, ${rules.pickup.maxMisses} misses then the РОП`,
  );
  console.log(
    `  departments       ${rules.departments.map((d) => `${d.name} (РОП ${name(d.headUserId)}; ${d.managers.map((m) => `${m.name}×${m.weight}`).join(', ')})`).join('; ')}`,
  );
  console.log(
    `  running for       ${seconds > 0 ? `${seconds} s (--seconds N to change, 0 = until Ctrl+C)` : 'until Ctrl+C'}\n`,
  );

  const scenario = createScenario({
    account: sim.account,
    stage: rules.pickup.stageName,
    arrivalEveryMs: 6_000,
    reactionMs: [3_000, 12_000],
    takeRate: 0.6,
    managerIds,
    seed,
    maxLeads: 40,
  });
  const stats = { arrived: 0, assigned: 0, reassigned: 0, taken: 0, fallback: 0 };
  scenario.on((a) => {
    if (a.kind === 'lead_arrived') {
      stats.arrived += 1;
      say(`${color(36, `lead ${a.leadId}`)} arrived in «${rules.pickup.stageName}»: «${a.name}»`);
    } else if (a.kind === 'manager_called') {
      say(
        `${color(36, `lead ${a.leadId}`)} ${color(32, 'taken')}: ${name(a.userId)} called the client${a.answered ? '' : ' (no answer)'}`,
      );
    } else if (a.kind === 'manager_moved') {
      say(`${color(36, `lead ${a.leadId}`)} moved to «${a.stage}» by ${name(a.userId)}`);
    } else {
      say(`${color(36, `lead ${a.leadId}`)} ${name(a.userId)} is busy and does not react`);
    }
  });

  // Watch the simulated account and the service's outbox, and narrate what the robot did.
  let seenEvents = 0;
  const seenNotes = new Set<number>();
  let seenOutbox = 0;
  const watch = setInterval(() => {
    const events = sim.account.events;
    for (; seenEvents < events.length; seenEvents++) {
      const e = events[seenEvents]!;
      if (e.type !== 'entity_responsible_changed' || e.createdBy !== ADMIN_ID) continue;
      const to = (e.valueAfter[0] as { responsible_user: { id: number } }).responsible_user.id;
      const from = (e.valueBefore[0] as { responsible_user: { id: number } }).responsible_user.id;
      const fallback = rules.departments.some((d) => d.fallbackUserId === to);
      if (fallback) stats.fallback += 1;
      else if (from === ADMIN_ID) stats.assigned += 1;
      else stats.reassigned += 1;
      say(
        `${color(36, `lead ${e.entityId}`)} ${color(33, fallback ? '→ handed to the РОП' : from === ADMIN_ID ? '→ assigned' : '→ reassigned')} to ${name(to)}${from !== ADMIN_ID ? ` (was ${name(from)})` : ''}`,
      );
      scenario.onAssigned(e.entityId, to);
    }
    for (const n of sim.account.notes.values()) {
      if (seenNotes.has(n.id)) continue;
      seenNotes.add(n.id);
      if (n.createdBy === ADMIN_ID && n.noteType === 'common')
        console.log(`            ${color(90, 'note on the lead:')} «${String(n.params.text)}»`);
      if (n.noteType === 'call_out') stats.taken += 1;
    }
    void runtime.outbox.pending(1000).then((messages) => {
      for (; seenOutbox < messages.length; seenOutbox++) {
        const m = messages[seenOutbox]!;
        const to = m.audience.kind === 'manager' ? name(m.audience.userId) : `РОП of ${m.audience.department}`;
        if (m.template !== 'lead_assigned')
          say(
            `${color(36, `lead ${m.leadId}`)} ${color(35, 'Telegram queued')} for ${to}: ${m.template} (${m.reason})`,
          );
      }
    });
  }, 200);

  // The Telegram side: without a bot token nothing is sent, and every message the bot would send or edit is shown.
  runtime.telegram.onWouldSend((m) => {
    const text = m.text
      .replace(/<[^>]+>/g, '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&')
      .split('\n')
      .filter(Boolean)
      .join(' | ');
    say(
      `${color(35, `Telegram ${m.kind === 'edit' ? 'edits' : 'sends'}`)} ${color(90, `chat ${m.chatId}${m.silent ? ', silent' : ''}`)}: ${text.length > 220 ? `${text.slice(0, 219)}…` : text}`,
    );
  });

  let finished = false;
  const finish = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    scenario.stop();
    tour.stop();
    clearInterval(watch);
    clearInterval(disputeTimer);
    const s = sim.stats();
    console.log(color(1, '\nSummary'));
    console.log(
      `  leads ${stats.arrived}, assigned ${stats.assigned}, reassigned after a miss ${stats.reassigned}, handed to a РОП ${stats.fallback}`,
    );
    console.log(
      `  amoCRM requests ${s.requests}, rate-limit violations ${s.rateLimitViolations} (limit 7/s), webhooks delivered ${s.webhooks.sent}`,
    );
    // Explain the most eventful lead (one that was reassigned, if any) from the record alone.
    const ids = [...sim.account.leads.keys()];
    const histories = await Promise.all(ids.map(async (id) => ({ id, records: await runtime.records.forLead(id) })));
    const explained = histories.reduce<(typeof histories)[number] | undefined>(
      (best, h) => (h.records.length > (best?.records.length ?? 0) ? h : best),
      undefined,
    );
    if (explained) {
      console.log(
        `  why lead ${explained.id} went where it did, from the record alone (npm run lead:explain shows the same):`,
      );
      for (const r of explained.records)
        console.log(
          `    ${r.at}  ${r.kind}${r.type ? ` ${r.type}` : ''}  ${r.userId !== undefined ? name(r.userId) : ''}  — ${r.reason}`,
        );
    }
    // Which stage rule fired, from the record: every one of R4-R10 should have, on the tour's leads at least.
    const stageRecords = histories
      .flatMap((h) => h.records)
      .filter((r) => /^R(4|5|6|7|8|9|10)$/.test(r.rule) && (r.kind === 'violation' || r.kind === 'action'));
    console.log('  stage rules fired (violations and actions, from the record):');
    for (const rule of ['R4', 'R5', 'R6', 'R7', 'R8', 'R9', 'R10']) {
      const mine = stageRecords.filter((r) => r.rule === rule);
      const byType = [
        ...new Set(mine.map((r) => `${r.kind === 'violation' ? 'violation ' : ''}${r.type ?? r.kind}`)),
      ].map(
        (t) =>
          `${t} ×${mine.filter((r) => `${r.kind === 'violation' ? 'violation ' : ''}${r.type ?? r.kind}` === t).length}`,
      );
      console.log(
        `    ${rule.padEnd(4)}${byType.length > 0 ? byType.join(', ') : color(31, 'did not fire (run longer: --seconds 120)')}`,
      );
    }
    // The ledger's dispute, and R11's ranking of this month as it stands: the withdrawn violation is counted out.
    if (dispute.ref !== undefined)
      console.log(
        `  a violation contested and ${dispute.withdrawn ? 'withdrawn' : 'still waiting for the РОП'}: ${dispute.type} on lead ${dispute.leadId} (ref ${dispute.ref})`,
      );
    const month = DateTime.fromMillis(Date.now(), { zone: rules.timeZone }).toFormat('yyyy-MM');
    for (const dept of rules.departments.slice(0, 1)) {
      const ranking = await runtime.reports.rankingPreview(dept.name, month).catch(() => undefined);
      if (!ranking) continue;
      console.log(`  ranking of ${dept.name} for ${month} as it stands (withdrawn violations counted out):`);
      for (const r of ranking.rows) {
        const v = r.violations ?? { counted: 0, disputed: 0, withdrawn: 0 };
        console.log(
          `    ${r.position !== undefined ? `${r.position}.` : '–'} ${r.name}: leads ${r.received}, meetings held ${r.meetingsHeld}; нарушений ${v.counted}, оспорено ${v.disputed}, снято ${v.withdrawn}`,
        );
      }
    }
    const prefix = runtime.service.keys.prefix;
    if (keep && !redis.startedHere)
      console.log(
        `  the demo's records are kept: REDIS_URL=${redis.url} REDIS_PREFIX=${prefix} npm run lead:explain -- ${[...tourLeads][0] ?? explained?.id ?? '<lead id>'}  (tour leads: ${[...tourLeads].join(', ')})`,
      );
    else
      console.log(
        `  run with --keep to read them afterwards with npm run lead:explain (tour leads: ${[...tourLeads].join(', ')})`,
      );
    console.log('');
    await sim.webhooks.close();
    // Close first (workers finish the jobs in hand), then clean up: deleting keys under running workers makes BullMQ
    // log "Missing key" after the summary. The demo's keys live under their own prefix; leave a shared Redis as it
    // was found (unless --keep), with SCAN (never KEYS) on a connection of its own.
    await runtime.close();
    if (!keep) {
      const cleaner = connectRedis(redis.url, 'worker');
      try {
        const left = await scanKeys(cleaner, `${prefix}:*`);
        for (let i = 0; i < left.length; i += 500)
          await Promise.all(left.slice(i, i + 500).map((k) => cleaner.unlink(k)));
      } catch {
        // A Redis that went away has nothing left to clean.
      } finally {
        cleaner.disconnect();
      }
    }
    await sim.close();
    await redis.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void finish());
  process.on('SIGTERM', () => void finish());
  scenario.start();
  // R4-R10 on a script, by the first manager of the first department (the rules watch people's moves).
  const tourManager = rules.departments[0]?.managers[0]?.userId ?? managerIds[0] ?? 0;
  const tourLeads = new Set<number>();
  const tour = startStageTour({
    account: sim.account,
    managerId: tourManager,
    onStep: (step) => {
      tourLeads.add(step.leadId);
      say(
        `${color(36, `lead ${step.leadId}`)} ${color(34, `stage rules tour, ${step.rule}`)}: ${step.what} (${name(tourManager)})`,
      );
    },
  });
  if (seconds > 0) setTimeout(() => void finish(), seconds * 1000);
  if (outageAt > 0 && outageFor > 0 && (seconds === 0 || outageAt + outageFor < seconds)) {
    const outage = setTimeout(() => void simulateOutage(), outageAt * 1000);
    outage.unref();
  }

  // amoCRM stops answering: readiness and the operator chat say so, and say when it is over.
  // The ledger: the tour's first violation is contested by its manager (as from the card widget) and withdrawn by
  // the department's РОП; the summary's ranking counts it out.
  const dispute: { ref?: string; leadId?: number; type?: string; withdrawn?: boolean; busy?: boolean } = {};
  const disputeTimer = setInterval(() => {
    if (dispute.withdrawn || dispute.busy) return;
    dispute.busy = true;
    void (async () => {
      const head = rules.departments[0]?.headUserId;
      if (dispute.ref === undefined) {
        for (const leadId of tourLeads) {
          const open = (await runtime.disputes.forLead(leadId)).find(
            (v) => v.state === 'open' && v.userId === tourManager,
          );
          if (!open) continue;
          const reason = 'Клиент сам попросил подождать до понедельника';
          const out = await runtime.disputes.dispute(
            open.ref,
            { userId: tourManager, by: `${name(tourManager)} (виджет amoCRM)`, via: 'widget' },
            reason,
          );
          if (!out.ok) continue;
          Object.assign(dispute, { ref: open.ref, leadId, type: open.type });
          say(
            `${color(36, `lead ${leadId}`)} ${color(33, 'violation contested')} by ${name(tourManager)} in the card widget: ${open.type} «${reason}» (${out.text})`,
          );
          break;
        }
      } else if (head !== undefined) {
        const out = await runtime.disputes.decide(
          dispute.ref,
          { userId: head, by: `${name(head)} (Telegram)`, via: 'telegram' },
          true,
        );
        dispute.withdrawn = out.ok;
        say(
          `${color(36, `lead ${dispute.leadId}`)} ${color(32, 'violation withdrawn')} by the РОП ${name(head)}: ${out.text}`,
        );
      }
    })()
      .catch(() => undefined)
      .finally(() => (dispute.busy = false));
  }, 3_000);

  async function simulateOutage(): Promise<void> {
    const ready = async (): Promise<string> => {
      const r = (await (await fetch(`${url}/health/ready`)).json()) as { status: string; reasons?: string[] };
      return `${r.status}${r.reasons?.length ? ` (${r.reasons.join('; ')})` : ''}`;
    };
    say(color(31, `amoCRM (the simulator) stops answering for ${outageFor} s`));
    sim.faults.startOutage(outageFor);
    await new Promise((r) => setTimeout(r, Math.min(outageFor * 1000 - 500, 5_000)));
    if (!finished) say(`${color(31, '/health/ready')}: ${await ready()}`);
    await new Promise((r) => setTimeout(r, Math.max(0, outageFor * 1000 - 5_000) + 3_000));
    if (!finished) say(`${color(32, 'amoCRM answers again')}; /health/ready: ${await ready()}`);
  }
}

main().catch((err: unknown) => {
  console.error('demo failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
