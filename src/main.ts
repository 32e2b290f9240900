/**
 * Production entry (`npm start`). Reads the environment, connects to the Redis it is given and to the real
 * amoCRM account, and never falls back to the simulator: the demo (`npm run demo`) is a separate command.
 */
import { EnvError, parseEnv } from './env.js';
import { createLogger } from './lib/logger.js';
import { startService } from './service.js';

async function main(): Promise<void> {
  let env;
  try {
    env = parseEnv();
  } catch (err) {
    if (err instanceof EnvError) {
      console.error(`${err.message}\n\nSee README.md "Configuration". To try the service without an amoCRM account, run: npm run demo`);
      process.exit(78);
    }
    throw err;
  }
  const logger = createLogger({ level: env.LOG_LEVEL });
  const service = await startService(env, { logger });
  if (service.app) await service.listen();
  logger.info({ role: env.ROLE, url: service.url }, 'service started');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new requests, finishing jobs in hand');
    const force = setTimeout(() => {
      logger.error('shutdown took too long, exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    service
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
