/**
 * The intake when Redis goes away: amoCRM must get a 503 quickly (it retries), never a 200 for a delivery that was
 * not stored, and the intake must serve again once Redis is back, on every connection it uses.
 * A private redis-server (AOF on) is killed and started again on the same port and directory.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, realClockEnv, redisAnswers } from '../../sim/local-redis.js';
import type { WebhookEventJob } from '../../src/jobs/catalog.js';
import { leadIdOf } from '../../src/rules/lead-state.js';
import type { Service } from '../../src/service.js';
import { startTestService, TEST_TOKEN } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const FORM = 'application/x-www-form-urlencoded';
const body = (leadId: number): string =>
  new URLSearchParams({
    'leads[status][0][id]': String(leadId),
    'leads[status][0][status_id]': '7100005',
    'leads[status][0][pipeline_id]': '7000001',
    'leads[status][0][last_modified]': '1748268812',
    'account[subdomain]': 'etesttask',
    'account[id]': '32427762',
  }).toString();

describe('intake with Redis down and back', () => {
  let port: number;
  let dir: string;
  let redis: ChildProcess | undefined;
  let service: Service;

  const startRedis = async (): Promise<void> => {
    redis = spawn(
      'redis-server',
      // fsync before every reply: with "everysec" a busy disk postpones the AOF write past the reply, and a
      // SIGKILL then loses a delivery that was answered 200 (what this test must not confuse with the service).
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ],
      { stdio: 'ignore', env: realClockEnv() },
    );
    await waitFor(() => redisAnswers(`redis://127.0.0.1:${port}`), 'redis-server up');
  };
  const killRedis = async (): Promise<void> => {
    const child = redis!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  const post = (leadId: number) =>
    service.app!.inject({
      method: 'POST',
      url: `/webhooks/amocrm/${TEST_TOKEN}`,
      headers: { 'content-type': FORM },
      payload: body(leadId),
    });

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'amo-intake-redis-'));
    await startRedis();
    // A web process only (no workers): what it queued stays in the queue to be counted.
    service = await startTestService({
      ROLE: 'web',
      REDIS_URL: `redis://127.0.0.1:${port}`,
      REDIS_CLUSTER_NODES: undefined,
    });
  });

  afterAll(async () => {
    await service.close().catch(() => undefined);
    if (redis && redis.exitCode === null) await killRedis();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 200 while Redis is up, 503 (not a hang, not a 200) while it is down, and 200 again once it is back', async () => {
    expect((await post(701)).statusCode).toBe(200);

    await killRedis();
    const down = await post(702);
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ error: { code: 'unavailable' } });

    await startRedis();
    await waitFor(async () => (await post(703)).statusCode === 200, 'intake serving again');
    // 701 survived the restart (AOF), 702 was refused (amoCRM retries it), 703 is queued once.
    const jobs = await service.queues.get('events').getJobs(['waiting'], 0, 100);
    const leads = jobs.map((j) => leadIdOf((j.data as WebhookEventJob).event)).sort();
    expect(leads).toEqual([701, 703]);
  });
});
