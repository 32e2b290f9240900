import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { encodeWebhookBody } from '../../../sim/webhooks.js';
import { seedDirectory } from '../../../sim/directory.js';
import { createKeys } from '../../../src/store/keys.js';
import { createWebhookArchive } from '../../../src/store/webhook-inbox.js';
import { clockEnv } from '../../helpers/clock-env.js';
import {
  connectTestRedis,
  dropPrefix,
  TEST_REDIS_CLUSTER_NODES,
  TEST_REDIS_URL,
  uniquePrefix,
} from '../../helpers/redis.js';

/** `npm run rules:preview -- draft.yaml --days 7` as an admin runs it, as a separate process. */
describe('rules:preview CLI', () => {
  const prefix = uniquePrefix('preview');
  const dir = mkdtempSync(join(tmpdir(), 'preview-'));
  const demo = readFileSync('config/rules.demo.yaml', 'utf8');
  const redis = connectTestRedis();
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/rules-preview.ts', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        ...clockEnv(),
        REDIS_URL: TEST_REDIS_URL,
        ...(TEST_REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: TEST_REDIS_CLUSTER_NODES } : {}),
        REDIS_PREFIX: prefix,
        RULES_FILE: join(dir, 'rules.yaml'),
      },
      encoding: 'utf8',
      timeout: 60_000,
    });

  beforeAll(async () => {
    cpSync('config/calendars', join(dir, 'calendars'), { recursive: true });
    writeFileSync(join(dir, 'rules.yaml'), demo);
    writeFileSync(join(dir, 'draft.yaml'), demo.replace('timeout: PT15S', 'timeout: PT60S'));
    writeFileSync(join(dir, 'broken.yaml'), demo.replace('timeout: PT15S', 'timeout: later'));
    writeFileSync(join(dir, 'account.json'), JSON.stringify(seedDirectory()));
    const inbox = createWebhookArchive(redis, createKeys(prefix));
    const t0 = Date.now() - 2 * 24 * 3600_000;
    const sec = Math.floor(t0 / 1000);
    const lead = {
      id: 1000,
      name: 'Заявка',
      price: 0,
      statusId: 7100005,
      pipelineId: 7000001,
      responsibleUserId: 0,
      createdBy: 0,
      updatedBy: 0,
      createdAt: sec,
      updatedAt: sec,
      tags: [],
      isDeleted: false,
    };
    const bodies: Array<[string, number]> = [
      [encodeWebhookBody([{ kind: 'lead', action: 'add', lead }]), t0],
      [
        encodeWebhookBody([
          {
            kind: 'note',
            note: {
              id: 1,
              entityId: 1000,
              noteType: 'common',
              params: { text: 'Позвонила' },
              createdBy: 9101,
              createdAt: sec + 20,
            },
          },
        ]),
        t0 + 20_000,
      ],
    ];
    for (const [body, at] of bodies)
      await inbox.saveRaw({
        deliveryId: createHash('sha256').update(body).digest('hex'),
        receivedAt: new Date(at).toISOString(),
        contentType: 'form',
        body,
      });
  });

  afterAll(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('when a draft gives 60 s instead of 15 s, then Анна would not have missed the lead kept two days ago', () => {
    const res = run(join(dir, 'draft.yaml'), '--days', '7', '--directory', join(dir, 'account.json'));
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('2 deliveries, 2 events, 1 leads');
    const anna = res.stdout.split('\n').find((l) => l.startsWith('Анна Смирнова'));
    // assigned 1 → 1, reassigned away 1 → 0, tasks 0, violations 1 → 0 (hand-computed, see the dry-run unit test)
    expect(anna?.trim().split(/\s{2,}/)).toEqual(['Анна Смирнова', '1', '1 → 0', '0', '1 → 0', '0/0']);
  });

  it('when the draft is invalid, then it exits 1 naming the path', () => {
    const res = run(join(dir, 'broken.yaml'), '--directory', join(dir, 'account.json'));
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('rules.pickup.timeout');
  });
});
