import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createRulesSource, RulesError, type RulesSource } from '../../../src/store/rules-source.js';
import { systemClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';
import { createMetrics } from '../../../src/lib/metrics.js';
import { createKeys } from '../../../src/store/keys.js';
import { seedDirectory } from '../../../sim/directory.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../../helpers/redis.js';

const demo = readFileSync('config/rules.demo.yaml', 'utf8');
const opened: Array<{ source?: RulesSource; redis: Redis[]; prefix: string }> = [];

function rulesFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'source-'));
  cpSync('config/calendars', join(dir, 'calendars'), { recursive: true });
  writeFileSync(join(dir, 'rules.yaml'), text);
  return join(dir, 'rules.yaml');
}

async function start(
  file: string,
  prefix: string,
  metrics = createMetrics({ defaultMetrics: false }),
): Promise<RulesSource> {
  const redis = [connectTestRedis(), connectTestRedis()];
  const entry: { source?: RulesSource; redis: Redis[]; prefix: string } = { redis, prefix };
  opened.push(entry);
  const directory = seedDirectory();
  entry.source = await createRulesSource({
    file,
    redis: redis[0]!,
    subscriber: redis[1]!,
    keys: createKeys(prefix),
    logger: createLogger({ level: 'silent' }),
    clock: systemClock,
    metrics,
    directory: () => directory,
    pollMs: 60_000,
  });
  return entry.source;
}

afterAll(async () => {
  for (const o of opened) {
    await o.source?.close();
    await dropPrefix(o.redis[0]!, o.prefix);
    for (const r of o.redis) r.disconnect();
  }
});

describe('rules source at start', () => {
  it('when the file is broken and no version is stored, then the start is refused with every error by path', async () => {
    const file = rulesFile(demo.replace('timeout: PT15S', 'timeout: soon').replace('maxMisses: 3', 'maxMisses: 0'));
    const err = await start(file, uniquePrefix('src')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RulesError);
    expect((err as RulesError).errors.map((e) => e.path).sort()).toEqual([
      'rules.pickup.maxMisses',
      'rules.pickup.timeout',
    ]);
  });

  it('when the file is unreadable and no version is stored, then the start is refused naming the file', async () => {
    const err = await start('/nonexistent/rules.yaml', uniquePrefix('src')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RulesError);
    expect((err as RulesError).message).toContain('cannot read /nonexistent/rules.yaml');
  });

  it('when the file broke while a version is stored, then the stored version runs and the rejection is kept and counted', async () => {
    const prefix = uniquePrefix('src');
    const file = rulesFile(demo.replace('timeout: PT15S', 'timeout: PT20S'));
    const first = await start(file, prefix);
    expect(first.rules().pickup.timeoutMs).toBe(20_000);
    await first.close();
    writeFileSync(file, demo.replace('timeout: PT15S', 'timeout: never'));
    const metrics = createMetrics({ defaultMetrics: false });
    const second = await start(file, prefix, metrics);
    expect(second.rules().pickup.timeoutMs).toBe(20_000);
    expect(second.lastRejection()?.errors.map((e) => e.path)).toEqual(['rules.pickup.timeout']);
    expect(await metrics.registry.getSingleMetricAsString('amo_rules_rejected_total')).toContain(
      'amo_rules_rejected_total{origin="file"} 1',
    );
  });

  it('when the pickup stage was renamed in amoCRM, then the service starts with that rule off and a warning, not a refusal', async () => {
    const file = rulesFile(demo.replace('stage: Передан в работу', 'stage: Передано менеджеру'));
    const source = await start(file, uniquePrefix('src'));
    expect(source.rules().pickup.enabled).toBe(false);
    expect(source.snapshot().warnings.map((w) => [w.path, w.disabled])).toEqual([
      ['rules.pickup.stage', 'rule pickup (R1)'],
    ]);
    // Control: distribution still runs for the departments (their names resolve).
    expect(source.rules().departments.map((d) => d.name)).toEqual(['Отдел продаж 1', 'Отдел продаж 2']);
  });

  it('when the file changes while the service is down, then it is imported at start as a new version', async () => {
    const prefix = uniquePrefix('src');
    const file = rulesFile(demo);
    const first = await start(file, prefix);
    await first.close();
    writeFileSync(file, demo.replace('timeout: PT15S', 'timeout: PT25S'));
    const second = await start(file, prefix);
    expect([second.snapshot().version, second.snapshot().origin, second.rules().pickup.timeoutMs]).toEqual([
      2,
      'file',
      25_000,
    ]);
  });
});
