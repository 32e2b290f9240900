import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Service } from '../../src/service.js';
import { connectTestRedis, dropPrefix } from '../helpers/redis.js';
import { startTestService, TEST_TOKEN } from '../helpers/service.js';
import { waitFor } from '../helpers/wait.js';

const FORM = 'application/x-www-form-urlencoded';

function statusBody(
  leadId: number,
  statusId: number,
  opts: { modified?: number; account?: string; lastModified?: number } = {},
): string {
  const p = new URLSearchParams();
  const base = 'leads[status][0]';
  p.append(`${base}[id]`, String(leadId));
  p.append(`${base}[name]`, 'Квартира на Ленина');
  p.append(`${base}[status_id]`, String(statusId));
  p.append(`${base}[old_status_id]`, '7100001');
  p.append(`${base}[pipeline_id]`, '7000001');
  p.append(`${base}[responsible_user_id]`, '9101');
  p.append(`${base}[modified_user_id]`, String(opts.modified ?? 9101));
  p.append(`${base}[last_modified]`, String(opts.lastModified ?? 1748268812));
  p.append(`${base}[updated_at]`, String(opts.lastModified ?? 1748268812));
  p.append('account[subdomain]', opts.account ?? 'etesttask');
  p.append('account[id]', '32427762');
  return p.toString();
}

async function closeAndDrop(service: Service): Promise<void> {
  await service.close();
  const r = connectTestRedis();
  await dropPrefix(r, service.keys.prefix);
  r.disconnect();
}

describe('webhook → queue → worker → lead state (real Redis and BullMQ)', () => {
  let service: Service;

  beforeAll(async () => {
    service = await startTestService();
  });

  afterAll(() => closeAndDrop(service));

  const post = (body: string, opts: { token?: string; type?: string } = {}) =>
    service.app!.inject({
      method: 'POST',
      url: `/webhooks/amocrm/${opts.token ?? TEST_TOKEN}`,
      headers: { 'content-type': opts.type ?? FORM, 'user-agent': 'amoCRM-Webhooks/3.0' },
      payload: body,
    });

  const waitingJobs = async () => {
    const counts = await service.queues
      .get('events')
      .getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  };

  it('when a stage change arrives, then it is acknowledged with 200 and the worker updates the lead state', async () => {
    const res = await post(statusBody(501, 7100005));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, enqueued: 1, duplicates: 0, rejected: 0 });

    const state = await waitFor(
      async () => (await service.leads.get(501))?.statusId === 7100005 && service.leads.get(501),
      'lead 501 state',
    );
    expect(state).toMatchObject({ leadId: 501, pipelineId: 7000001, statusId: 7100005, responsibleUserId: 9101 });
    expect(state && state.statusSince).toBe('2025-05-26T14:13:32.000Z');
    expect(state && state.history).toHaveLength(1);
  });

  it('when the same delivery arrives twice, then only one job is created', async () => {
    const before = await waitingJobs();
    const body = statusBody(502, 7100006);
    const first = await post(body);
    const second = await post(body);
    expect(first.json()).toMatchObject({ enqueued: 1, duplicates: 0 });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ enqueued: 0, duplicates: 1 });
    expect((await waitingJobs()) - before).toBe(1);
  });

  it('when update and status for one change come in one body, then one job is created', async () => {
    const status = statusBody(503, 7100006);
    const update = status.replaceAll('leads%5Bstatus%5D', 'leads%5Bupdate%5D');
    const both = `${status}&${update
      .split('&')
      .filter((kv) => kv.startsWith('leads'))
      .join('&')}`;
    const res = await post(both);
    expect(res.json()).toMatchObject({ enqueued: 1, duplicates: 1 });
  });

  it('when the token is wrong, then 404 without a hint and nothing is enqueued', async () => {
    const before = await waitingJobs();
    const res = await post(statusBody(504, 7100006), { token: 'x'.repeat(36) });
    expect(res.statusCode).toBe(404);
    expect(res.body).not.toContain('token');
    expect(await waitingJobs()).toBe(before);
  });

  it('when the account is another one, then 403 and nothing is enqueued', async () => {
    const before = await waitingJobs();
    const res = await post(statusBody(505, 7100006, { account: 'stranger' }));
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('wrong_account');
    expect(await waitingJobs()).toBe(before);
  });

  it('when the body is garbage, then 400 naming the problem and nothing is enqueued', async () => {
    const before = await waitingJobs();
    const res = await post('%%%garbage[[[=', {});
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toEqual(expect.any(String));
    const json = await post('{"leads": ', { type: 'application/json' });
    expect(json.statusCode).toBe(400);
    expect(json.json().error.message).toMatch(/JSON/);
    expect(await waitingJobs()).toBe(before);
  });

  it('when the body has no event, then 400', async () => {
    const res = await post('account[subdomain]=etesttask&account[id]=1');
    expect(res.statusCode).toBe(400);
  });

  it('when the body is over 1 MiB, then 413', async () => {
    const res = await post(`account[subdomain]=etesttask&x=${'a'.repeat(1024 * 1024 + 10)}`);
    expect(res.statusCode).toBe(413);
  });

  it('when the content type is unsupported, then 415', async () => {
    const res = await post('<xml/>', { type: 'text/xml' });
    expect(res.statusCode).toBe(415);
  });

  it('when the same structure comes as JSON, then it is accepted', async () => {
    const body = JSON.stringify({
      leads: {
        status: [
          {
            id: '506',
            status_id: '7100005',
            pipeline_id: '7000001',
            old_status_id: '7100001',
            last_modified: '1748268900',
          },
        ],
      },
      account: { subdomain: 'etesttask', id: '32427762' },
    });
    const res = await post(body, { type: 'application/json' });
    expect(res.statusCode).toBe(200);
    await waitFor(async () => (await service.leads.get(506))?.statusId === 7100005, 'lead 506 state');
  });

  it('when one item is invalid, then the valid ones go through and the invalid one is dead-lettered with its reason', async () => {
    const body = `${statusBody(507, 7100005)}&leads[status][1][id]=not-a-number&leads[status][1][status_id]=1`;
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ enqueued: 1, rejected: 1 });
    const dead = await service.inbox.listDeadLetters(10);
    expect(dead[0]).toMatchObject({ path: expect.stringContaining('status'), reason: expect.any(String) });
    await waitFor(async () => (await service.leads.get(507))?.statusId === 7100005, 'lead 507 state');
  });

  it('when a body is accepted, then its raw text is kept for audit and replay', async () => {
    const body = statusBody(508, 7100005);
    const res = await post(body);
    const raw = await service.inbox.getRaw(res.json().deliveryId);
    expect(raw?.body).toBe(body);
    expect(raw?.userAgent).toBe('amoCRM-Webhooks/3.0');
  });

  it('when the worker has run the event, then the raw body is kept compact with the expiry the intake gave it, and a redelivery does not undo that', async () => {
    const body = statusBody(509, 7100005);
    const res = await post(body);
    const { deliveryId } = res.json() as { deliveryId: string };
    const key = service.keys.raw(deliveryId);
    // The request path stores it plain (no deflate on the request path).
    const first = await service.redis.getBuffer(key);
    await waitFor(async () => (await service.leads.get(509))?.statusId === 7100005, 'lead 509 state');
    await waitFor(async () => (await service.redis.getBuffer(key))?.[0] === 0x06, 'raw body compacted');
    const compact = (await service.redis.getBuffer(key))!;
    expect(first === null || first.length > compact.length * 3).toBe(true);
    expect(compact.length).toBeLessThan(300);
    const ttl = await service.redis.ttl(key);
    expect(ttl).toBeGreaterThan(23 * 3600);
    expect(ttl).toBeLessThanOrEqual(24 * 3600);
    expect((await service.inbox.getRaw(deliveryId))?.body).toBe(body);

    const again = await post(body);
    expect(again.json()).toMatchObject({ deliveryId, enqueued: 0, duplicates: 1 });
    expect((await service.redis.getBuffer(key))?.[0]).toBe(0x06);
  });

  it('when many deliveries arrive at once (sharing one Redis write), then each is answered with its own outcome', async () => {
    // 20 leads, each delivered twice at once, some with an invalid second item (extra dead-letter commands in the
    // shared pipeline shift every later delivery's results).
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const body =
        i % 3 === 0
          ? `${statusBody(800 + i, 7100005)}&leads[status][1][id]=bad&leads[status][1][status_id]=1`
          : statusBody(800 + i, 7100005);
      bodies.push(body, body);
    }
    const answers = await Promise.all(bodies.map((b) => post(b)));
    expect(answers.every((a) => a.statusCode === 200)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const pair = [answers[2 * i]!.json(), answers[2 * i + 1]!.json()] as Array<{
        enqueued: number;
        duplicates: number;
        rejected: number;
      }>;
      expect(pair.map((a) => a.enqueued).sort()).toEqual([0, 1]);
      expect(pair.map((a) => a.duplicates).sort()).toEqual([0, 1]);
      expect(pair.every((a) => a.rejected === (i % 3 === 0 ? 1 : 0))).toBe(true);
    }
    for (let i = 0; i < 20; i++)
      await waitFor(async () => (await service.leads.get(800 + i))?.statusId === 7100005, `lead ${800 + i} state`);
  });

  it('health and metrics answer', async () => {
    expect((await service.app!.inject('/health/live')).statusCode).toBe(200);
    expect((await service.app!.inject('/health/ready')).json()).toMatchObject({ status: 'ok' });
    const metrics = await service.app!.inject('/metrics');
    expect(metrics.body).toContain('amo_webhooks_received_total{outcome="accepted"}');
    expect(metrics.body).toContain('amo_webhooks_rejected_total{reason="unknown_token"} 1');
    expect(metrics.body).toMatch(/amo_queue_depth\{queue="events",state="waiting"\}/);
  });
});

describe('RAW_BODY_RETENTION=0', () => {
  it('keeps no raw body and asks the worker for no compaction, while the event still goes through', async () => {
    const service = await startTestService({ RAW_BODY_RETENTION: 0 });
    try {
      const res = await service.app!.inject({
        method: 'POST',
        url: `/webhooks/amocrm/${TEST_TOKEN}`,
        headers: { 'content-type': FORM },
        payload: statusBody(601, 7100005),
      });
      expect(res.statusCode).toBe(200);
      const { deliveryId } = res.json() as { deliveryId: string };
      await waitFor(async () => (await service.leads.get(601))?.statusId === 7100005, 'lead 601 state');
      expect(await service.redis.exists(service.keys.raw(deliveryId))).toBe(0);
      const jobs = await service.queues.get('events').getJobs(['completed', 'active', 'waiting'], 0, 10);
      expect(jobs.length).toBeGreaterThan(0);
      for (const job of jobs) expect(job.data).not.toHaveProperty('compactRaw');
    } finally {
      await closeAndDrop(service);
    }
  });
});
