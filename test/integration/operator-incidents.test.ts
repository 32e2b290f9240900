/**
 * The on-call chat's incidents on real Redis: one message per incident whatever the number of processes, edited when
 * what is wrong changes, edited to resolved once; a failed send is tried again by the next check; an incident resolved
 * while its first message is on the way is resolved right after it; a restarted monitor closes what an earlier
 * process opened; dead letters keep the check degraded for their window.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createReadiness } from '../../src/health.js';
import type { AmoHealthSnapshot } from '../../src/amocrm/api/health.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { createOperatorIncidents } from '../../src/ops/incidents.js';
import { checkIncident } from '../../src/ops/texts.js';
import { recentDeadLetters } from '../../src/store/dead-letters.js';
import { createKeys, type Keys } from '../../src/store/keys.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const CHAT = '-1009000000001';
const silent = createLogger({ level: 'silent' });

interface Sent {
  kind: 'send' | 'edit';
  messageId: number;
  html: string;
}

/** A sink that records, and can fail or hold its next send. */
function recordingSink() {
  const sent: Sent[] = [];
  let nextId = 100;
  let failNext = 0;
  let hold: Promise<void> | undefined;
  return {
    sent,
    failNext: (n: number) => void (failNext = n),
    holdSends: (p: Promise<void>) => void (hold = p),
    sink: {
      async sendMessage(_chat: string, html: string) {
        if (hold) await hold;
        if (failNext > 0) {
          failNext--;
          throw new Error('Telegram unreachable');
        }
        const messageId = nextId++;
        sent.push({ kind: 'send', messageId, html });
        return messageId;
      },
      async editMessage(_chat: string, messageId: number, html: string) {
        sent.push({ kind: 'edit', messageId, html });
      },
    },
  };
}

describe('operator incidents', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = connectTestRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  const setup = (chat: string | null = CHAT) => {
    const prefix = uniquePrefix('ops');
    prefixes.push(prefix);
    const keys = createKeys(prefix);
    const clock = createManualClock('2026-12-07T09:00:00Z');
    const s = recordingSink();
    const make = () =>
      createOperatorIncidents({
        redis,
        keys,
        clock,
        logger: silent,
        sink: () => s.sink,
        chat: () => chat ?? undefined,
        timeZone: () => 'Europe/Moscow',
      });
    return { keys, clock, s, make };
  };

  const unreachable = checkIncident({
    name: 'amocrm',
    status: 'degraded',
    state: 'unreachable',
    reason: 'ECONNREFUSED',
  })!;
  const backoff = checkIncident({ name: 'amocrm', status: 'degraded', state: 'backoff' })!;

  it('when an incident is reported on every check, then one message is sent, edited when its state changes, and resolved once', async () => {
    const { s, make, clock } = setup();
    const a = make();
    await a.open('amocrm', unreachable);
    await a.open('amocrm', unreachable);
    expect(s.sent).toEqual([{ kind: 'send', messageId: 100, html: expect.stringContaining('amoCRM не отвечает') }]);
    expect(s.sent[0]!.html).toContain('<code>ECONNREFUSED</code>');

    await a.open('amocrm', backoff);
    expect(s.sent[1]).toEqual({ kind: 'edit', messageId: 100, html: expect.stringContaining('ограничил запросы') });

    clock.advance(5 * 60_000 + 20_000);
    await a.resolve('amocrm', 'amoCRM снова отвечает');
    await a.resolve('amocrm', 'amoCRM снова отвечает');
    expect(s.sent).toHaveLength(3);
    expect(s.sent[2]).toMatchObject({ kind: 'edit', messageId: 100 });
    // Moscow time, the duration in people's units, the old text struck through.
    expect(s.sent[2]!.html).toMatch(
      /^✅ <b>Решено<\/b> 07\.12 12:05: amoCRM снова отвечает \(длилось 5 мин 20 сек, с 07\.12 12:00\)/,
    );
    expect(s.sent[2]!.html).toContain('<s>🟠 amoCRM ограничил запросы робота');
  });

  it('when two processes notice the same incident at once, then one message is sent', async () => {
    const { s, make } = setup();
    const [a, b] = [make(), make()];
    await Promise.all([a.open('amocrm', unreachable), b.open('amocrm', unreachable), a.open('amocrm', unreachable)]);
    expect(s.sent.filter((m) => m.kind === 'send')).toHaveLength(1);
    await b.resolve('amocrm');
    expect(s.sent.filter((m) => m.kind === 'edit')).toHaveLength(1);
  });

  it('when the send fails, then nothing stays claimed and the next check sends it', async () => {
    const { s, make } = setup();
    const a = make();
    s.failNext(1);
    await a.open('timers', checkIncident({ name: 'timers', status: 'degraded', lagSeconds: 90 })!);
    expect(s.sent).toHaveLength(0);
    await a.open('timers', checkIncident({ name: 'timers', status: 'degraded', lagSeconds: 95 })!);
    expect(s.sent).toEqual([{ kind: 'send', messageId: 100, html: expect.stringContaining('1 мин 35 сек') }]);
  });

  it('when the incident ends while its first message is on the way, then the sender resolves it right after', async () => {
    const { s, make } = setup();
    const [a, b] = [make(), make()];
    let release!: () => void;
    s.holdSends(new Promise<void>((r) => (release = r)));
    const opening = a.open('amocrm', unreachable);
    await waitFor(async () => (await redis.keys(`*ops:incident:amocrm`)).length > 0, 'claimed', 2_000);
    await b.resolve('amocrm', 'amoCRM снова отвечает');
    release();
    await opening;
    expect(s.sent.map((m) => m.kind)).toEqual(['send', 'edit']);
    expect(s.sent[1]!.html).toContain('Решено');
    // Over: a new outage is a new message.
    await a.open('amocrm', unreachable);
    expect(s.sent.map((m) => m.kind)).toEqual(['send', 'edit', 'send']);
  });

  it('when no operator chat is configured, then nothing is stored or sent', async () => {
    const { s, make, keys } = setup(null);
    await make().open('amocrm', unreachable);
    expect(s.sent).toHaveLength(0);
    expect(await redis.exists(keys.of('ops', 'incident', 'amocrm'))).toBe(0);
  });

  const monitor = (
    deps: {
      keys: Keys;
      clock: ReturnType<typeof createManualClock>;
      incidents: ReturnType<ReturnType<typeof setup>['make']>;
    },
    health: () => AmoHealthSnapshot,
  ) =>
    createReadiness({
      amo: { health: async () => health() },
      clock: deps.clock,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: silent,
      deadLettersSince: (since) => recentDeadLetters(redis, deps.keys, since),
      incidents: deps.incidents,
      deadLetterWindowMs: 60 * 60_000,
    });

  it('when a process restarts after an incident was opened and amoCRM is fine again, then its first check resolves it', async () => {
    const { s, make, keys, clock } = setup();
    const first = monitor({ keys, clock, incidents: make() }, () => ({ state: 'unreachable', reason: 'ECONNREFUSED' }));
    first.start(10);
    await waitFor(() => s.sent.length === 1, 'opened', 2_000);
    first.stop();
    const second = monitor({ keys, clock, incidents: make() }, () => ({ state: 'ok' }));
    second.start(10);
    await waitFor(() => s.sent.length === 2, 'resolved', 2_000);
    second.stop();
    expect(s.sent[1]!.html).toContain('amoCRM снова отвечает');
  });

  it('when dead letters arrive, then the check is degraded with their count for an hour, then resolved', async () => {
    const { s, make, keys, clock } = setup();
    const readiness = monitor({ keys, clock, incidents: make() }, () => ({ state: 'ok' }));
    const push = (key: string) => redis.lpush(key, JSON.stringify({ at: clock.now().toISOString(), reason: 'x' }));
    expect((await readiness.checks()).find((c) => c.name === 'dead_letters')).toMatchObject({
      status: 'ok',
      recent: 0,
    });
    await push(keys.of('effects', 'dead-letter'));
    await push(keys.deadLetter());
    await redis.rpush(keys.deadLetter(), 'not json'); // the oldest: ignored
    expect((await readiness.checks()).find((c) => c.name === 'dead_letters')).toMatchObject({
      status: 'degraded',
      recent: 2,
      reason: '2 dead letter(s) in the last 60 min',
    });
    readiness.start(10);
    await waitFor(() => s.sent.length === 1, 'opened', 2_000);
    expect(s.sent[0]!.html).toContain('За последний час в очередь неразобранных попало: 2');
    clock.advance(61 * 60_000);
    await waitFor(() => s.sent.length === 2, 'resolved', 2_000);
    readiness.stop();
    expect(s.sent[1]!.html).toContain('за последний час новых нет');
  });
});
