import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DateTime } from 'luxon';
import { MEETING_FIELD_ID } from '../../sim/account.js';
import { startE2E, type E2E } from '../helpers/e2e.js';
import { leadsAwaitingClose } from '../../src/jobs/handlers/stage-rules.js';
import { demoRules } from '../helpers/rules.js';
import { waitFor } from '../helpers/wait.js';

const ANNA = 9101;
const ZONE = 'Europe/Moscow';

describe('Stage rules end to end: Новый лид → … → Встреча назначена → Отправлено КП, skipping "Встреча состоялась"', () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  }, 30_000);
  afterAll(async () => {
    await e2e?.close();
  });

  it('then every task, violation and alert of R7, R8 and R9 is there once, and the confirmations are completed when the lead leaves', async () => {
    const { sim, runtimes } = e2e;
    const { account } = sim;
    const stage = (name: string): number => account.statusByName(name).id;
    const tasksOf = (leadId: number) => [...account.tasks.values()].filter((t) => t.entityId === leadId);
    const notesOf = (leadId: number) =>
      [...account.notes.values()]
        .filter((n) => n.entityId === leadId && n.noteType === 'common')
        .map((n) => String(n.params.text));

    const lead = account.createLead({
      name: 'Заявка: 1-к квартира у моря',
      statusId: stage('Новый лид'),
      responsibleUserId: ANNA,
      by: 0,
    });
    account.updateLead(lead.id, { statusId: stage('Потребности выявлены') }, ANNA);

    // The meeting: the day after tomorrow at 15:00 Moscow time (seed 004: that morning and 2-3 h before).
    const meeting = DateTime.now()
      .setZone(ZONE)
      .plus({ days: 2 })
      .set({ hour: 15, minute: 0, second: 0, millisecond: 0 });
    await new Promise((r) => setTimeout(r, 1_100)); // a new second, so the stage change has its own updated_at
    account.updateLead(
      lead.id,
      { statusId: stage('Встреча назначена'), customFields: { [MEETING_FIELD_ID]: String(meeting.toSeconds()) } },
      ANNA,
    );
    const confirmations = await waitFor(
      () => {
        const ts = tasksOf(lead.id).filter((t) => t.text.startsWith('Подтвердите встречу'));
        return ts.length === 2 && ts;
      },
      'two confirmation tasks',
      20_000,
    );
    expect(confirmations.map((t) => t.completeTill).sort()).toEqual([
      meeting.set({ hour: 10 }).toSeconds(),
      meeting.set({ hour: 13 }).toSeconds(),
    ]);
    for (const t of confirmations) {
      expect(t.responsibleUserId).toBe(ANNA);
      expect(t.text).toContain(
        '«Мы с Вами договорились о встрече в 15:00. Напишите ответ, что встреча в силе. Спасибо»',
      );
    }

    await new Promise((r) => setTimeout(r, 1_100));
    const offerAt = DateTime.now().setZone(ZONE);
    account.updateLead(lead.id, { statusId: stage('Отправлено КП') }, ANNA);

    // R8: the skipped "Встреча состоялась" is a violation, an alert for the РОП and a task to record the meeting.
    const violation = await waitFor(
      async () => (await runtimes[0]!.records.forLead(lead.id)).find((r) => r.kind === 'violation'),
      'meeting_skipped violation',
      20_000,
    );
    expect(violation).toMatchObject({
      type: 'meeting_skipped',
      rule: 'R8',
      userId: ANNA,
      leadId: lead.id,
      department: 'Отдел продаж 1',
    });
    expect(violation.violationId).toMatch(new RegExp(`^meeting_skipped:${lead.id}:\\d+$`));
    expect(violation.seed).toContain('НИ В КОЕМ СЛУЧАЕ');
    // The record and the message are carried out one after the other: wait for the message as well.
    await waitFor(
      async () =>
        (await runtimes[0]!.outbox.pending(1000)).some((m) => m.leadId === lead.id && m.template === 'violation'),
      'РОП alert',
      20_000,
    );
    const alerts = (await runtimes[0]!.outbox.pending(1000)).filter(
      (m) => m.leadId === lead.id && m.template === 'violation',
    );
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.params).toMatchObject({
      type: 'meeting_skipped',
      rule: 'R8',
      leadId: lead.id,
      userId: ANNA,
      violationId: violation.violationId,
    });
    expect(alerts[0]!.audience).toEqual({ kind: 'department', department: 'Отдел продаж 1', chatId: '-1001000000001' });
    await waitFor(
      () => tasksOf(lead.id).some((t) => t.text.startsWith('Внесите результаты встречи')),
      'task to record the meeting',
      20_000,
    );

    // R9: "Получить обратную связь" due in 2 working days, at the time of the entry.
    const feedback = await waitFor(
      () => tasksOf(lead.id).find((t) => t.text === 'Получить обратную связь'),
      'feedback task',
      20_000,
    );
    const { calendar } = await demoRules();
    let due = offerAt;
    for (let left = 2; left > 0;) {
      due = due.plus({ days: 1 });
      const day = due.toISODate()!;
      if (calendar.working.has(day) || (!calendar.nonWorking.has(day) && due.weekday <= 5)) left -= 1;
    }
    expect(Math.abs(feedback.completeTill - due.toSeconds())).toBeLessThanOrEqual(2);

    // R7: leaving "Встреча назначена" completes both confirmations.
    await waitFor(
      () => tasksOf(lead.id).filter((t) => t.text.startsWith('Подтвердите встречу') && t.isCompleted).length === 2,
      'confirmations completed',
      20_000,
    );

    // Each once: a second look after the webhooks settled finds nothing doubled.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(tasksOf(lead.id).filter((t) => t.text.startsWith('Подтвердите встречу'))).toHaveLength(2);
    expect(tasksOf(lead.id).filter((t) => t.text === 'Получить обратную связь')).toHaveLength(1);
    expect((await runtimes[0]!.records.forLead(lead.id)).filter((r) => r.kind === 'violation')).toHaveLength(1);
    expect(notesOf(lead.id).some((t) => t.includes('минуя этап «Встреча состоялась»'))).toBe(true);
    expect(notesOf(lead.id).some((t) => t.startsWith('Встреча назначена на'))).toBe(true);
    // lead:explain reads these: which rule fired and why.
    const actions = (await runtimes[0]!.records.forLead(lead.id))
      .filter((r) => r.kind === 'action')
      .map((r) => `${r.rule}:${r.type}`);
    expect(actions).toEqual(expect.arrayContaining(['R7:meeting_confirmation', 'R9:feedback_task']));
  }, 90_000);

  it('when a manager sends a lead to "На закрытие", then it waits for the РОП in the digest list and its reason check is due 10 minutes after the entry', async () => {
    const { sim, runtimes } = e2e;
    const lead = sim.account.createLead({
      name: 'Заявка: студия',
      statusId: sim.account.statusByName('Новый лид').id,
      responsibleUserId: ANNA,
      by: 0,
    });
    sim.account.updateLead(lead.id, { statusId: sim.account.statusByName('На закрытие').id }, ANNA);
    const entered = sim.account.leads.get(lead.id)!.updatedAt * 1000;
    const runtime = runtimes[0]!;
    const waiting = await waitFor(
      async () =>
        (await leadsAwaitingClose(runtime.service.redis, runtime.service.keys)).find((x) => x.leadId === lead.id),
      'lead in the closing list',
      20_000,
    );
    expect(waiting.since).toBe(entered);
    // The timer is set when the plan is carried out, just after the list is updated.
    expect(
      await waitFor(
        () => runtime.effects!.timers.get('R5', lead.id, `reason:${entered}`),
        'reason check timer',
        20_000,
      ),
    ).toBe(entered + 10 * 60_000);
    // Taken back into work: it leaves the list and its check is cancelled.
    sim.account.updateLead(lead.id, { statusId: sim.account.statusByName('Потребности выявлены').id }, ANNA);
    await waitFor(
      async () =>
        !(await leadsAwaitingClose(runtime.service.redis, runtime.service.keys)).some((x) => x.leadId === lead.id),
      'lead out of the closing list',
      20_000,
    );
    await waitFor(
      async () => (await runtime.effects!.timers.get('R5', lead.id, `reason:${entered}`)) === undefined,
      'reason check cancelled',
      20_000,
    );
  }, 60_000);
});
