/**
 * One process of the service for the chaos suite: the production composition (env → startRuntime) with the
 * process id in a header of every amoCRM request, so the simulator's kill hooks can SIGKILL exactly the worker
 * that sent a write. Prints `CHAOS_READY <role> <pid>` when started. Same environment as `npm start`.
 */
import axios from 'axios';
import { amoAuthFromEnv, parseEnv } from '../src/env.js';
import { createLogger } from '../src/lib/logger.js';
import { startRuntime } from '../src/runtime.js';

// The amoCRM client builds its axios instance from the library's defaults, so this header reaches every request.
axios.defaults.headers.common['x-chaos-pid'] = String(process.pid);

async function main(): Promise<void> {
  const env = parseEnv();
  const auth = amoAuthFromEnv(env);
  const logger = createLogger({ level: env.LOG_LEVEL, base: { pid: process.pid, role: env.ROLE } });
  const runtime = await startRuntime({
    service: env,
    amo: { ...(env.AMO_BASE_URL !== undefined ? { baseUrl: env.AMO_BASE_URL } : {}), auth, rps: env.AMO_RPS },
    rulesFile: env.RULES_FILE,
    logger,
  });
  if (runtime.service.app && runtime.service.url === undefined) await runtime.service.listen();
  console.log(`CHAOS_READY ${env.ROLE} ${process.pid}`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    void runtime
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error('chaos service process failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
