/**
 * R2 pause and resume of intake through the admin API (seed 002 §2.13, §3.10), with the rotation that reads the same
 * store: a manager paused here is skipped by the next lead's pick, with the pause's reason in the record.
 * Real Redis under the harness's prefix, app.inject(), the pickup engine on the in-memory amoCRM.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createWebhookEventHandler } from '../../../src/jobs/handlers/webhook-event.js';
import { createLogger } from '../../../src/lib/logger.js';
import type { LeadEvent } from '../../../src/rules/events.js';
import type { DistributionExplanation } from '../../../src/rules/types.js';
import { createIntakeStore } from '../../../src/store/intake-store.js';
import { bearer, NOW, signIn, startAdminHarness, type AdminHarness } from '../../helpers/admin.js';
import { createFakeAmo } from '../../helpers/fake-amo.js';
import { wirePickup } from '../../helpers/pickup-harness.js';
import { ADMIN, demoRules, PIPELINE, STAGE } from '../../helpers/rules.js';

const ANNA = 9101; // weight 2: the rotation's first pick in Отдел продаж 1 (an even lead id falls to that department)
const DEPT1 = 'Отдел продаж 1';
const REASON = 'нарушение регламента: 3 пропуска за день';

describe('admin API: pause and resume of intake (R2, seed 002 §2.13, §3.10)', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdminHarness({ signInPerMinute: 100 });
  });
  afterAll(async () => {
    await h.close();
  });

  /** The pickup engine as the worker runs it: its rule context reads the run-time pauses from the same store. */
  async function rotation(leadIds: number[]) {
    const rules = await demoRules();
    const fake = createFakeAmo(
      leadIds.map((id) => ({ id, responsible: ADMIN, statusId: STAGE, pipelineId: PIPELINE })),
    );
    const logger = createLogger({ level: 'silent' });
    const intake = createIntakeStore(h.redis, h.keys);
    const { leads, effects, engine } = wirePickup({
      redis: h.redis,
      prefix: h.keys.prefix,
      rules: () => rules,
      fake,
      clock: h.clock,
      logger,
      context: async (ctx) => ({ ...ctx, paused: await intake.list() }),
    });
    const handle = createWebhookEventHandler({
      leads,
      clock: h.clock,
      logger,
      effects,
      onLeadEvent: (input) => engine.onLeadEvent(input),
    });
    const arrive = async (
      leadId: number,
    ): Promise<{ userId: number | undefined; explanation: DistributionExplanation }> => {
      await handle({ event: created(leadId) });
      const record = (await h.records.forLead(leadId)).find((r) => r.kind === 'assignment');
      expect(record).toBeDefined();
      return { userId: record!.userId, explanation: record!.explanation as DistributionExplanation };
    };
    return { arrive, fake };
  }

  const created = (leadId: number): LeadEvent => ({
    kind: 'lead',
    action: 'add',
    leadId,
    short: false,
    tags: [],
    customFields: [],
    pipelineId: PIPELINE,
    statusId: STAGE,
    responsibleUserId: ADMIN,
    createdUserId: ADMIN,
    modifiedUserId: ADMIN,
    updatedAt: NOW,
    dedupeKey: `lead:${leadId}:add`,
    deliveryId: `d${leadId}`,
    receivedAt: NOW,
    account: { subdomain: 'demo-realty' },
  });

  const listing = async () => {
    const res = await h.app.inject({ method: 'GET', url: '/admin/api/intake', headers: bearer });
    expect(res.statusCode).toBe(200);
    return res.json() as {
      departments: Array<{
        name: string;
        pauses: Array<Record<string, unknown>>;
        managers: Array<{ userId: number; receiving: boolean; pauses: Array<Record<string, unknown>> }>;
      }>;
      history: Array<{ kind: string; userId?: number; department?: string; reason: string; rule: string }>;
    };
  };
  const anna = async () =>
    (await listing()).departments.find((d) => d.name === DEPT1)!.managers.find((m) => m.userId === ANNA)!;

  it('when a session pauses a manager, then the next lead skips her with the reason, and the listing, history and audit say who and why; resumed, she gets leads again', async () => {
    const { arrive } = await rotation([880_002, 880_004, 880_006]);
    // Positive control: before the pause Анна (weight 2) is the rotation's first pick.
    expect((await arrive(880_002)).userId).toBe(ANNA);
    expect(await anna()).toMatchObject({ receiving: true, pauses: [] });

    const { cookie, csrf } = await signIn(h.app);
    const paused = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/managers/${ANNA}/pause`,
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { reason: REASON, by: 'Дмитрий Лебедев' },
    });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({
      ok: true,
      target: `manager:${ANNA}`,
      paused: { reason: REASON, by: expect.stringMatching(/^Дмитрий Лебедев \(admin session:[\w-]{8}\)$/), at: NOW },
    });

    // The next lead: Анна is skipped as paused, with the pause's own reason in the record.
    const next = await arrive(880_004);
    expect(next.userId).not.toBe(ANNA);
    expect(next.explanation.skipped).toContainEqual({ userId: ANNA, reason: 'paused', detail: REASON });
    expect(next.explanation.candidates.map((c) => c.userId)).not.toContain(ANNA);

    const who = await anna();
    expect(who.receiving).toBe(false);
    expect(who.pauses).toEqual([
      { source: 'runtime', reason: REASON, by: expect.stringContaining('Дмитрий Лебедев'), at: NOW },
    ]);
    const listed = await listing();
    expect(listed.history[0]).toMatchObject({ kind: 'intake_paused', userId: ANNA, rule: 'R2' });
    expect(listed.history[0]!.reason).toContain(REASON);
    const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
      entries: Array<{ action: string; outcome: string; actor: string; detail?: Record<string, unknown> }>;
    };
    expect(audit.entries.find((e) => e.action === 'intake_pause')).toMatchObject({
      outcome: 'ok',
      actor: expect.stringMatching(/^session:/),
      detail: { target: `manager:${ANNA}`, reason: REASON, by: 'Дмитрий Лебедев' },
    });

    // Pausing again keeps the first pause and says so.
    const again = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/managers/${ANNA}/pause`,
      headers: bearer,
      payload: { reason: 'ещё раз' },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'already_paused', message: expect.stringContaining(REASON) } });

    h.clock.advance(60_000);
    const resumed = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/managers/${ANNA}/resume`,
      headers: bearer,
      payload: { reason: 'поговорили, исправится' },
    });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({
      ok: true,
      resumed: { by: 'admin token', reason: 'поговорили, исправится' },
    });
    expect(await anna()).toMatchObject({ receiving: true, pauses: [] });
    expect((await listing()).history.slice(0, 2).map((r) => r.kind)).toEqual(['intake_resumed', 'intake_paused']);
    const third = await arrive(880_006);
    expect(third.explanation.skipped.map((s) => s.userId)).not.toContain(ANNA);
    expect(third.explanation.candidates.map((c) => c.userId)).toContain(ANNA);

    const notPaused = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/managers/${ANNA}/resume`,
      headers: bearer,
      payload: { reason: 'повтор' },
    });
    expect(notPaused.statusCode).toBe(409);
    expect(notPaused.json()).toMatchObject({ error: { code: 'not_paused' } });
  });

  it('when a manager is inactive in amoCRM, then the listing says so and does not show them as receiving leads', async () => {
    const listed = (await listing()).departments.find((d) => d.name === DEPT1)!.managers as Array<{
      userId: number;
      receiving: boolean;
      active?: boolean;
      pauses: unknown[];
    }>;
    // Леонид Уволенный (9901) is listed in the department but deactivated in the account.
    expect(listed.find((m) => m.userId === 9901)).toMatchObject({ active: false, receiving: false, pauses: [] });
    expect(listed.find((m) => m.userId === ANNA)).toMatchObject({ active: true });
  });

  it('when a department is paused, then the listing marks every manager of it as not receiving, and resume lifts it', async () => {
    const dept = encodeURIComponent(DEPT1);
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/departments/${dept}/pause`,
      headers: bearer,
      payload: { reason: 'приостановка трафика' },
    });
    expect(res.statusCode).toBe(200);
    const d = (await listing()).departments.find((x) => x.name === DEPT1)!;
    expect(d.pauses).toEqual([expect.objectContaining({ source: 'runtime', reason: 'приостановка трафика' })]);
    expect(d.managers.every((m) => !m.receiving)).toBe(true);
    // Positive control: the other department still receives.
    expect((await listing()).departments.find((x) => x.name !== DEPT1)!.managers.some((m) => m.receiving)).toBe(true);
    const back = await h.app.inject({
      method: 'POST',
      url: `/admin/api/intake/departments/${dept}/resume`,
      headers: bearer,
      payload: { reason: 'трафик возобновлён' },
    });
    expect(back.statusCode).toBe(200);
    expect((await listing()).departments.find((x) => x.name === DEPT1)!.pauses).toEqual([]);
  });

  describe('refusals', () => {
    it('when no token or session is sent, then 401 and nothing is paused', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/admin/api/intake/managers/${ANNA}/pause`,
        payload: { reason: REASON },
      });
      expect(res.statusCode).toBe(401);
      expect((await h.app.inject({ method: 'GET', url: '/admin/api/intake' })).statusCode).toBe(401);
      expect((await createIntakeStore(h.redis, h.keys).list()).size).toBe(0);
    });

    it('when a session writes without the CSRF header, then 403 and nothing is paused', async () => {
      const { cookie } = await signIn(h.app);
      const res = await h.app.inject({
        method: 'POST',
        url: `/admin/api/intake/managers/${ANNA}/pause`,
        headers: { cookie },
        payload: { reason: REASON },
      });
      expect(res.statusCode).toBe(403);
      expect((await createIntakeStore(h.redis, h.keys).list()).size).toBe(0);
    });

    it.each([
      ['no reason', `/admin/api/intake/managers/${ANNA}/pause`, {}, /reason/],
      ['a blank reason', `/admin/api/intake/managers/${ANNA}/pause`, { reason: '   ' }, /say why/],
      ['a user id that is not a number', '/admin/api/intake/managers/anna/pause', { reason: REASON }, /userId/],
      ['a reason that is not text', `/admin/api/intake/managers/${ANNA}/resume`, { reason: 42 }, /reason/],
    ])(
      'when the request has %s, then 400 naming the problem and nothing changes',
      async (_name, url, payload, message) => {
        const res = await h.app.inject({ method: 'POST', url, headers: bearer, payload });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ error: { code: 'bad_request', message: expect.stringMatching(message) } });
        expect((await createIntakeStore(h.redis, h.keys).list()).size).toBe(0);
      },
    );

    it('when the target is nobody the config knows, then 404 with the reason, audited as invalid', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/intake/managers/123456/pause',
        headers: bearer,
        payload: { reason: REASON },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({
        error: { code: 'not_found', message: 'user 123456 is not a manager of any department in the running config' },
      });
      const dept = await h.app.inject({
        method: 'POST',
        url: `/admin/api/intake/departments/${encodeURIComponent('Отдел продаж 9')}/pause`,
        headers: bearer,
        payload: { reason: REASON },
      });
      expect(dept.statusCode).toBe(404);
      expect(dept.json()).toMatchObject({
        error: { message: expect.stringContaining('no department "Отдел продаж 9"') },
      });
      const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
        entries: Array<{ action: string; outcome: string }>;
      };
      expect(audit.entries[0]).toMatchObject({ action: 'intake_pause', outcome: 'invalid' });
      expect((await createIntakeStore(h.redis, h.keys).list()).size).toBe(0);
    });
  });
});

describe('admin API: a pause written in the rules config', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdminHarness({
      rulesText: (demo) =>
        demo.replace(
          '- { user: Борис Кузнецов, weight: 1, cap: 20 }',
          '- { user: Борис Кузнецов, weight: 1, cap: 20, paused: { reason: отпуск до понедельника } }',
        ),
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('when a manager is paused in the config, then the listing shows it as such and a run-time resume is refused with where to change it', async () => {
    const list = (await h.app.inject({ method: 'GET', url: '/admin/api/intake', headers: bearer })).json() as {
      departments: Array<{ managers: Array<{ userId: number; receiving: boolean; pauses: unknown[] }> }>;
    };
    expect(list.departments[0]!.managers.find((m) => m.userId === 9102)).toEqual(
      expect.objectContaining({ receiving: false, pauses: [{ source: 'config', reason: 'отпуск до понедельника' }] }),
    );
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/api/intake/managers/9102/resume',
      headers: bearer,
      payload: { reason: 'вернулся' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      error: { code: 'paused_in_config', message: expect.stringContaining('remove "paused" there') },
    });
  });
});
