/**
 * One HTTP server under load, in its own process so the load generator does not share its event loop:
 * `service` is the real intake (`ROLE=web`, the production logger at LOG_LEVEL into /dev/null), `bare` a Fastify
 * route that parses the same body with the same parser and answers, `bare-add` the same plus one BullMQ `add`.
 * The parent talks to it over IPC: `ready` with the URL, then `cpu` → process.cpuUsage(), `prof-start` /
 * `{ profStop: file }` around a window to profile, `stop`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { expandFormBody } from '../src/amocrm/form-body.js';
import { normalizeWebhook } from '../src/amocrm/webhook-payload.js';
import { createLogger } from '../src/lib/logger.js';
import { createMetrics } from '../src/lib/metrics.js';
import { startService } from '../src/service.js';

export const BENCH_TOKEN = 'bench-webhook-token-0123456789abcdef';

const [mode = 'service', redisUrl = 'redis://127.0.0.1:6379', prefix = 'bench'] = process.argv.slice(2);

async function bare(withAdd: boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  const redis = withAdd ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
  const queue = redis ? new Queue('events', { connection: redis, prefix: `${prefix}:bare` }) : undefined;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );
  let seq = 0;
  app.post('/webhooks/amocrm/:token', async (req) => {
    const body = req.body as string;
    const webhook = normalizeWebhook(expandFormBody(body), {
      deliveryId: 'bare',
      receivedAt: new Date().toISOString(),
    });
    if (queue)
      await queue.add(
        'webhook-event',
        { event: webhook.events[0] },
        { jobId: `bare-${process.pid}-${seq++}`, removeOnComplete: true },
      );
    return { ok: true, enqueued: webhook.events.length };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    close: async () => {
      await app.close();
      await queue?.close();
      redis?.disconnect();
    },
  };
}

async function service(): Promise<{ url: string; close: () => Promise<void> }> {
  const svc = await startService(
    {
      PORT: 0,
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      ROLE: 'web',
      WEBHOOK_TOKEN: BENCH_TOKEN,
      AMO_SUBDOMAIN: 'bench',
      AMO_BASE_URL: undefined,
      WORKER_CONCURRENCY: 1,
    },
    { logger: createLogger({ level: process.env.LOG_LEVEL ?? 'info' }), metrics: createMetrics() },
  );
  const url = await svc.listen();
  return { url, close: () => svc.close() };
}

const server = mode === 'service' ? await service() : await bare(mode === 'bare-add');
// CPU profile of the measured window only (the --cpu-prof flag would also profile start-up and the loader thread).
const session = new Session();
process.on('message', (msg: unknown) => {
  if (msg === 'cpu') process.send?.({ cpu: process.cpuUsage() });
  if (msg === 'prof-start') {
    session.connect();
    void session
      .post('Profiler.enable')
      .then(() => session.post('Profiler.start'))
      .then(() => process.send?.({ profiling: true }));
  }
  if (typeof msg === 'object' && msg !== null && 'profStop' in msg) {
    void session.post('Profiler.stop').then(({ profile }) => {
      writeFileSync((msg as { profStop: string }).profStop, JSON.stringify(profile));
      session.disconnect();
      process.send?.({ profiled: true });
    });
  }
  if (msg === 'stop') void server.close().then(() => process.exit(0));
});
process.send?.({ ready: server.url });
