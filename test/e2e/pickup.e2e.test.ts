import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '../helpers/wait.js';
import { startE2E, type E2E } from '../helpers/e2e.js';

const STAGE = 'Передан в работу';
const DEPT1 = [9101, 9102, 9103, 9104];

describe('R1/R2 end to end: simulator → webhooks → workers → amoCRM writes', () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = await startE2E({ processes: 2 });
  }, 30_000);

  afterAll(async () => {
    await e2e?.close();
  });

  const notesOf = (leadId: number): string[] =>
    [...e2e.sim.account.notes.values()]
      .filter((n) => n.entityId === leadId && n.noteType === 'common')
      .map((n) => String(n.params.text));

  it('when nobody takes a new lead, then it is reassigned at the deadline with a note; when the second manager calls, the clock stops', async () => {
    const { sim, runtimes } = e2e;
    // Even lead ids go to department 1 in these rules; make sure this one does.
    let lead = sim.account.createLead({
      name: 'Заявка с сайта: 2-к квартира',
      statusId: sim.account.statusByName(STAGE).id,
      by: 0,
    });
    while (lead.id % 2 !== 0)
      lead = sim.account.createLead({ name: 'Заявка с Авито', statusId: sim.account.statusByName(STAGE).id, by: 0 });

    const first = await waitFor(
      () =>
        DEPT1.includes(sim.account.leads.get(lead.id)!.responsibleUserId) &&
        sim.account.leads.get(lead.id)!.responsibleUserId,
      'first assignment',
      15_000,
    );
    await waitFor(() => notesOf(lead.id).some((t) => t.startsWith('Робот назначил ответственным')), 'assignment note');

    const second = await waitFor(
      () => {
        const r = sim.account.leads.get(lead.id)!.responsibleUserId;
        return r !== first && DEPT1.includes(r) && r;
      },
      'reassignment at the deadline',
      15_000,
    );
    await waitFor(() => notesOf(lead.id).some((t) => t.includes('не взял(а) клиента в работу')), 'reassignment note');
    const note = notesOf(lead.id).find((t) => t.includes('не взял(а)'))!;
    expect(note).toContain(`Робот передал клиента: ${sim.account.users.find((u) => u.id === second)!.name}`);

    // The second manager calls the client: the clock stops and the lead stays.
    sim.account.addNote({
      leadId: lead.id,
      noteType: 'call_out',
      params: { duration: 95, phone: '+79990001122', uniq: 'call-1' },
      by: second,
    });
    await waitFor(
      async () => (await runtimes[0]!.pickup!.pickups.get(lead.id)).phase === 'taken',
      'clock stopped by the call',
      10_000,
    );
    await new Promise((r) => setTimeout(r, 3_000)); // longer than the 2-second clock: nothing more may happen
    expect(sim.account.leads.get(lead.id)!.responsibleUserId).toBe(second);

    // Every reassignment can be explained from the record alone.
    // The pickup's own records (activity records for the reports sit beside them: calls, stages).
    const records = (await runtimes[0]!.records.forLead(lead.id)).filter((r) => r.kind !== 'action');
    if (process.env.DEBUG_E2E)
      console.log(
        JSON.stringify(
          records.map(({ explanation: _e, ...r }) => r),
          null,
          1,
        ),
      );
    expect(records.map((r) => r.kind)).toEqual(['assignment', 'violation', 'reassignment', 'pickup_taken']);
    const reassignment = records.find((r) => r.kind === 'reassignment')!;
    expect(reassignment).toMatchObject({ userId: second, previousUserId: first, rule: 'R2' });
    expect(reassignment.explanation).toMatchObject({
      department: 'Отдел продаж 1',
      winner: second,
      skipped: expect.arrayContaining([{ userId: first, reason: 'missed_this_lead' }]),
    });
    expect(records.find((r) => r.kind === 'violation')).toMatchObject({ type: 'pickup_missed', userId: first });

    // Two worker processes ran: exactly two responsible changes were written, never a double reassignment.
    const changes = sim.account.events.filter((e) => e.entityId === lead.id && e.type === 'entity_responsible_changed');
    expect(changes).toHaveLength(2);
    const outbox = await runtimes[0]!.outbox.pending(100);
    expect(outbox.filter((m) => m.leadId === lead.id && m.template === 'pickup_missed')).toHaveLength(1);
  }, 60_000);

  it('when the webhook of a new lead is lost, then the safety sweep finds the lead and starts its clock', async () => {
    const { sim } = e2e;
    sim.webhooks.dropNext(1);
    const lead = sim.account.createLead({
      name: 'Потерянный вебхук',
      statusId: sim.account.statusByName(STAGE).id,
      by: 0,
    });
    await sim.webhooks.flush();
    expect(sim.stats().webhooks.dropped).toBeGreaterThanOrEqual(1);
    await waitFor(() => sim.account.leads.get(lead.id)!.responsibleUserId !== 9001, 'assignment by the sweep', 15_000);
    const records = await waitFor(async () => {
      const r = (await e2e.runtimes[0]!.records.forLead(lead.id)).filter((x) => x.kind !== 'action');
      return r.length > 0 && r;
    }, 'assignment record');
    expect(records[0]).toMatchObject({
      kind: 'assignment',
      reason: expect.stringContaining('chosen by smooth_weighted_round_robin'),
    });
  }, 30_000);

  it('when a burst of leads reaches its deadlines together, then each lead is checked and reassigned exactly once per miss, and the reads are batched', async () => {
    const { sim, runtimes } = e2e;
    const eventsBefore = sim.stats().byEndpoint['GET /api/v4/events'] ?? 0;
    const stage = sim.account.statusByName(STAGE).id;
    const burst = Array.from({ length: 12 }, (_, i) =>
      sim.account.createLead({ name: `Утренняя заявка ${i + 1}`, statusId: stage, by: 0 }),
    );
    await waitFor(
      async () => {
        const states = await Promise.all(burst.map((l) => runtimes[0]!.pickup!.pickups.get(l.id)));
        return states.every((p) => p.misses >= 1);
      },
      'every lead of the burst to be checked at its deadline',
      30_000,
    );
    const eventsRequests = (sim.stats().byEndpoint['GET /api/v4/events'] ?? 0) - eventsBefore;
    expect(eventsRequests).toBeLessThan(burst.length); // batched: never one request per lead

    // The РОП moves the burst on to «Для передачи»: the clocks stop, and the system comes to rest.
    for (const lead of burst)
      sim.account.updateLead(lead.id, { statusId: sim.account.statusByName('Для передачи').id }, 9100);
    await waitFor(
      async () => {
        const states = await Promise.all(burst.map((l) => runtimes[0]!.pickup!.pickups.get(l.id)));
        return states.every((p) => p.phase !== 'running' && p.phase !== 'waiting_shift');
      },
      'every clock to stop',
      20_000,
    );
    // Quiescence: every plan already committed is carried out (records are written after their amoCRM writes).
    await waitFor(
      async () => {
        const left = await Promise.all(burst.map((l) => runtimes[0]!.effects!.executor.store.pendingPlans(l.id)));
        return left.every((p) => p.length === 0);
      },
      'every committed plan to be carried out',
      20_000,
    );
    await runtimes[0]!.amo.flush();
    // With two worker processes racing, every robot write of a responsible matches one recorded decision.
    for (const lead of burst) {
      const writes = sim.account.events.filter(
        (e) => e.entityId === lead.id && e.type === 'entity_responsible_changed' && e.createdBy === 9001,
      ).length;
      const decided = (await runtimes[0]!.records.forLead(lead.id)).filter((r) =>
        ['assignment', 'reassignment', 'fallback'].includes(r.kind),
      ).length;
      if (process.env.DEBUG_E2E && writes !== decided)
        console.log(
          JSON.stringify(
            {
              events: sim.account.events.filter((e) => e.entityId === lead.id),
              records: (await runtimes[0]!.records.forLead(lead.id)).map(({ explanation: _e, ...r }) => r),
            },
            null,
            1,
          ),
        );
      expect(writes).toBe(decided);
    }
  }, 60_000);

  it('when everything ran, then the client never exceeded the amoCRM rate limit', () => {
    expect(e2e.sim.stats().rateLimitViolations).toBe(0);
  });
});
