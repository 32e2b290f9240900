/**
 * The rules every process runs, from two routes and one source of truth: Redis versions.
 *
 * - The YAML file (RULES_FILE) is watched. A valid change is imported as a new version (origin `file`, once, however
 *   many processes see it); an invalid one is rejected with every error and its path (log, metric, `lastRejection`),
 *   and the running config stays.
 * - The admin API saves a draft as a new version (origin `api`) or rolls back to an older one.
 * - Every process follows the current version: announced on a pub/sub channel, and polled, so a missed message only
 *   delays the change by one poll. The latest change wins, whichever route it came by; the file is never rewritten.
 * - At start, a file that changed since it was last imported is imported; a broken file with a stored version runs the
 *   stored one; a broken file with no stored version refuses to start, with the errors.
 * - Names are compiled against the amoCRM directory: one that no longer resolves is a warning that disables its part.
 */
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { AccountDirectory } from '../rules/directory.js';
import type { Calendar, CompiledRules } from '../rules/types.js';
import type { Keys } from './keys.js';
import { compileRules, isShadow, shadowRulesOf, type ConfigError, type ConfigWarning } from '../config/compile.js';
import { parseRulesText } from '../config/load.js';
import type { RulesConfig } from '../config/schema.js';
import { createVersionStore, sha256, type RulesVersion, type VersionStore } from './rule-versions.js';

export class RulesError extends Error {
  constructor(
    readonly file: string,
    readonly errors: Array<{ path: string; message: string }>,
  ) {
    super(`rules file ${file} is not valid:\n${errors.map((e) => `  - ${e.path}: ${e.message}`).join('\n')}`);
    this.name = 'RulesError';
  }
}

export interface RulesSnapshot {
  version: number;
  origin: RulesVersion['origin'];
  author: string;
  at: string;
  comment: string;
  text: string;
  config: RulesConfig;
  calendar: Calendar;
  /** Compiled against the amoCRM directory; absent in a process that has no directory (web role). */
  rules?: CompiledRules;
  warnings: ConfigWarning[];
  loadedAt: string;
}

export interface Rejection {
  at: string;
  origin: 'file' | 'version';
  version?: number;
  errors: ConfigError[];
}

export type Validation =
  | { ok: true; config: RulesConfig; calendar: Calendar; warnings: ConfigWarning[]; rules?: CompiledRules }
  | { ok: false; errors: ConfigError[] };

export type ApplyResult =
  | { ok: true; version: number; /** The text is the running version's: nothing was stored. */ unchanged?: true }
  | { ok: false; kind: 'invalid'; errors: ConfigError[] }
  | { ok: false; kind: 'conflict'; current: number }
  | { ok: false; kind: 'not_found' };

export interface RulesSourceOptions {
  file: string;
  redis: Redis;
  /** A connection for SUBSCRIBE (a subscribed connection can do nothing else). */
  subscriber: Redis;
  keys: Keys;
  logger: Logger;
  clock: Clock;
  metrics?: Metrics;
  /** The account directory names are compiled against; undefined in a process without one. */
  directory?: () => AccountDirectory | undefined;
  /** How often the file and the current version are checked (ms). */
  pollMs?: number;
}

export interface RulesSource {
  versions: VersionStore;
  file: string;
  /** The compiled rules this process runs. Throws in a process without a directory. */
  rules(): CompiledRules;
  snapshot(): RulesSnapshot;
  lastRejection(): Rejection | undefined;
  isShadow(rule: string): boolean;
  /** Validates a draft (structure, calendar) and, with a directory, lists the names that would not resolve. */
  validate(text: string, dir?: AccountDirectory): Promise<Validation>;
  apply(input: { text: string; author: string; comment: string; baseVersion?: number }): Promise<ApplyResult>;
  rollback(input: { version: number; author: string; comment: string }): Promise<ApplyResult>;
  /** Recompiles the running config against a changed directory (a renamed stage becomes a warning). */
  recompile(): void;
  /** Checks the file and the current version now (also done every pollMs). */
  check(): Promise<void>;
  onChange(listener: (snapshot: RulesSnapshot) => void): void;
  close(): Promise<void>;
}

function rulesMetrics(
  metrics: Metrics | undefined,
): { rejected: Counter<'origin'>; version: Gauge<never>; warnings: Gauge<never> } | undefined {
  if (!metrics) return undefined;
  const registers = [metrics.registry];
  const existing = <T>(name: string): T | undefined => metrics.registry.getSingleMetric(name) as T | undefined;
  return {
    rejected:
      existing<Counter<'origin'>>('amo_rules_rejected_total') ??
      new Counter({
        name: 'amo_rules_rejected_total',
        help: 'Rules configs rejected as invalid (the running config stayed), by origin',
        labelNames: ['origin'],
        registers,
      }),
    version:
      existing<Gauge<never>>('amo_rules_version') ??
      new Gauge({ name: 'amo_rules_version', help: 'Rules config version this process runs', registers }),
    warnings:
      existing<Gauge<never>>('amo_rules_warnings') ??
      new Gauge({
        name: 'amo_rules_warnings',
        help: 'Names in the running rules config that do not resolve in amoCRM',
        registers,
      }),
  };
}

export async function createRulesSource(options: RulesSourceOptions): Promise<RulesSource> {
  const { file, logger, clock } = options;
  const log = logger.child({ component: 'rules' });
  const versions = createVersionStore(options.redis, options.keys);
  const m = rulesMetrics(options.metrics);
  const listeners: Array<(s: RulesSnapshot) => void> = [];
  let snapshot: RulesSnapshot | undefined;
  let rejection: Rejection | undefined;
  let lastFileHash: string | undefined;
  let closed = false;

  const now = (): string => clock.now().toISOString();

  const compile = (
    config: RulesConfig,
    calendar: Calendar,
    dir: AccountDirectory | undefined,
  ): { rules?: CompiledRules; warnings: ConfigWarning[] } => {
    if (!dir) return { warnings: [] };
    const compiled = compileRules(config, calendar, dir);
    return compiled.ok
      ? { rules: compiled.rules, warnings: compiled.warnings }
      : { warnings: compiled.errors.map((e) => ({ ...e, disabled: 'the whole config' })) };
  };

  const validate = async (text: string, dir?: AccountDirectory): Promise<Validation> => {
    const loaded = await parseRulesText(text, file);
    if (!loaded.ok) return { ok: false, errors: loaded.errors };
    const { rules, warnings } = compile(loaded.config, loaded.calendar, dir ?? options.directory?.());
    return { ok: true, config: loaded.config, calendar: loaded.calendar, warnings, ...(rules ? { rules } : {}) };
  };

  const reject = (r: Rejection): void => {
    rejection = r;
    m?.rejected.inc({ origin: r.origin });
    log.error(
      { origin: r.origin, version: r.version, errors: r.errors },
      `rules rejected (${r.errors.length} error(s)); the running config stays`,
    );
  };

  const install = (v: RulesVersion, valid: Extract<Validation, { ok: true }>): void => {
    snapshot = {
      version: v.version,
      origin: v.origin,
      author: v.author,
      at: v.at,
      comment: v.comment,
      text: v.text,
      config: valid.config,
      calendar: valid.calendar,
      ...(valid.rules ? { rules: valid.rules } : {}),
      warnings: valid.warnings,
      loadedAt: now(),
    };
    m?.version.set(v.version);
    m?.warnings.set(valid.warnings.length);
    for (const w of valid.warnings)
      log.warn({ path: w.path, disabled: w.disabled }, `rules: ${w.message}; disabled: ${w.disabled}`);
    log.info(
      {
        version: v.version,
        origin: v.origin,
        author: v.author,
        timeoutMs: valid.rules?.pickup.timeoutMs,
        warnings: valid.warnings.length,
      },
      'rules config applied',
    );
    for (const l of listeners) l(snapshot);
  };

  /** Runs the current version if it is not the one running. Returns false when it could not be used. */
  const followCurrent = async (): Promise<boolean> => {
    const current = await versions.current();
    if (current === 0 || current === snapshot?.version) return true;
    const v = await versions.get(current);
    if (!v) return false;
    const valid = await validate(v.text);
    if (!valid.ok) {
      // Validated when saved; only a change on disk (the calendar file) can break it. Keep running.
      reject({ at: now(), origin: 'version', version: v.version, errors: valid.errors });
      return false;
    }
    install(v, valid);
    return true;
  };

  /** Imports the file when it changed and is valid; a broken file is rejected once per content. */
  const checkFile = async (): Promise<{ ok: true } | { ok: false; errors: ConfigError[] }> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const errors = [{ path: 'rules', message: `cannot read ${file}: ${(err as Error).message}` }];
      if (lastFileHash !== 'unreadable') reject({ at: now(), origin: 'file', errors });
      lastFileHash = 'unreadable';
      return { ok: false, errors };
    }
    const hash = sha256(text);
    if (hash === lastFileHash) return { ok: true };
    lastFileHash = hash;
    if (hash === (await versions.lastFileHash())) return { ok: true };
    const valid = await validate(text);
    if (!valid.ok) {
      reject({ at: now(), origin: 'file', errors: valid.errors });
      return { ok: false, errors: valid.errors };
    }
    const saved = await versions.save({ text, author: 'file', comment: `${file} changed`, origin: 'file', at: now() });
    if (saved.kind === 'saved') {
      log.info({ version: saved.version, file }, 'rules file changed: imported as a new version');
      await versions.announce(saved.version);
    }
    return { ok: true };
  };

  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
  const check = (): Promise<void> =>
    serial(async () => {
      if (closed) return;
      await checkFile();
      await followCurrent();
    });

  // Start: the file first (it may be newer than the stored versions), then the current version.
  const fileState = await checkFile();
  if ((await versions.current()) === 0) {
    throw new RulesError(
      file,
      fileState.ok
        ? [{ path: 'rules', message: 'no stored version and the file could not be imported' }]
        : fileState.errors,
    );
  }
  if (!fileState.ok) log.error({ file }, 'the rules file is not valid; running the last stored version');
  if (!(await followCurrent()) || !snapshot) {
    throw new RulesError(
      file,
      rejection?.errors ?? [{ path: 'rules', message: 'the stored version could not be read' }],
    );
  }

  await options.subscriber.subscribe(versions.channel);
  options.subscriber.on('message', (channel) => {
    if (channel === versions.channel)
      check().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'rules reload failed'));
  });
  const timer = setInterval(() => {
    check().catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'rules check failed'));
  }, options.pollMs ?? 1000);
  timer.unref();

  const requireSnapshot = (): RulesSnapshot => {
    if (!snapshot) throw new Error('rules are not loaded');
    return snapshot;
  };

  const saveAndFollow = async (input: Parameters<VersionStore['save']>[0]): Promise<ApplyResult> => {
    const saved = await versions.save(input);
    if (saved.kind === 'conflict') return { ok: false, kind: 'conflict', current: saved.current };
    if (saved.kind !== 'saved') return { ok: false, kind: 'conflict', current: await versions.current() };
    await versions.announce(saved.version);
    await serial(followCurrent);
    return { ok: true, version: saved.version };
  };

  return {
    versions,
    file,
    rules() {
      const rules = requireSnapshot().rules;
      if (!rules) throw new Error('rules are not compiled in this process (no amoCRM directory)');
      return rules;
    },
    snapshot: requireSnapshot,
    lastRejection: () => rejection,
    isShadow: (rule) =>
      snapshot?.rules ? isShadow(snapshot.rules, rule) : snapshot ? shadowRulesOf(snapshot.config).has(rule) : false,
    validate,
    async apply(input) {
      const valid = await validate(input.text);
      if (!valid.ok) return { ok: false, kind: 'invalid', errors: valid.errors };
      // Applying the running text again changes nothing: no new version, no reload in every process.
      const current = await versions.current();
      if (current > 0 && (input.baseVersion === undefined || input.baseVersion === current)) {
        const running = await versions.get(current);
        if (running?.text === input.text) return { ok: true, version: current, unchanged: true };
      }
      return saveAndFollow({
        text: input.text,
        author: input.author,
        comment: input.comment,
        origin: 'api',
        at: now(),
        ...(input.baseVersion !== undefined ? { baseVersion: input.baseVersion } : {}),
      });
    },
    async rollback(input) {
      const target = await versions.get(input.version);
      if (!target) return { ok: false, kind: 'not_found' };
      const valid = await validate(target.text);
      if (!valid.ok) return { ok: false, kind: 'invalid', errors: valid.errors };
      return saveAndFollow({
        text: target.text,
        author: input.author,
        comment: input.comment || `rollback to version ${input.version}`,
        origin: 'rollback',
        rollbackOf: input.version,
        at: now(),
      });
    },
    recompile() {
      const s = snapshot;
      if (!s) return;
      const { rules, warnings } = compile(s.config, s.calendar, options.directory?.());
      snapshot = { ...s, ...(rules ? { rules } : {}), warnings, loadedAt: now() };
      m?.warnings.set(warnings.length);
      for (const w of warnings)
        log.warn({ path: w.path, disabled: w.disabled }, `rules: ${w.message}; disabled: ${w.disabled}`);
      for (const l of listeners) l(snapshot);
    },
    check,
    onChange(listener) {
      listeners.push(listener);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await chain;
      await options.subscriber.unsubscribe().catch(() => undefined);
    },
  };
}
