/** The admin area on real Redis under a unique prefix, against the simulator's seed account, for app.inject() tests. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { createRulesSource, type RulesSource } from '../../src/store/rules-source.js';
import { registerErrorHandler } from '../../src/http/error-handler.js';
import { adminPlugin, type AdminDeps } from '../../src/http/routes/admin/index.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createKeys, type Keys } from '../../src/store/keys.js';
import { createRecordStore, type RecordStore } from '../../src/store/record-store.js';
import { createWebhookArchive, type WebhookArchive } from '../../src/store/webhook-inbox.js';
import { seedDirectory } from '../../sim/directory.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from './redis.js';

export const ADMIN_TOKEN = 'adm1n-T0ken-for-tests-0123456789abcdef';
export const NOW = '2026-11-18T12:00:00.000Z';

export interface AdminHarness {
  app: FastifyInstance;
  source: RulesSource;
  redis: Redis;
  keys: Keys;
  records: RecordStore;
  inbox: WebhookArchive;
  file: string;
  demoText: string;
  clock: ReturnType<typeof createManualClock>;
  close(): Promise<void>;
}

export async function startAdminHarness(
  options: {
    signInPerMinute?: number;
    rulesText?: (demo: string) => string;
    webOnly?: boolean;
    leadNames?: AdminDeps['leadNames'];
    queues?: AdminDeps['queues'];
    accounts?: AdminDeps['accounts'];
    trustProxy?: boolean | string;
  } = {},
): Promise<AdminHarness> {
  const prefix = uniquePrefix('admin');
  const dir = mkdtempSync(join(tmpdir(), 'admin-'));
  cpSync('config/calendars', join(dir, 'calendars'), { recursive: true });
  const file = join(dir, 'rules.yaml');
  const demoText = readFileSync('config/rules.demo.yaml', 'utf8');
  writeFileSync(file, options.rulesText ? options.rulesText(demoText) : demoText);
  const redis = connectTestRedis();
  const subscriber = connectTestRedis();
  const keys = createKeys(prefix);
  const clock = createManualClock(NOW);
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const directory = seedDirectory();
  // A web-only process has no directory of its own: the rules are validated but not compiled in it.
  const source = await createRulesSource({
    file,
    redis,
    subscriber,
    keys,
    logger,
    clock,
    directory: () => (options.webOnly ? undefined : directory),
    pollMs: 60_000,
  });
  const records = createRecordStore(redis, keys);
  const inbox = createWebhookArchive(redis, keys);
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    trustProxy: options.trustProxy ?? false,
  });
  registerErrorHandler(app);
  await app.register(
    adminPlugin({
      token: ADMIN_TOKEN,
      sessionMinutes: 30,
      source,
      redis,
      keys,
      inbox,
      records,
      directory: async () => directory,
      clock,
      logger,
      ...(options.signInPerMinute !== undefined ? { signInPerMinute: options.signInPerMinute } : {}),
      ...(options.leadNames ? { leadNames: options.leadNames } : {}),
      ...(options.queues ? { queues: options.queues } : {}),
      ...(options.accounts ? { accounts: options.accounts } : {}),
    }),
    { prefix: '/admin' },
  );
  await app.ready();
  return {
    app,
    source,
    redis,
    keys,
    records,
    inbox,
    file,
    demoText,
    clock,
    async close() {
      await app.close();
      await source.close();
      await dropPrefix(redis, prefix);
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}

export const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Signs in like the page: returns the cookie header and the CSRF header for writes. */
export async function signIn(app: FastifyInstance): Promise<{ cookie: string; csrf: string }> {
  const res = await app.inject({ method: 'POST', url: '/admin/api/session', payload: { token: ADMIN_TOKEN } });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const cookie = res.cookies.find((c) => c.name === 'amo_admin');
  if (!cookie) throw new Error('no session cookie');
  return { cookie: `amo_admin=${cookie.value}`, csrf: (res.json() as { csrfToken: string }).csrfToken };
}
