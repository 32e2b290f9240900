/**
 * `npm run lead:explain -- <leadId>`: everything the robot did to a lead and why, from the record alone —
 * assignments with their candidates, who was skipped and why, weights and the winner; misses; fallbacks; which
 * stage rule (R4-R10) fired, why, the regulation line it enforces and the violation's stable id; with a cadence
 * (R3), its plan step by step and its history. Reads REDIS_URL and REDIS_PREFIX like the service; the cadence
 * profile comes from the rules file (`--rules <file>`, default RULES_FILE or config/rules.yaml).
 */
import { connectRedis } from '../lib/redis.js';
import { parseToolEnv } from '../env.js';
import { createKeys } from '../store/keys.js';
import { leadFieldJson } from '../store/lead-fields.js';
import { createRecordStore, RECORD_IDS_FIELD, RECORD_MARKS_FIELD } from '../store/record-store.js';
import { createViolationLedger } from '../store/violation-ledger.js';
import type { DistributionExplanation } from '../rules/types.js';
import { loadRulesFile } from '../config/load.js';
import { explainCadence } from '../rules/cadence/explain.js';
import { CadenceStateSchema } from '../rules/cadence/types.js';

async function main(): Promise<number> {
  const leadId = Number(process.argv[2]);
  if (!Number.isInteger(leadId) || leadId <= 0) {
    console.error('usage: npm run lead:explain -- <amoCRM lead id>');
    return 2;
  }
  const env = parseToolEnv();
  const redis = connectRedis(env.REDIS_URL, 'web', {}, env.REDIS_CLUSTER_NODES);
  try {
    const keys = createKeys(env.REDIS_PREFIX);
    const records = await createRecordStore(redis, keys).forLead(leadId);
    // States are stored deflated (src/store/lead-fields.ts): every value is shown as its JSON text.
    const stored = await redis.hgetallBuffer(keys.lead(leadId));
    const hash = Object.fromEntries(Object.entries(stored).map(([field, value]) => [field, leadFieldJson(value)]));
    const cadence = await cadenceLines(Promise.resolve(hash.cadence ?? null));
    if (records.length === 0 && Object.keys(hash).length === 0) {
      console.log(`no record for lead ${leadId} under prefix "${env.REDIS_PREFIX}"`);
      return 1;
    }
    for (const r of records) {
      console.log(
        `${r.at}  ${r.rule}  ${r.kind}${r.type ? ` (${r.type})` : ''}${r.userId !== undefined ? `  user ${r.userId}` : ''}${r.previousUserId !== undefined ? ` (was ${r.previousUserId})` : ''}`,
      );
      console.log(`    why: ${r.reason}`);
      if (r.seed) console.log(`    regulation: ${r.seed}`);
      if (r.violationId) console.log(`    violation id: ${r.violationId}`);
      const e = r.explanation as DistributionExplanation | undefined;
      if (e && Array.isArray(e.candidates)) {
        console.log(`    department ${e.department}, strategy ${e.strategy}, winner ${e.winner ?? 'none'}`);
        console.log(
          `    candidates: ${e.candidates.map((c) => `${c.userId} (weight ${c.weight}${c.factor ? ` = ${c.factor.baseWeight}×${c.factor.factor}, ranking: ${c.factor.reason}` : ''}, cap ${c.cap}, score ${e.scores[String(c.userId)] ?? '-'})`).join(', ') || 'none'}`,
        );
        if (e.skipped.length)
          console.log(
            `    skipped: ${e.skipped.map((s) => `${s.userId} ${s.reason}${s.detail !== undefined ? ` (${s.detail})` : ''}`).join(', ')}`,
          );
      }
    }
    // The violations' ledger: state, and every change with who, when and how (src/store/violation-ledger.ts).
    const ledger = createViolationLedger(redis, keys);
    for (const id of new Set(
      records.filter((r) => r.kind === 'violation' && r.violationId).map((r) => r.violationId!),
    )) {
      const entry = await ledger.byId(id);
      if (!entry) continue;
      console.log(`violation ${id} (ref ${entry.ref}): ${entry.state}`);
      for (const c of entry.history)
        console.log(`    ${c.at}  ${c.state} by ${c.by} via ${c.via}${c.note ? `: ${c.note}` : ''}`);
    }
    // What the robot is about to do, or could not do: rule states, unfinished plans, timers, refused writes.
    for (const [field, value] of Object.entries(hash)) {
      if (
        field === 'state' ||
        field === 'cadence' ||
        field === RECORD_IDS_FIELD ||
        field === RECORD_MARKS_FIELD ||
        field.startsWith('done:') ||
        field.startsWith('task')
      )
        continue;
      if (field.startsWith('intent:')) {
        const intent = JSON.parse(value) as {
          plan: { rule: string; reason: string; effects: Array<{ kind: string }> };
          done: number[];
          attempts: number;
        };
        console.log(`pending ${intent.plan.rule} plan ${field.slice(7)}: ${intent.plan.reason}`);
        console.log(
          `    effects: ${intent.plan.effects.map((e, i) => `${e.kind}${intent.done.includes(i) ? ' (done)' : ''}`).join(', ')}; attempts ${intent.attempts}`,
        );
      } else {
        console.log(`state ${field}: ${value}`);
      }
    }
    let cursor = '0';
    do {
      const [next, found] = await redis.zscan(
        keys.tagged('timers', 'due'),
        cursor,
        'MATCH',
        `*|${leadId}|*`,
        'COUNT',
        1000,
      );
      cursor = next;
      for (let i = 0; i < found.length; i += 2)
        console.log(`timer ${found[i]} due ${new Date(Number(found[i + 1])).toISOString()}`);
    } while (cursor !== '0');
    const dead = (await redis.lrange(keys.of('effects', 'dead-letter'), 0, 999))
      .map((x) => JSON.parse(x) as { leadId: number; at: string; rule: string; error: { message?: string } })
      .filter((d) => d.leadId === leadId);
    for (const d of dead) console.log(`refused by amoCRM ${d.at} (${d.rule}): ${d.error.message ?? ''}`);
    for (const line of cadence) console.log(line);
    return 0;
  } finally {
    redis.disconnect();
  }
}

async function cadenceLines(raw: Promise<string | null>): Promise<string[]> {
  const text = await raw;
  if (text === null) return [];
  const parsed = CadenceStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) return [`cadence state does not parse: ${parsed.error.issues[0]?.message ?? ''}`];
  const i = process.argv.indexOf('--rules');
  const file = i >= 0 ? (process.argv[i + 1] ?? '') : (process.env.RULES_FILE ?? 'config/rules.yaml');
  const loaded = await loadRulesFile(file);
  if (!loaded.ok)
    return [
      `cadence «${parsed.data.profile}»: ${parsed.data.status}; rules file ${file} does not load, plan not shown`,
    ];
  const profile = loaded.config.cadences.profiles[parsed.data.profile];
  if (!profile) return [`cadence «${parsed.data.profile}» is not in ${file}; status ${parsed.data.status}`];
  const phases = profile.phases.map((p) => ({
    from: p.from,
    to: p.to,
    calls: p.calls,
    everyDays: p.everyDays,
    weekendCall: p.weekendCall,
    ...(p.messenger ? { messengerText: p.messenger.text } : {}),
  }));
  return ['', ...explainCadence(parsed.data, phases, loaded.config.timeZone ?? 'Europe/Moscow')];
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
