/**
 * Production entry (`npm start`). Reads the environment, connects to the Redis and the amoCRM account it is
 * given, compiles the rules against that account, and serves. It never falls back to the simulator: without
 * amoCRM credentials it refuses to start and points to the demo (`npm run demo`).
 */
import { amoAuthFromEnv, EnvError, parseEnv, telegramFromEnv, type AmoAuthConfig, type Env } from './env.js';
import { createLogger } from './lib/logger.js';
import { RulesError, startRuntime } from './runtime.js';

const DEMO_HINT = 'To try the service without an amoCRM account, run: npm run demo';

function configuration(): { env: Env; auth: AmoAuthConfig } {
  try {
    const env = parseEnv();
    return { env, auth: amoAuthFromEnv(env) };
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(`${err.message}\n\nSee README.md "Environment" and docs/configuration.md. ${DEMO_HINT}`);
      process.exit(78);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const { env, auth } = configuration();
  const logger = createLogger({ level: env.LOG_LEVEL });
  let runtime;
  try {
    runtime = await startRuntime({
      service: env,
      amo: {
        ...(env.AMO_SUBDOMAIN !== undefined ? { subdomain: env.AMO_SUBDOMAIN } : {}),
        domain: env.AMO_DOMAIN,
        ...(env.AMO_BASE_URL !== undefined ? { baseUrl: env.AMO_BASE_URL } : {}),
        auth,
        rps: env.AMO_RPS,
        blockCooldownMs: env.AMO_BLOCK_COOLDOWN_MS,
        unreachableAfterMs: env.AMO_UNREACHABLE_AFTER_MS,
      },
      rulesFile: env.RULES_FILE,
      ...(env.PUBLIC_URL !== undefined ? { publicUrl: env.PUBLIC_URL } : {}),
      ...((env.WIDGET_SECRET ?? env.AMO_CLIENT_SECRET) !== undefined
        ? { widget: { secret: (env.WIDGET_SECRET ?? env.AMO_CLIENT_SECRET)!, clientId: env.AMO_CLIENT_ID } }
        : {}),
      rulesPollMs: env.RULES_POLL_MS,
      admin: env,
      logger,
      telegram: telegramFromEnv(env),
    });
  } catch (err) {
    if (err instanceof RulesError) {
      console.error(err.message);
      process.exit(78);
    }
    throw err;
  }
  const { service } = runtime;
  if (service.app && service.url === undefined) await service.listen();
  logger.info({ role: env.ROLE, url: service.url }, 'service started');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(
      { signal, timeoutMs: env.SHUTDOWN_TIMEOUT_MS },
      'shutting down: no new requests or timers, finishing the jobs and the timer batch in hand',
    );
    const force = setTimeout(() => {
      logger.error('shutdown took too long, exiting');
      process.exit(1);
    }, env.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    runtime
      .close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('fatal: the service could not start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
