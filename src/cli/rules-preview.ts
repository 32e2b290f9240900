/**
 * `npm run rules:preview -- draft.yaml [--days 7] [--directory account.json]`: the dry run for those who edit the
 * YAML file. Replays the webhooks the service kept over the last days through the draft and through the running
 * rules (the current stored version, or RULES_FILE when none is stored), and prints per manager what would differ.
 * Reads REDIS_URL and REDIS_PREFIX like the service; names are resolved against --directory (an AccountDirectory
 * JSON) or, without it, the amoCRM account of the service's environment. Writes nothing. Exit 1 on an invalid draft.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { connectRedis } from '../lib/redis.js';
import { compareReplays, type ReplayCounts } from '../admin/dry-run.js';
import { keptEvents, recordedCounts } from '../admin/history.js';
import { createAmoClient } from '../amocrm/api/client.js';
import { fetchDirectory } from '../amocrm/api/directory.js';
import { compileRules } from '../config/compile.js';
import { loadRulesFile, parseRulesText, type Loaded } from '../config/load.js';
import { createVersionStore } from '../store/rule-versions.js';
import { amoAuthFromEnv, parseEnv, parseToolEnv } from '../env.js';
import type { AccountDirectory } from '../rules/directory.js';
import { createKeys } from '../store/keys.js';
import { createRecordStore } from '../store/record-store.js';
import { createWebhookArchive } from '../store/webhook-inbox.js';

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

async function directoryOf(file: string | undefined, redis: Redis): Promise<AccountDirectory> {
  if (file !== undefined) return JSON.parse(readFileSync(file, 'utf8')) as AccountDirectory;
  const env = parseEnv();
  const amo = createAmoClient({
    ...(env.AMO_BASE_URL ? { baseUrl: env.AMO_BASE_URL } : {}),
    ...(env.AMO_SUBDOMAIN ? { subdomain: env.AMO_SUBDOMAIN } : {}),
    domain: env.AMO_DOMAIN,
    auth: amoAuthFromEnv(env),
    redis,
    keyPrefix: env.REDIS_PREFIX,
    rps: env.AMO_RPS,
  });
  return fetchDirectory(amo);
}

const cell = (a: number, b: number): string => (a === b ? String(a) : `${a} → ${b}`);
const row = (cols: string[], widths: number[]): string => cols.map((c, i) => c.padEnd(widths[i] ?? 10)).join('  ');

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const days = Number(option(args, '--days') ?? 7);
  const directoryFile = option(args, '--directory');
  const skip = new Set([args.indexOf('--days') + 1, args.indexOf('--directory') + 1].filter((i) => i > 0));
  const file = args.find((a, i) => !a.startsWith('--') && !skip.has(i));
  if (file === undefined || !Number.isInteger(days) || days < 1 || days > 14) {
    console.error('usage: npm run rules:preview -- draft.yaml [--days 1..14] [--directory account.json]');
    return 2;
  }
  const draft = await loadRulesFile(file);
  if (!draft.ok) {
    console.error(`${file}: ${draft.errors.length} error(s)`);
    for (const e of draft.errors) console.error(`  ${e.path}: ${e.message}`);
    return 1;
  }
  const env = parseToolEnv();
  const rulesFile = process.env.RULES_FILE ?? 'config/rules.yaml';
  const redis = connectRedis(env.REDIS_URL, 'web', {}, env.REDIS_CLUSTER_NODES);
  try {
    const keys = createKeys(env.REDIS_PREFIX);
    const versions = createVersionStore(redis, keys);
    const currentNo = await versions.current();
    const stored = currentNo > 0 ? await versions.get(currentNo) : undefined;
    const running: Loaded = stored ? await parseRulesText(stored.text, rulesFile) : await loadRulesFile(rulesFile);
    if (!running.ok)
      throw new Error(
        `the running rules could not be read: ${running.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      );
    const dir = await directoryOf(directoryFile, redis);
    const current = compileRules(running.config, running.calendar, dir);
    const next = compileRules(draft.config, draft.calendar, dir);
    if (!current.ok || !next.ok) throw new Error('the rules could not be compiled');
    for (const w of next.warnings) console.warn(`warning ${w.path}: ${w.message} (disabled: ${w.disabled})`);
    // eslint-disable-next-line no-restricted-syntax -- The operator's real now: the replay covers the webhooks kept over the last `days` days, which Redis expires in real time.
    const to = Date.now();
    const from = to - days * 24 * 3600_000;
    const kept = await keptEvents(redis, keys, createWebhookArchive(redis, keys), { from, to }, dir.timeZone);
    const report = compareReplays({
      events: kept.events,
      current: current.rules,
      draft: next.rules,
      from,
      to,
      recorded: await recordedCounts(createRecordStore(redis, keys), { from, to }),
    });
    console.log(
      `${file} against ${stored ? `running version ${stored.version}` : rulesFile}: last ${days} day(s), ${kept.deliveries} deliveries, ${report.events} events, ${report.leads} leads (running → draft)`,
    );
    const widths = [24, 10, 16, 8, 12, 18];
    console.log(
      row(['manager', 'assigned', 'reassigned away', 'tasks', 'violations', 'recorded (assigned/violations)'], widths),
    );
    const line = (name: string, a: ReplayCounts, b: ReplayCounts, recorded: string): string =>
      row(
        [
          name,
          cell(a.assigned, b.assigned),
          cell(a.reassignedAway, b.reassignedAway),
          cell(a.tasksCreated, b.tasksCreated),
          cell(a.violations, b.violations),
          recorded,
        ],
        widths,
      );
    for (const m of report.managers)
      console.log(
        line(m.name, m.current, m.draft, m.recorded ? `${m.recorded.assigned}/${m.recorded.violations}` : ''),
      );
    console.log(line('total', report.totals.current, report.totals.draft, ''));
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
