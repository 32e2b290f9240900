/**
 * SPEC §4 "Nothing lost": a webhook answered 2xx is processed even if the process dies. The intake writes the
 * dedupe mark and the job in one Lua call, so there is no step between "seen" and "queued" for a crash to fall
 * into. Here the web process (an OS process) is SIGKILLed while deliveries are in flight; then amoCRM's retries
 * (every delivery sent again to a new process) must leave exactly one job per event: none lost, none doubled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { createKeys } from '../../src/store/keys.js';
import { connectTestRedis, dropPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { TEST_TOKEN } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const DELIVERIES = 240;

function statusBody(leadId: number): string {
  const p = new URLSearchParams();
  const base = 'leads[status][0]';
  p.append(`${base}[id]`, String(leadId));
  p.append(`${base}[status_id]`, '7100005');
  p.append(`${base}[old_status_id]`, '7100001');
  p.append(`${base}[pipeline_id]`, '7000001');
  p.append(`${base}[responsible_user_id]`, '9101');
  p.append(`${base}[last_modified]`, String(1748268812 + leadId));
  p.append('account[subdomain]', 'etesttask');
  p.append('account[id]', '32427762');
  return p.toString();
}

async function startWeb(prefix: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/web-process.ts', TEST_REDIS_URL, prefix], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => out.includes('listening '), 'the web process', 60_000);
  return { child, url: /listening (\S+)/.exec(out)?.[1] ?? '' };
}

async function deliver(url: string, leadId: number): Promise<number> {
  try {
    const res = await fetch(`${url}/webhooks/amocrm/${TEST_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: statusBody(leadId),
    });
    return res.status;
  } catch {
    return 0; // the connection died with the process: amoCRM sees a failure and retries
  }
}

async function queuedLeadIds(queue: Queue): Promise<number[]> {
  const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'], 0, -1);
  return jobs.map((j) => (j.data as { event: { leadId: number } }).event.leadId).sort((a, b) => a - b);
}

describe('intake: a delivery acknowledged before a crash is never lost', () => {
  const redis = connectTestRedis();
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  it('when the web process is killed mid-stream, then every 200 has its job, and retries leave exactly one job per event', async () => {
    const prefix = uniquePrefix('crash');
    prefixes.push(prefix);
    const queue = new Queue('events', { connection: connectTestRedis(), prefix: createKeys(prefix).bullPrefix });
    const leadIds = Array.from({ length: DELIVERIES }, (_, i) => 10_000 + i);

    const first = await startWeb(prefix);
    // Deliveries in flight from 20 connections; the process is killed once a third of them are answered.
    const statuses = new Map<number, number>();
    let answered = 0;
    let killed = false;
    const pending = [...leadIds];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
          const status = await deliver(first.url, id);
          statuses.set(id, status);
          if (status === 200 && ++answered >= DELIVERIES / 3 && !killed) {
            killed = true;
            first.child.kill('SIGKILL');
          }
        }
      }),
    );
    const acknowledged = leadIds.filter((id) => statuses.get(id) === 200);
    const failed = leadIds.filter((id) => statuses.get(id) !== 200);
    // Positive controls: the kill happened mid-stream (some answered, some not).
    expect(acknowledged.length).toBeGreaterThanOrEqual(DELIVERIES / 3);
    expect(failed.length).toBeGreaterThan(0);

    // Every acknowledged delivery already has its job, before any retry.
    const afterCrash = new Set(await queuedLeadIds(queue));
    expect(acknowledged.filter((id) => !afterCrash.has(id))).toEqual([]);

    // amoCRM retries every delivery it did not see answered, and may repeat answered ones too: send all again.
    const second = await startWeb(prefix);
    try {
      const again = await Promise.all(leadIds.map((id) => deliver(second.url, id)));
      expect(again.every((s) => s === 200)).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await queuedLeadIds(queue)).toEqual(leadIds);
    await queue.close();
  }, 180_000);
});
