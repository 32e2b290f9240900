/**
 * CPU per accepted webhook, measured without a load generator (so it moves less on a busy machine than req/s):
 * the real `ROLE=web` app answers N unique 1-lead bodies through app.inject, 16 in flight, logging at LOG_LEVEL
 * (info) into stdout, which the caller points at /dev/null. Prints JSON to stderr.
 * `tsx bench/intake-cpu.ts [requests] > /dev/null`
 */
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { startService } from '../src/service.js';
import { commandCalls, startPrivateRedis } from './lib/private-redis.js';
import { Redis } from 'ioredis';
import { leadsStatusBody } from './intake.js';

const TOKEN = 'bench-webhook-token-0123456789abcdef';
const n = Number(process.argv[2] ?? 5000);

const body = (i: number): string => leadsStatusBody(1, i);

const redis = await startPrivateRedis();
const admin = new Redis(redis.url);
const service = await startService(
  {
    PORT: 0,
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'cpu',
    ROLE: 'web',
    WEBHOOK_TOKEN: TOKEN,
    AMO_SUBDOMAIN: 'bench',
    AMO_BASE_URL: undefined,
    WORKER_CONCURRENCY: 1,
  },
  { logger: createLogger({ level: process.env.LOG_LEVEL ?? 'info' }), metrics: createMetrics() },
);
const app = service.app!;
const bodies = Array.from({ length: n + 500 }, (_, i) => body(i));
const send = async (from: number, to: number): Promise<void> => {
  let next = from;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < to) {
        const res = await app.inject({
          method: 'POST',
          url: `/webhooks/amocrm/${TOKEN}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: bodies[next++] ?? '',
        });
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
      }
    }),
  );
};
await send(0, 500); // warm-up
const cmd0 = await commandCalls(admin);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await send(500, 500 + n);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const cmd1 = await commandCalls(admin);
process.stderr.write(
  `${JSON.stringify({ requests: n, cpuMsPerRequest: +((cpu.user + cpu.system) / 1000 / n).toFixed(3), redisCommandsPerRequest: +((cmd1 - cmd0) / n).toFixed(1), wallMsPerRequest: +(wallMs / n).toFixed(3) })}\n`,
);
await service.close();
admin.disconnect();
await redis.stop();
process.exit(0);
