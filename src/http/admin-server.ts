/**
 * Starts the admin area for a web process: as routes of the main app (default) or on its own port (ADMIN_PORT),
 * or not at all (ADMIN_ENABLED=false). A missing or weak ADMIN_TOKEN keeps the admin routes off with an error in
 * the log; the webhook receiver and everything else still run.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Env } from '../env.js';
import { registerErrorHandler } from './error-handler.js';
import { adminPlugin, type AdminDeps } from './routes/admin/index.js';
import type { Logger } from '../lib/logger.js';
import { loadAdminAccounts, type AdminAccounts } from '../admin/accounts.js';
import { adminTokenProblem } from '../admin/auth.js';

export type AdminEnv = Pick<
  Env,
  'ADMIN_ENABLED' | 'ADMIN_TOKEN' | 'ADMIN_PORT' | 'ADMIN_HOST' | 'ADMIN_SESSION_MINUTES'
> &
  Partial<Pick<Env, 'ADMINS_FILE' | 'TRUST_PROXY'>>;

export type AdminPlan =
  | { kind: 'off'; reason: string }
  | { kind: 'routes'; plugin: (app: FastifyInstance) => void }
  | { kind: 'own_port'; start: () => Promise<{ url: string; close: () => Promise<void> }> };

/** Decides how (and whether) the admin area runs; `deps` is built only when it does. */
export function planAdmin(
  env: AdminEnv,
  logger: Logger,
  deps: () => Omit<AdminDeps, 'token' | 'sessionMinutes' | 'logger' | 'accounts'>,
): AdminPlan {
  if (!env.ADMIN_ENABLED) return { kind: 'off', reason: 'ADMIN_ENABLED=false' };
  const problem = adminTokenProblem(env.ADMIN_TOKEN);
  if (problem !== undefined || env.ADMIN_TOKEN === undefined) {
    logger.error({ problem }, `admin routes are OFF: ${problem ?? 'no token'}; the rest of the service runs`);
    return { kind: 'off', reason: problem ?? 'ADMIN_TOKEN is not set' };
  }
  let accounts: AdminAccounts | undefined;
  if (env.ADMINS_FILE !== undefined) {
    try {
      accounts = loadAdminAccounts(env.ADMINS_FILE);
      logger.info({ file: env.ADMINS_FILE, admins: accounts.count }, 'admin accounts loaded');
    } catch (err) {
      const problem = (err as Error).message;
      logger.error({ problem }, `admin routes are OFF: ${problem}; the rest of the service runs`);
      return { kind: 'off', reason: problem };
    }
  }
  const full: AdminDeps = {
    ...deps(),
    token: env.ADMIN_TOKEN,
    sessionMinutes: env.ADMIN_SESSION_MINUTES,
    logger,
    ...(accounts ? { accounts } : {}),
  };
  const plugin = adminPlugin(full);
  if (env.ADMIN_PORT === undefined) {
    return { kind: 'routes', plugin: (app) => void app.register(plugin, { prefix: '/admin' }) };
  }
  const port = env.ADMIN_PORT;
  return {
    kind: 'own_port',
    async start() {
      const app = Fastify({
        loggerInstance: logger as FastifyBaseLogger,
        bodyLimit: 2 * 1024 * 1024,
        trustProxy: env.TRUST_PROXY ?? false,
      });
      registerErrorHandler(app);
      await app.register(plugin, { prefix: '/admin' });
      const url = await app.listen({ port, host: env.ADMIN_HOST });
      logger.info({ url: `${url}/admin` }, 'admin area listening on its own port');
      return { url, close: () => app.close() };
    },
  };
}
