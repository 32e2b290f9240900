import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createAmoClient } from '../../src/amocrm/api/client.js';
import { createRateLimiter } from '../../src/amocrm/api/rate-limiter.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

/** A bare amoCRM stand-in on loopback that records when each request arrived. */
function startRecorder(): Promise<{ server: Server; url: string; arrivals: number[]; refreshes: () => number }> {
  const arrivals: number[] = [];
  let refreshes = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/oauth2/access_token')) {
      refreshes++;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            token_type: 'Bearer',
            expires_in: 86400,
            access_token: `NEW${refreshes}`,
            refresh_token: `R${refreshes + 1}`,
          }),
        );
      }, 30);
      return;
    }
    arrivals.push(performance.now());
    res.writeHead(200, { 'content-type': 'application/hal+json' });
    res.end(
      JSON.stringify({ id: 1, responsible_user_id: 1, status_id: 1, pipeline_id: 1, created_at: 1, updated_at: 1 }),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        arrivals,
        refreshes: () => refreshes,
      }),
    ),
  );
}

/** The largest number of arrivals inside any window of `ms` (sliding, not fixed buckets). */
function maxInWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while ((t[hi] ?? 0) - (t[lo] ?? 0) >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('amoCRM rate limit and token refresh shared through Redis', () => {
  let redis: Redis;
  const prefix = uniquePrefix('rate');
  const connections: Redis[] = [];
  const connect = (): Redis => {
    const r = connectTestRedis();
    connections.push(r);
    return r;
  };

  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    for (const r of connections) r.disconnect();
  });

  it('when 3 clients fire 12 requests each at once, then no sliding second ever holds more than 7', async () => {
    const { server, url, arrivals } = await startRecorder();
    try {
      const clients = [0, 1, 2].map(() =>
        createAmoClient({
          baseUrl: url,
          auth: { kind: 'long-lived', token: 't' },
          redis: connect(),
          keyPrefix: prefix,
          rps: 7,
        }),
      );
      const priorities = ['sla', 'normal', 'bulk'] as const;
      // Warm up first: the first request of a client loads and connects lazily, and a send delayed after its
      // admission is not what this test is about (amoCRM counts arrivals; the window's 100 ms margin covers
      // ordinary in-flight variance, not a cold start inside the same event loop as the recording server).
      await Promise.all(clients.map((c) => c.getLead(1)));
      await new Promise((r) => setTimeout(r, 1_200));
      arrivals.length = 0;
      await Promise.all(clients.flatMap((c, i) => Array.from({ length: 12 }, () => c.getLead(1, priorities[i]))));
      expect(arrivals).toHaveLength(36);
      expect(maxInWindow(arrivals, 1000)).toBeLessThanOrEqual(7);
    } finally {
      server.close();
    }
  }, 60_000);

  it('when bulk work fills the window, then an SLA request still goes first', async () => {
    const connection = connect();
    // Connected first: the test is about admission order, not about a cold (cluster) connection's start-up.
    await connection.ping();
    const limiter = createRateLimiter({ redis: connection, key: `${prefix}:{priority}`, rps: 5 });
    const order: string[] = [];
    const take = (label: string, p: 'sla' | 'bulk') => limiter.acquire(p).then(() => void order.push(label));
    // Bulk may use 3 of the 5 slots; the fourth and fifth bulk requests wait for the window to move.
    const bulk = ['b1', 'b2', 'b3', 'b4', 'b5'].map((l) => take(l, 'bulk'));
    // The SLA request arrives once bulk has taken its three slots and b4, b5 wait (not after a guessed sleep,
    // which a busy machine may outrun).
    await waitFor(() => order.length === 3, 'bulk to take its slots');
    const sla = take('sla', 'sla');
    await Promise.all([...bulk, sla]);
    expect(order.slice(0, 4)).toEqual(['b1', 'b2', 'b3', 'sla']);
  });

  it('when 429s and a block are recorded, then the shared deadline only grows and a block stays a block', async () => {
    const limiter = createRateLimiter({
      redis: connect(),
      key: `${prefix}:{deadline}`,
      rps: 7,
      blockCooldownMs: 60_000,
      backoffBaseMs: 1_000,
    });
    expect(await limiter.acquire()).toEqual({ kind: 'admitted' });
    // A JSON 403 with no 429 before it is not a block, and sets nothing.
    expect(await limiter.forbidden(false)).toEqual({ blocked: false });
    expect(await limiter.acquire()).toEqual({ kind: 'admitted' });

    expect(await limiter.rateLimited(5_000)).toEqual({ reason: 'rate_limited', retryAfterMs: 5_000 });
    // A shorter retry_after does not shorten the deadline in force.
    const shorter = await limiter.rateLimited(1_000);
    expect(shorter.reason).toBe('rate_limited');
    expect(shorter.retryAfterMs).toBeGreaterThan(4_000);
    const gate = await limiter.acquire('sla');
    expect(gate).toMatchObject({ kind: 'backoff', reason: 'rate_limited' });

    // A JSON 403 within a minute of a 429 is a block: the 60 s cool-down, started once.
    expect(await limiter.forbidden(false)).toEqual({ blocked: true, started: true, retryAfterMs: 60_000 });
    const again = await limiter.forbidden(true);
    expect(again).toMatchObject({ blocked: true, started: false });
    // A later 429 neither ends nor downgrades the block; a longer retry_after extends it.
    expect((await limiter.rateLimited(2_000)).reason).toBe('blocked');
    expect(await limiter.rateLimited(120_000)).toEqual({ reason: 'blocked', retryAfterMs: 120_000 });
    const blocked = await limiter.acquire('sla');
    expect(blocked).toMatchObject({ kind: 'backoff', reason: 'blocked' });
    expect((blocked as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(110_000);
  });

  it('when two processes find the token expired at once, then one refresh serves both', async () => {
    const { server, url, refreshes } = await startRecorder();
    try {
      const key = `${prefix}-oauth`;
      const make = () =>
        createAmoClient({
          baseUrl: url,
          auth: { kind: 'oauth', clientId: 'c', clientSecret: 's', redirectUri: 'https://x/cb' },
          redis: connect(),
          keyPrefix: key,
          rps: 100,
        });
      const [a, b] = [make(), make()];
      await redis.set(
        `${key}:amo:${new URL(url).host}:tokens`,
        JSON.stringify({ accessToken: 'OLD', refreshToken: 'R1', expiresAt: Date.now() - 1 }),
      );
      await Promise.all([
        ...Array.from({ length: 10 }, () => a.getLead(1)),
        ...Array.from({ length: 10 }, () => b.getLead(1)),
      ]);
      expect(refreshes()).toBe(1);
      await dropPrefix(redis, key);
    } finally {
      server.close();
    }
  });
});
