/**
 * How a job ends when amoCRM fails, through real BullMQ and a worker in its own OS process logging to stdout
 * through the production logger: a validation error is attempted once and logged with amoCRM's field errors; a
 * token refresh that fails at the socket leaves neither the client secret nor the refresh token in the log; a
 * call under amoCRM's block parks the job instead of failing it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createLogger } from '../../src/lib/logger.js';
import { createQueues, type Queues } from '../../src/jobs/queues.js';
import { createKeys } from '../../src/store/keys.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const CLIENT_SECRET = 'cs-Zq8XWm3vR7pK2nL5tY9bH4dF6gJ1sA0e';
const REFRESH_TOKEN = 'rt-def50200a9c4b1e7f3d2c8b6a5e4f1d0c9b8a7';
const ACCESS_TOKEN = 'at-eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.stale';

interface Amo {
  server: Server;
  url: string;
  requests: Array<{ method: string; path: string; body: string }>;
  respond: { fn: (req: IncomingMessage, res: ServerResponse) => void };
}

function startAmo(): Promise<Amo> {
  const requests: Amo['requests'] = [];
  const respond: Amo['respond'] = {
    fn: (_req, res) => {
      res.writeHead(500);
      res.end();
    },
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      respond.fn(req, res);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, respond }),
    ),
  );
}

describe('amoCRM failures in jobs', () => {
  let redis: Redis;
  const cleanup: Array<() => Promise<void> | void> = [];
  const prefixes: string[] = [];

  /** An amoCRM stand-in, stored OAuth tokens, a queue, and a worker process whose stdout is captured. */
  const setup = async (tokens: { expiresAt: number }) => {
    const prefix = uniquePrefix('jobfail');
    prefixes.push(prefix);
    const amo = await startAmo();
    cleanup.push(() => void amo.server.close());
    await redis.set(
      `${prefix}:amo:${new URL(amo.url).host}:tokens`,
      JSON.stringify({ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN, expiresAt: tokens.expiresAt }),
    );
    const queues: Queues = createQueues({
      connection: connectTestRedis(),
      prefix: createKeys(prefix).bullPrefix,
      logger: createLogger({ level: 'silent' }),
    });
    cleanup.push(() => queues.close());
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [
      '--import',
      'tsx',
      'test/helpers/amo-job-worker.ts',
      TEST_REDIS_URL,
      prefix,
      amo.url,
      CLIENT_SECRET,
    ]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    cleanup.push(() => void child.kill('SIGKILL'));
    await waitFor(() => out.includes('ready'), 'the worker process', 90_000);
    const logLines = (): Array<Record<string, unknown>> =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { prefix, amo, queues, output: () => out, logLines };
  };

  type Setup = Awaited<ReturnType<typeof setup>>;
  const ready: Partial<Record<'validation' | 'socket' | 'block', Setup>> = {};

  // The three worker processes start together: a cold start costs seconds on a busy machine.
  beforeAll(async () => {
    redis = connectTestRedis();
    const [validation, socket, block] = await Promise.all([
      setup({ expiresAt: Date.now() + 86_400_000 }),
      setup({ expiresAt: Date.now() - 1_000 }),
      setup({ expiresAt: Date.now() + 86_400_000 }),
    ]);
    Object.assign(ready, { validation, socket, block });
  }, 120_000);
  afterAll(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  it('when amoCRM rejects a write as invalid, then the job is attempted exactly once and fails with the field errors in the log', async () => {
    const { amo, queues, logLines } = ready.validation!;
    amo.respond.fn = (req, res) => {
      res.writeHead(400, { 'content-type': 'application/problem+json' });
      // amocrm.md §2, sample 61: validation-errors with request_id, code, path, detail.
      res.end(
        JSON.stringify({
          'validation-errors': [
            {
              request_id: '0',
              errors: [
                {
                  code: 'NotSupportedChoice',
                  path: 'status_id',
                  detail: 'The value you selected is not a valid choice.',
                },
              ],
            },
          ],
          title: 'Bad Request',
          type: 'https://httpstatus.es/400',
          status: 400,
          detail: 'Request validation failed',
        }),
      );
    };
    await queues.add('pickup-sweep', { reason: 'update-lead' }, { attempts: 4, backoff: { type: 'fixed', delay: 50 } });
    await waitFor(
      async () => (await queues.get('timers').getJobState('pickup-sweep')) === 'failed',
      'the job to fail',
      20_000,
    );
    const job = (await queues.get('timers').getJob('pickup-sweep'))!;

    expect(amo.requests.filter((r) => r.method === 'PATCH' && r.path === '/api/v4/leads')).toHaveLength(1);
    expect(job.attemptsMade).toBe(1);
    const failed = await waitFor(() => {
      const lines = logLines().filter((l) => l.msg === 'job failed for good');
      return lines.length > 0 ? lines : undefined;
    }, 'the failure log line');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 50,
      job: 'pickup-sweep',
      err: {
        kind: 'AmoValidationError',
        endpoint: 'PATCH /api/v4/leads',
        status: 400,
        fieldErrors: [
          {
            requestId: '0',
            code: 'NotSupportedChoice',
            path: 'status_id',
            detail: 'The value you selected is not a valid choice.',
          },
        ],
      },
    });
    expect(logLines().filter((l) => l.msg === 'job failed, will retry')).toEqual([]);
  }, 60_000);

  it('when the token refresh fails at the socket, then the job failure is logged and neither the client secret nor the refresh token is in the log', async () => {
    const { amo, queues, output, logLines } = ready.socket!;
    amo.respond.fn = (req) => {
      // The connection drops after amoCRM got the request: axios' error then holds the request config and body.
      if (req.url === '/oauth2/access_token') req.socket.destroy();
    };
    await queues.add('pickup-sweep', { reason: 'read-lead' }, { attempts: 1 });
    const failed = await waitFor(
      () => logLines().find((l) => l.msg === 'job failed for good'),
      'the failure log line',
      20_000,
    );

    // Positive control: the refresh was really posted with the secrets, and its failure was logged.
    const refresh = amo.requests.find((r) => r.path === '/oauth2/access_token');
    expect(refresh?.body).toContain(CLIENT_SECRET);
    expect(refresh?.body).toContain(REFRESH_TOKEN);
    expect(JSON.stringify(failed)).toContain('/oauth2/access_token');

    const log = output();
    expect(log).not.toContain(CLIENT_SECRET);
    expect(log).not.toContain(REFRESH_TOKEN);
    expect(log).not.toContain(ACCESS_TOKEN);
    // What is logged instead: our own error, worth retrying, with the endpoint and the socket error's code only.
    expect(failed).toMatchObject({
      job: 'pickup-sweep',
      err: {
        type: 'AmoUnavailableError',
        retryable: true,
        endpoint: 'POST /oauth2/access_token',
        message: 'network error calling amoCRM POST /oauth2/access_token (ECONNRESET)',
      },
    });
  }, 60_000);

  it('when amoCRM is blocking, then a job that calls it is parked until the cool-down ends, without using an attempt', async () => {
    const { prefix, amo, queues, logLines } = ready.block!;
    amo.respond.fn = (_req, res) => {
      res.writeHead(403, { 'content-type': 'text/html' });
      res.end('<html><body><h1>403 Forbidden</h1></body></html>');
    };
    const before = Date.now();
    await queues.add('pickup-sweep', { reason: 'read-lead' }, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    await waitFor(
      async () => (await queues.get('timers').getJobState('pickup-sweep')) === 'delayed',
      'the job to be parked',
      20_000,
    );
    const job = (await queues.get('timers').getJob('pickup-sweep'))!;
    // Positive control: the job ran and met the block (one request, the 403).
    expect(amo.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v4/leads/42']);
    expect(job.attemptsMade).toBe(0);
    // Parked for the block's cool-down (10 minutes by default), not for BullMQ's 50 ms backoff.
    expect(job.timestamp + job.delay).toBeGreaterThanOrEqual(before + 9 * 60_000);
    expect(await redis.pttl(`${prefix}:amo:{${new URL(amo.url).host}}:backoff`)).toBeGreaterThan(9 * 60_000);
    await waitFor(
      () => logLines().some((l) => l.msg === 'job parked until the amoCRM back-off ends'),
      'the parking log line',
    );
    expect(logLines().some((l) => l.msg === 'job failed for good' || l.msg === 'job failed, will retry')).toBe(false);
  }, 60_000);
});
