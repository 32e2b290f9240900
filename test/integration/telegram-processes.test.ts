/**
 * Two delivery worker processes on one Redis: with the stub failing 30% of calls every chat still gets each message
 * exactly once and in order (one drainer per chat at a time, across processes); and the overall message rate is the
 * bot's, not each process's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createLogger } from '../../src/lib/logger.js';
import { createQueues, telegramQueue } from '../../src/jobs/queues.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { wakeRouter } from '../../src/telegram/index.js';
import { createTelegramStub } from '../../sim/telegram-stub.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { seededRandom, STUB_TOKEN } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const CHATS = ['-1001000000001', '-1001000000002', '-1001000000003'];

async function startWorkers(
  prefix: string,
  apiRoot: string,
  env: Record<string, string> = {},
): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/telegram-worker.ts', TEST_REDIS_URL, prefix, apiRoot, STUB_TOKEN],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
    );
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    children.push(child);
    await waitFor(() => out.includes('ready'), `worker process ${i + 1}`, 30_000);
  }
  return children;
}

test('when two worker processes deliver while the stub fails 30% of calls, then each chat gets every message once, in order', async () => {
  const prefix = uniquePrefix('tg-proc');
  const stub = createTelegramStub({ token: STUB_TOKEN, random: seededRandom(5) });
  const apiRoot = await stub.listen();
  stub.failRate(0.3);
  const redis = connectTestRedis();
  const logger = createLogger({ level: 'silent' });
  const queues = createQueues({ connection: redis, prefix: createKeys(prefix).bullPrefix, logger });
  const outbox = createOutbox(redis, createKeys(prefix), { onPushed: wakeRouter(telegramQueue(queues)) });
  const children: ChildProcess[] = [];
  try {
    children.push(...(await startWorkers(prefix, apiRoot)));
    const expected = new Map(CHATS.map((c) => [c, [] as number[]]));
    for (let leadId = 1; leadId <= 30; leadId++) {
      const chatId = CHATS[leadId % 3]!;
      expected.get(chatId)!.push(leadId);
      await outbox.push(
        {
          at: new Date().toISOString(),
          audience: { kind: 'department', department: 'Отдел продаж 1', chatId },
          template: 'violation',
          params: { type: 'lead_stale', rule: 'R10', leadId, violationId: `ls:${leadId}` },
          leadId,
          reason: 'test',
        },
        `p${leadId}`,
      );
    }
    const leadsIn = (chatId: string): number[] =>
      stub.chat(chatId).map((m) => Number(/leads\/detail\/(\d+)/.exec(m.text)?.[1]));
    await waitFor(
      () => CHATS.every((c) => leadsIn(c).length >= expected.get(c)!.length),
      'every message delivered',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here
    expect(stub.calls.some((c) => c.status === 500)).toBe(true);
    for (const chatId of CHATS) expect(leadsIn(chatId)).toEqual(expected.get(chatId));
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await queues.close();
    await stub.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
}, 90_000);

test('when two worker processes deliver to many chats, then together they keep the overall limit, not twice it', async () => {
  // An overall limit of 5 messages a second (Telegram's is 30) so the test is short; each process alone could keep
  // it in memory, two of them would send 10 a second without the limit held in Redis.
  const PER_SECOND = 5;
  const limits = {
    sharedLimits: {
      global: { max: PER_SECOND, windowMs: 1000 },
      perChatMs: 20,
      group: { minMs: 20, max: 1000, windowMs: 60_000 },
    },
  };
  const prefix = uniquePrefix('tg-rate');
  const stub = createTelegramStub({ token: STUB_TOKEN });
  const apiRoot = await stub.listen();
  const redis = connectTestRedis();
  const logger = createLogger({ level: 'silent' });
  const queues = createQueues({ connection: redis, prefix: createKeys(prefix).bullPrefix, logger });
  const outbox = createOutbox(redis, createKeys(prefix), { onPushed: wakeRouter(telegramQueue(queues)) });
  const children: ChildProcess[] = [];
  try {
    children.push(...(await startWorkers(prefix, apiRoot, { TELEGRAM_TEST_LIMITS: JSON.stringify(limits) })));
    // 60 messages, two for each of 30 chats: at 5 a second the last leaves at least (60 - 5) / 5 = 11 s after the first.
    const chats = Array.from({ length: 30 }, (_, i) => String(-1002000000000 - i));
    for (let leadId = 1; leadId <= 60; leadId++) {
      const chatId = chats[leadId % 30]!;
      await outbox.push(
        {
          at: new Date().toISOString(),
          audience: { kind: 'department', department: 'Отдел продаж 1', chatId },
          template: 'violation',
          params: { type: 'lead_stale', rule: 'R10', leadId, violationId: `ls:${leadId}` },
          leadId,
          reason: 'test',
        },
        `r${leadId}`,
      );
    }
    await waitFor(
      () => stub.calls.filter((c) => c.method === 'sendMessage' && c.status === 200).length >= 60,
      'every message delivered',
      90_000,
    );
    const sends = stub.calls.filter((c) => c.method === 'sendMessage');
    expect(sends).toHaveLength(60);
    // Each chat's two messages in the order they were queued.
    for (const [i, chatId] of chats.entries()) {
      const leads = stub.chat(chatId).map((m) => Number(/leads\/detail\/(\d+)/.exec(m.text)?.[1]));
      expect(leads).toEqual([i === 0 ? 30 : i, i === 0 ? 60 : i + 30]);
    }
    // At 5 a second overall, 60 arrivals span at least 11 s (a slow machine only stretches this); two processes
    // each keeping 5 a second on their own would finish in about 5.5 s. One second of slack for a late first arrival.
    const span = sends[sends.length - 1]!.at - sends[0]!.at;
    expect(span).toBeGreaterThanOrEqual(10_000);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await queues.close();
    await stub.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  }
}, 120_000);
