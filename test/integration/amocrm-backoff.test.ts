/**
 * The amoCRM back-off is shared by every process: two client processes on one Redis, one amoCRM stand-in on
 * loopback that records when each request arrived (amocrm.md §3: 429 with retry_after, then a 403 block).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

interface Arrival {
  path: string;
  at: number;
}
interface Answer {
  id?: number;
  ready?: boolean;
  ok?: boolean;
  leadId?: number;
  alerts?: string[];
  error?: { name: string; retryable: boolean; retryAfterMs?: number; status?: number; message: string };
}

const lead = (id: number) => ({
  id,
  name: `L${id}`,
  price: 0,
  responsible_user_id: 1,
  status_id: 2,
  pipeline_id: 3,
  created_at: 1,
  updated_at: 2,
});

/** A bare amoCRM stand-in: `respond` decides each answer; every arrival is recorded with the wall clock. */
function startAmo(): Promise<{
  server: Server;
  url: string;
  arrivals: Arrival[];
  respond: { fn: (path: string, n: number, res: ServerResponse) => void };
}> {
  const arrivals: Arrival[] = [];
  const respond = {
    fn: (path: string, _n: number, res: ServerResponse): void => {
      res.writeHead(200, { 'content-type': 'application/hal+json' });
      res.end(JSON.stringify(lead(Number(path.split('/').pop()))));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    arrivals.push({ path, at: Date.now() });
    respond.fn(path, arrivals.filter((a) => a.path === path).length, res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, respond }),
    ),
  );
}

/** One client in its own OS process, driven by JSON lines. */
function startClient(): {
  ready: Promise<void>;
  call: (op: Record<string, unknown>) => Promise<Answer>;
  child: ChildProcessWithoutNullStreams;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/amo-client-process.ts', TEST_REDIS_URL]);
  const pending = new Map<number, (a: Answer) => void>();
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const answer = JSON.parse(buffer.slice(0, nl)) as Answer;
      buffer = buffer.slice(nl + 1);
      if (answer.ready) readyResolve();
      else if (answer.id !== undefined) pending.get(answer.id)?.(answer);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  let seq = 0;
  const call = (op: Record<string, unknown>): Promise<Answer> => {
    const id = ++seq;
    return new Promise<Answer>((resolve) => {
      pending.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ id, ...op })}\n`);
    });
  };
  return { ready, call, child };
}

describe('amoCRM back-off shared by every process through Redis', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const servers: Server[] = [];
  // Two OS processes, each with its own client (one per test prefix), sharing one Redis.
  const processes = [startClient(), startClient()];

  beforeAll(async () => {
    redis = connectTestRedis();
    await Promise.all(processes.map((p) => p.ready));
  }, 120_000);
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });
  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  const setup = async () => {
    const prefix = uniquePrefix('backoff');
    prefixes.push(prefix);
    const amo = await startAmo();
    servers.push(amo.server);
    const bind = (p: (typeof processes)[number]) => ({
      call: (op: Record<string, unknown>) => p.call({ ...op, prefix, baseUrl: amo.url }),
    });
    return { prefix, amo, a: bind(processes[0]!), b: bind(processes[1]!) };
  };

  it('when one process gets a 429 with retry_after, then the other sends nothing until it has elapsed', async () => {
    const { prefix, amo, a, b } = await setup();
    // Positive control: B reaches amoCRM before the 429.
    expect(await b.call({ op: 'getLead', leadId: 2 })).toMatchObject({ ok: true, leadId: 2 });
    const before = amo.arrivals.filter((x) => x.path === '/api/v4/leads/2').length;
    expect(before).toBe(1);

    let served429At = 0;
    amo.respond.fn = (path, n, res) => {
      if (path === '/api/v4/leads/1' && n === 1) {
        served429At = Date.now();
        res.writeHead(429, { 'content-type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            title: 'Too Many Requests',
            type: 'https://httpstatus.es/429',
            status: 429,
            retry_after: 3,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/hal+json' });
      res.end(JSON.stringify(lead(Number(path.split('/').pop()))));
    };
    const aDone = a.call({ op: 'getLead', leadId: 1 });
    await waitFor(() => served429At > 0, 'the 429 to be served');
    // A records the back-off right after the answer reaches it; B asks well inside the 3 s amoCRM named.
    await waitFor(
      async () => (await redis.exists(`${prefix}:amo:{${new URL(amo.url).host}}:backoff`)) === 1,
      'the shared back-off',
      1_000,
    ).catch(() => undefined);
    const bAsked = Date.now();
    expect(bAsked - served429At).toBeLessThan(1_500);
    const bDone = b.call({ op: 'getLead', leadId: 2 });

    expect(await bDone).toMatchObject({ ok: true, leadId: 2 });
    expect(await aDone).toMatchObject({ ok: true, leadId: 1 });
    const after429 = amo.arrivals.filter(
      (x) => x.at >= served429At && !(x.path === '/api/v4/leads/1' && x.at === served429At),
    );
    expect(after429.map((x) => x.path).sort()).toEqual(['/api/v4/leads/1', '/api/v4/leads/2']);
    // Nobody, in either process, sent before retry_after (3 s) had elapsed.
    for (const x of after429) expect(x.at - served429At).toBeGreaterThanOrEqual(3_000);
  }, 30_000);

  it('when one process sees amoCRM block the account, then the other fails fast without sending, with a retryable error', async () => {
    const { amo, a, b } = await setup();
    // Positive control: B reaches amoCRM before the block.
    expect(await b.call({ op: 'getLead', leadId: 2 })).toMatchObject({ ok: true, leadId: 2 });

    amo.respond.fn = (path, n, res) => {
      if (path === '/api/v4/leads/5') {
        // amocrm.md §2: in practice the 429 and the block are nginx HTML pages (sample 59).
        res.writeHead(n === 1 ? 429 : 403, { 'content-type': 'text/html' });
        res.end(
          n === 1
            ? '<html><head><title>429 Too Many Requests</title></head></html>'
            : '<html><body><h1>403 Forbidden</h1></body></html>',
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/hal+json' });
      res.end(JSON.stringify(lead(Number(path.split('/').pop()))));
    };
    const blocked = await a.call({ op: 'getLead', leadId: 5 });
    expect(blocked.ok).toBe(false);
    expect(blocked.error?.name).toBe('AmoBlockedError');
    expect(amo.arrivals.filter((x) => x.path === '/api/v4/leads/5')).toHaveLength(2);

    const sentBefore = amo.arrivals.length;
    const other = await b.call({ op: 'getLead', leadId: 2 });
    expect(amo.arrivals.length).toBe(sentBefore);
    expect(other.ok).toBe(false);
    expect(blocked.error).toMatchObject({ name: 'AmoBlockedError', retryable: true });
    expect(other.error).toMatchObject({ name: 'AmoBlockedError', retryable: true, status: 403 });
    // The default cool-down is 10 minutes (amocrm.md §3: the block lasts until support lifts it; we wait 10 min).
    expect(other.error?.retryAfterMs).toBeGreaterThan(9 * 60_000);
    expect(other.error?.retryAfterMs).toBeLessThanOrEqual(10 * 60_000);
    // One alert for the block: raised by the process that saw it, not by every process that stops.
    expect((await a.call({ op: 'alerts' })).alerts).toEqual(['blocked']);
    expect((await b.call({ op: 'alerts' })).alerts).toEqual([]);
  }, 30_000);
});
