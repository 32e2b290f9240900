/**
 * `npm run violations -- --from 2026-11-01 --to 2026-11-30 [--type lead_stale] [--state disputed] [--csv | --json]`:
 * every violation recorded in the period, one per line with its stable id, rule, seed line, lead, manager, time and
 * ledger state (open, disputed, upheld, withdrawn, cured) with who contested and decided it. Reads REDIS_URL and
 * REDIS_PREFIX.
 */
import { parseArgs } from 'node:util';
import { connectRedis } from '../lib/redis.js';
import { parseToolEnv } from '../env.js';
import { createKeys } from '../store/keys.js';
import { createRecordStore } from '../store/record-store.js';
import { createViolationLedger } from '../store/violation-ledger.js';
import { stringify } from 'csv-stringify/sync';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      type: { type: 'string' },
      state: { type: 'string' },
      json: { type: 'boolean', default: false },
      csv: { type: 'boolean', default: false },
    },
  });
  const from = values.from !== undefined ? Date.parse(values.from) : NaN;
  const to =
    values.to !== undefined ? Date.parse(values.to.length === 10 ? `${values.to}T23:59:59.999Z` : values.to) : NaN;
  if (Number.isNaN(from) || Number.isNaN(to)) {
    console.error(
      'usage: npm run violations -- --from <date or instant> --to <date or instant> [--type <violation type>] [--state open|disputed|upheld|withdrawn|cured] [--csv | --json]',
    );
    return 2;
  }
  const env = parseToolEnv();
  const redis = connectRedis(env.REDIS_URL, 'web', {}, env.REDIS_CLUSTER_NODES);
  try {
    const records = await createRecordStore(redis, createKeys(env.REDIS_PREFIX)).range(
      new Date(from).toISOString(),
      new Date(to).toISOString(),
      1_000_000,
    );
    const ledger = createViolationLedger(redis, createKeys(env.REDIS_PREFIX));
    const found = [];
    for (const r of records) {
      if (r.kind !== 'violation' || (values.type !== undefined && r.type !== values.type)) continue;
      const entry = r.violationId !== undefined ? await ledger.byId(r.violationId) : undefined;
      const state = entry?.state ?? 'open';
      if (values.state !== undefined && state !== values.state) continue;
      found.push({ r, entry, state });
    }
    if (values.csv) {
      const rows = found.map(({ r, entry, state }) => {
        const disputed = entry?.history.find((c) => c.state === 'disputed');
        const decided = entry?.history.find(
          (c) => c.state === 'withdrawn' || c.state === 'upheld' || c.state === 'cured',
        );
        return [
          r.at,
          r.violationId ?? '',
          entry?.ref ?? '',
          r.rule,
          r.type ?? '',
          r.leadId,
          r.userId ?? '',
          r.department ?? '',
          state,
          disputed?.by ?? '',
          disputed?.note ?? '',
          decided?.by ?? '',
          decided?.at ?? '',
          r.reason,
          r.seed ?? '',
        ];
      });
      process.stdout.write(
        stringify([
          [
            'at',
            'violation_id',
            'ref',
            'rule',
            'type',
            'lead_id',
            'user_id',
            'department',
            'state',
            'disputed_by',
            'dispute_reason',
            'decided_by',
            'decided_at',
            'reason',
            'seed',
          ],
          ...rows,
        ]),
      );
      return 0;
    }
    for (const { r, entry, state } of found) {
      if (values.json)
        console.log(JSON.stringify({ ...r, state, ...(entry ? { ref: entry.ref, history: entry.history } : {}) }));
      else {
        const history = (entry?.history ?? [])
          .slice(1)
          .map((c) => `\n    ${c.at} ${c.state} by ${c.by} via ${c.via}${c.note ? `: ${c.note}` : ''}`)
          .join('');
        console.log(
          `${r.at}  ${r.violationId ?? `${r.type}:${r.leadId}`}  ${r.rule}  lead ${r.leadId}  manager ${r.userId ?? '-'}  ${r.department ?? ''}  [${state}]\n    ${r.reason}\n    ${r.seed ?? ''}${history}`,
        );
      }
    }
    console.error(`${found.length} violation(s) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
