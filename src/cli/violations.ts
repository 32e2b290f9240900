/**
 * `npm run violations -- --from 2026-11-01 --to 2026-11-30 [--type lead_stale]`: every violation recorded in the
 * period, one per line with its stable id, rule, seed line, lead, manager and time. Reads REDIS_URL and REDIS_PREFIX.
 */
import { parseArgs } from 'node:util';
import { connectRedis } from '../lib/redis.js';
import { parseToolEnv } from '../env.js';
import { createKeys } from '../store/keys.js';
import { createRecordStore } from '../store/record-store.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      type: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const from = values.from !== undefined ? Date.parse(values.from) : NaN;
  const to =
    values.to !== undefined ? Date.parse(values.to.length === 10 ? `${values.to}T23:59:59.999Z` : values.to) : NaN;
  if (Number.isNaN(from) || Number.isNaN(to)) {
    console.error(
      'usage: npm run violations -- --from <date or instant> --to <date or instant> [--type <violation type>] [--json]',
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
    const found = records.filter(
      (r) => r.kind === 'violation' && (values.type === undefined || r.type === values.type),
    );
    for (const r of found) {
      if (values.json) console.log(JSON.stringify(r));
      else
        console.log(
          `${r.at}  ${r.violationId ?? `${r.type}:${r.leadId}`}  ${r.rule}  lead ${r.leadId}  manager ${r.userId ?? '-'}  ${r.department ?? ''}\n    ${r.reason}\n    ${r.seed ?? ''}`,
        );
    }
    console.log(`${found.length} violation(s) from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}`);
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
