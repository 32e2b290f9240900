/**
 * `npm run report -- --from 2026-11-01 --to 2026-11-30 [--department "Отдел продаж 1"] [--csv]`: the R12 numbers
 * of a period per department and manager, computed from the record in Redis exactly as the daily digest and the
 * bot's /report compute them. Dates are local days (the account's zone), both included. Departments and names
 * come from the roster the service saves beside the record; without one, from the record itself (managers by id).
 * Reads REDIS_URL and REDIS_PREFIX like the service.
 */
import { parseArgs } from 'node:util';
import { connectRedis } from '../lib/redis.js';
import { parseToolEnv } from '../env.js';
import { computeReport } from '../reports/compute.js';
import { daysPeriod } from '../reports/period.js';
import { readRecords } from '../reports/records.js';
import { createRosterStore, rosterFromRecords } from '../reports/roster.js';
import { htmlToText, renderCsv, renderPeriod } from '../reports/templates.js';
import { createKeys } from '../store/keys.js';

const USAGE = 'usage: npm run report -- --from YYYY-MM-DD --to YYYY-MM-DD [--department NAME] [--csv]';
/** Amo's default zone for Russian accounts, used only when the service never saved its roster. */
const FALLBACK_ZONE = 'Europe/Moscow';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        department: { type: 'string' },
        csv: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.from === undefined || args.to === undefined) {
    console.error(USAGE);
    return 2;
  }
  const env = parseToolEnv();
  const redis = connectRedis(env.REDIS_URL, 'web', {}, env.REDIS_CLUSTER_NODES);
  try {
    const keys = createKeys(env.REDIS_PREFIX);
    const saved = await createRosterStore(redis, keys).load();
    const zone = saved?.timeZone ?? FALLBACK_ZONE;
    const period = daysPeriod(args.from, args.to, zone);
    const { records, skipped } = await readRecords(redis, keys, period.fromMs, period.toMs);
    if (skipped > 0) console.error(`${skipped} record(s) did not fit the report schema and were skipped`);
    const roster = saved ?? rosterFromRecords(records, zone);
    if (!saved)
      console.error(
        `no roster saved under prefix "${env.REDIS_PREFIX}": departments from the record, managers by id, zone ${zone}`,
      );
    if (args.department !== undefined && !roster.departments.some((d) => d.name === args.department)) {
      console.error(
        `unknown department "${args.department}"; departments: ${roster.departments.map((d) => d.name).join(', ') || 'none'}`,
      );
      return 1;
    }
    const reports = computeReport(records, roster, period, args.department);
    const out = args.csv
      ? renderCsv(reports)
      : `${reports.map((r) => htmlToText(renderPeriod(r, roster, period.fromDate, period.toDate))).join('\n\n')}\n`;
    // Written before exiting: process.exit() may drop what a pipe has not taken yet.
    await new Promise<void>((resolve) => process.stdout.write(out, () => resolve()));
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
