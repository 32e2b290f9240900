/**
 * R3 on real Redis and the simulator: the whole service (webhooks → worker → rule → shared executor → amoCRM) with
 * a clock the test moves, so a day past due and the end of an 8-week cadence happen in seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Clock } from '../../src/lib/clock.js';
import type { SimTask } from '../../sim/account.js';
import { startE2E, type E2E } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

const STAGE = 'Не дозвонились';
const ANNA = 9101;
const DAY = 24 * 3600_000;

describe('R3 call cadence on the simulator', () => {
  let e2e: E2E;
  // Real time shifted by an offset the test moves: webhooks keep their real order, days pass at will.
  let offsetMs = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };

  beforeAll(async () => {
    e2e = await startE2E({ clock });
  }, 30_000);
  afterAll(async () => {
    await e2e?.close();
  });

  const tasksOf = (leadId: number): SimTask[] =>
    [...e2e.sim.account.tasks.values()].filter((t) => t.entityId === leadId);
  const openCalls = (leadId: number): SimTask[] =>
    tasksOf(leadId).filter((t) => !t.isCompleted && t.text.startsWith('Звонок'));
  const notesOf = (leadId: number): string[] =>
    [...e2e.sim.account.notes.values()]
      .filter((n) => n.entityId === leadId && n.noteType === 'common')
      .map((n) => String(n.params.text));
  const newLead = (name: string) =>
    e2e.sim.account.createLead({
      name,
      statusId: e2e.sim.account.statusByName(STAGE).id,
      responsibleUserId: ANNA,
      by: ANNA,
    });
  const firstTask = (leadId: number, what = 'the first cadence task') =>
    waitFor(() => openCalls(leadId)[0], what, 15_000);

  it('when a lead enters «Не дозвонились», then its manager gets one call task; completing it without a call yields the next and a messenger task', async () => {
    const lead = newLead('Клиент не берёт трубку');
    const first = await firstTask(lead.id);
    expect(first.text).toMatch(/^Звонок 1 из 4, неделя 1 — первая попытка\./);
    expect(first.responsibleUserId).toBe(ANNA);
    expect(first.createdBy).toBe(9001); // written by the integration through the executor
    await waitFor(
      () => notesOf(lead.id).some((t) => t.includes('запущена каденция звонков «primary-market»')),
      'start note',
    );

    e2e.sim.account.completeTask(first.id, 'Не дозвонился', ANNA);
    const second = await waitFor(() => openCalls(lead.id)[0], 'the second call task', 15_000);
    expect(second.text).toMatch(/^Звонок 2 из 4, неделя 1 — клиент не ответил 1 раз\./);
    expect(second.completeTill).toBeGreaterThan(first.completeTill);
    await waitFor(() => tasksOf(lead.id).find((t) => t.text.includes('WhatsApp/Telegram')), 'messenger task');
    expect(openCalls(lead.id)).toHaveLength(1);
    const records = await waitFor(async () => {
      const list = (await e2e.runtimes[0]!.records.forLead(lead.id)).filter((r) => r.rule === 'R3');
      return list.length >= 3 && list;
    }, 'records');
    expect(records.map((r) => r.type)).toEqual(['cadence_started', 'cadence_task', 'cadence_task']);
  }, 40_000);

  it('when the client answers a call, then the cadence stops and its open task is closed; a short unanswered call before it changes nothing', async () => {
    const lead = newLead('Клиент ответит');
    const task = await firstTask(lead.id);
    e2e.sim.account.call({ leadId: lead.id, by: ANNA, durationSec: 6, status: 6 });
    await waitFor(
      async () => ((await e2e.runtimes[0]!.cadence!.readState(lead.id))?.calls.length ?? 0) === 1,
      'unanswered call seen',
    );
    expect(openCalls(lead.id).map((t) => t.id)).toEqual([task.id]); // positive control: still running, same task
    e2e.sim.account.call({ leadId: lead.id, by: ANNA, durationSec: 240, status: 4 });
    await waitFor(() => e2e.sim.account.tasks.get(task.id)!.isCompleted, 'task closed by the robot', 15_000);
    expect(e2e.sim.account.tasks.get(task.id)!.resultText).toBe('Закрыто роботом: клиент ответил на звонок.');
    expect(await e2e.runtimes[0]!.cadence!.readState(lead.id)).toMatchObject({
      status: 'stopped',
      stoppedBy: 'answered_call',
    });
    await waitFor(
      () => notesOf(lead.id).some((t) => t.includes('остановлена — клиент ответил на звонок')),
      'stop note',
    );
    expect(openCalls(lead.id)).toHaveLength(0);
  }, 40_000);

  it('when the lead leaves the stage, then the cadence stops and sets nothing more', async () => {
    const lead = newLead('Назначили встречу');
    const task = await firstTask(lead.id);
    e2e.sim.account.updateLead(lead.id, { statusId: e2e.sim.account.statusByName('Встреча назначена').id }, ANNA);
    await waitFor(() => e2e.sim.account.tasks.get(task.id)!.isCompleted, 'task closed on leaving', 15_000);
    expect(await e2e.runtimes[0]!.cadence!.readState(lead.id)).toMatchObject({
      status: 'stopped',
      stoppedBy: 'left_stage',
    });
    expect(openCalls(lead.id)).toHaveLength(0);
  }, 40_000);

  it('when a lead sits in the stage and its webhook was lost, then the sweep lets it join with one paged leads request', async () => {
    e2e.sim.webhooks.dropNext(1);
    const lead = newLead('Лид без вебхука');
    await e2e.sim.webhooks.flush();
    const result = await e2e.runtimes[0]!.cadence!.sweep();
    const inStage = [...e2e.sim.account.leads.values()].filter(
      (l) => l.statusId === e2e.sim.account.statusByName(STAGE).id,
    ).length;
    expect(result).toMatchObject({ found: inStage, requests: 1 }); // one page of up to 250 leads, not a request per lead
    expect(result.joined).toBeGreaterThanOrEqual(1);
    const task = await firstTask(lead.id, 'task of the swept lead');
    expect(task.text).toMatch(/^Звонок 1 из 4/);
  }, 40_000);

  it('when a task is left undone a day past due, then call_overdue is recorded, the РОП alert is queued and the call is set again', async () => {
    const lead = newLead('Менеджер забыл');
    const task = await firstTask(lead.id);
    await waitFor(
      async () => (await e2e.runtimes[0]!.effects!.executor.store.pendingPlans(lead.id)).length === 0,
      'start plan carried out',
      30_000,
    );
    offsetMs = task.completeTill * 1000 + DAY + 60_000 - Date.now();
    await e2e.runtimes[0]!.effects!.tick();
    await waitFor(
      () => e2e.sim.account.tasks.get(task.id)!.isCompleted && openCalls(lead.id)[0],
      'the call set again',
      15_000,
    );
    const violation = await waitFor(
      async () => (await e2e.runtimes[0]!.records.forLead(lead.id)).find((r) => r.kind === 'violation'),
      'the violation record',
    );
    expect(violation).toMatchObject({
      type: 'call_overdue',
      rule: 'R3',
      seed: 'seed 001 «Не дозвонились»',
      userId: ANNA,
      violationId: expect.stringMatching(new RegExp(`^call_overdue:${lead.id}:\\d+:1$`)),
    });
    const alerts = (await e2e.runtimes[0]!.outbox.pending(500)).filter(
      (m) => m.leadId === lead.id && m.template === 'violation',
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.params).toMatchObject({
      type: 'call_overdue',
      rule: 'R3',
      leadId: lead.id,
      userId: ANNA,
      violationId: violation!.violationId,
    });
    expect(openCalls(lead.id)[0]!.text).toMatch(/^Звонок 1 из 4.*Повторно/);
  }, 40_000);

  it('when every call of the 8 weeks goes unanswered, then at the end the lead moves to «На закрытие» with a note listing the attempts', async () => {
    const lead = newLead('Так и не ответил');
    for (let step = 1; step <= 14; step++) {
      const task = await firstTask(lead.id, `call task ${step}`);
      expect(task.text).toMatch(/^Звонок \d+ из \d+/);
      // Time jumps only when the executor is idle for the lead: its leases run on the same clock, and a jump mid-plan
      // would hand a live plan to another worker as if its holder had died.
      await waitFor(
        async () => (await e2e.runtimes[0]!.effects!.executor.store.pendingPlans(lead.id)).length === 0,
        `plans of step ${step} carried out`,
        30_000,
      );
      offsetMs += 2 * 3600_000; // the manager calls a couple of hours after the task appeared
      e2e.sim.account.call({ leadId: lead.id, by: ANNA, durationSec: 0, status: 3 });
      e2e.sim.account.completeTask(task.id, 'Не дозвонился', ANNA);
      await waitFor(
        () =>
          openCalls(lead.id).every((t) => t.id !== task.id) &&
          (tasksOf(lead.id).filter((t) => t.text.startsWith('Звонок')).length > step || step === 14),
        `step ${step} done`,
        30_000,
      );
    }
    let last = '';
    // Every call note is in (a note may be handled after the completion it preceded; it still counts for its step).
    await waitFor(
      async () => {
        const state = await e2e.runtimes[0]!.cadence!.readState(lead.id);
        last = JSON.stringify({
          status: state?.status,
          attempts: state?.attempts.map((a) => [a.step, a.outcome, a.calls, a.at]),
          calls: state?.calls,
          open: state?.openTask,
        });
        return (
          state?.status === 'waiting_end' &&
          state.attempts.length === 14 &&
          state.attempts.every((a) => a.outcome === 'no_answer' && a.calls === 1)
        );
      },
      'every call counted and the cadence waiting for the end of week 8',
      30_000,
    ).catch((err: unknown) => {
      console.log(
        last,
        [...e2e.sim.account.notes.values()]
          .filter((n) => n.entityId === lead.id && n.noteType === 'call_out')
          .map((n) => n.createdAt),
      );
      throw err;
    });
    expect(e2e.sim.account.leads.get(lead.id)!.statusId).toBe(e2e.sim.account.statusByName(STAGE).id); // not before day 56
    await waitFor(
      async () => (await e2e.runtimes[0]!.effects!.executor.store.pendingPlans(lead.id)).length === 0,
      'plans carried out',
      30_000,
    );
    offsetMs += 57 * DAY;
    await e2e.runtimes[0]!.effects!.tick();
    await waitFor(
      () => e2e.sim.account.leads.get(lead.id)!.statusId === e2e.sim.account.statusByName('На закрытие').id,
      'moved to «На закрытие»',
      15_000,
    );
    const note = await waitFor(
      () => notesOf(lead.id).find((t) => t.includes('каденция «primary-market» завершена')),
      'end note',
    );
    if (process.env.DEBUG_E2E) console.log(note);
    expect(note.match(/не ответил \(звонков: 1\)/g)).toHaveLength(14);
    expect(tasksOf(lead.id).filter((t) => t.text.startsWith('Звонок'))).toHaveLength(14);
  }, 150_000);
});
