/** `npm run telegram:link` as an admin runs it: a separate process, the amoCRM simulator, the Bot API stub, real Redis. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSimulator, type Simulator } from '../../sim/server.js';
import { createTelegramStub, type TelegramStub } from '../../sim/telegram-stub.js';
import { createKeys } from '../../src/store/keys.js';
import { createLinkStore } from '../../src/telegram/links.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const run = promisify(execFile);
const TOKEN = '123456:link-cli-stub-token';

describe('npm run telegram:link', () => {
  let sim: Simulator;
  let stub: TelegramStub;
  const prefix = uniquePrefix('tglink');
  const redis = connectTestRedis();
  let env: Record<string, string>;

  beforeAll(async () => {
    sim = createSimulator({ longLivedToken: 'link-cli-amo-token' });
    const amo = await sim.listen();
    stub = createTelegramStub({ token: TOKEN, botUsername: 'agency_discipline_bot' });
    const root = await stub.listen();
    env = {
      ...(process.env as Record<string, string>),
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      AMO_BASE_URL: amo,
      AMO_LONG_LIVED_TOKEN: 'link-cli-amo-token',
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_API_ROOT: root,
      RULES_FILE: 'config/rules.demo.yaml',
    };
    delete env.NODE_OPTIONS;
  });
  afterAll(async () => {
    await stub.close();
    await sim.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  test('when an admin asks for a link for a user by name, then it prints a one-time deep link that links that user once', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/telegram-link.ts', 'Анна Смирнова'], {
      env,
      timeout: 30_000,
    });
    const link = stdout.trim();
    const m = /^https:\/\/t\.me\/agency_discipline_bot\?start=([A-Za-z0-9_-]{16,64})$/.exec(link);
    expect(m).not.toBeNull();
    const links = createLinkStore(redis, createKeys(prefix));
    expect(await links.consume(m![1]!, '5001')).toEqual({ userId: 9101, name: 'Анна Смирнова' });
    expect(await links.consume(m![1]!, '5002')).toBeUndefined();
  });
});
