/**
 * Two delivery worker processes on one Redis, the stub failing 30% of calls: every chat still gets each message
 * exactly once and in order (one drainer per chat at a time, across processes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createLogger } from '../../src/lib/logger.js';
import { createQueues } from '../../src/jobs/queues.js';
import { createKeys } from '../../src/store/keys.js';
import { createOutbox } from '../../src/store/outbox.js';
import { wakeRouter } from '../../src/telegram/index.js';
import { createTelegramStub } from '../../sim/telegram-stub.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { seededRandom, STUB_TOKEN } from '../helpers/telegram.js';
import { waitFor } from '../helpers/wait.js';

const CHATS = ['-1001000000001', '-1001000000002', '-1001000000003'];

test('when two worker processes deliver while the stub fails 30% of calls, then each chat gets every message once, in order', async () => {
  const prefix = uniquePrefix('tg-proc');
  const stub = createTelegramStub({ token: STUB_TOKEN, random: seededRandom(5) });
  const apiRoot = await stub.listen();
  stub.failRate(0.3);
  const redis = connectTestRedis();
  const logger = createLogger({ level: 'silent' });
  const queues = createQueues({ connection: redis, prefix: createKeys(prefix).bullPrefix, logger });
  const outbox = createOutbox(redis, createKeys(prefix), { onPushed: wakeRouter(queues) });
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/telegram-worker.ts', TEST_REDIS_URL, prefix, apiRoot, STUB_TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      children.push(child);
      await waitFor(() => out.includes('ready'), `worker process ${i + 1}`, 30_000);
    }
    const expected = new Map(CHATS.map((c) => [c, [] as number[]]));
    for (let leadId = 1; leadId <= 30; leadId++) {
      const chatId = CHATS[leadId % 3]!;
      expected.get(chatId)!.push(leadId);
      await outbox.push(
        { at: new Date().toISOString(), audience: { kind: 'department', department: 'Отдел продаж 1', chatId }, template: 'violation', params: { type: 'lead_stale', rule: 'R10', leadId, violationId: `ls:${leadId}` }, leadId, reason: 'test' },
        `p${leadId}`,
      );
    }
    const leadsIn = (chatId: string): number[] => stub.chat(chatId).map((m) => Number(/leads\/detail\/(\d+)/.exec(m.text)?.[1]));
    await waitFor(() => CHATS.every((c) => leadsIn(c).length >= expected.get(c)!.length), 'every message delivered', 60_000);
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
