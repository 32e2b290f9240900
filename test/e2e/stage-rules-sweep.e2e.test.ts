import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startE2E, type E2E } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';

const DAY_S = 86_400;
const ANNA = 9101;

describe('Stage rules sweep over 2,000 open leads (R10, joins)', () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E({ rulesFile: 'test/fixtures/rules.e2e-sweep.yaml' });
  }, 30_000);
  afterAll(async () => {
    await e2e?.close();
  });

  it('then it pages at 250 leads per request (≤ 10 list requests), never reads a lead alone, stays under the rate limit, and flags exactly the stale leads once', async () => {
    const { sim, runtimes } = e2e;
    const { account } = sim;
    // The sweep that runs at start has run (its timer moved an interval ahead), so only the one below is counted.
    await waitFor(
      async () => ((await runtimes[0]!.effects!.timers.get('R10', 0, 'sweep')) ?? 0) > Date.now() + 60_000,
      'the start-up sweep',
      20_000,
    );
    // The leads were there before: no webhooks for them (a rule switched on over an existing account).
    sim.webhooks.setDestinations([]);
    const needs = account.statusByName('Потребности выявлены').id;
    const handoff = account.statusByName('Для передачи').id;
    const won = 142;
    const stale = new Set<number>();
    const joiners: number[] = [];
    let candidates = 0;
    const now = account.nowSec();
    for (let i = 0; i < 2_000; i++) {
      const inHandoff = i % 40 === 0; // 50 leads sit in "Для передачи" since 3 days ago
      const lead = account.createLead({
        name: `Лид ${i}`,
        statusId: inHandoff ? handoff : needs,
        responsibleUserId: ANNA,
        by: ANNA,
      });
      if (inHandoff) {
        joiners.push(lead.id);
        // Their real entry, three days ago, is only in amoCRM's events.
        const entry = account.events.find((e) => e.entityId === lead.id && e.type === 'lead_added')!;
        account.events.push({
          ...entry,
          id: `${entry.id}S`,
          type: 'lead_status_changed',
          createdAt: now - 3 * DAY_S,
          valueBefore: [{ lead_status: { id: needs, pipeline_id: lead.pipelineId } }],
          valueAfter: [{ lead_status: { id: handoff, pipeline_id: lead.pipelineId } }],
        });
      }
      if (i % 7 === 0) {
        candidates += 1;
        lead.createdAt = now - 8 * DAY_S; // created 8 days ago
        lead.updatedAt = now - DAY_S; // the robot wrote to it yesterday: amoCRM's updated_at moved, nobody touched it
        if (i % 49 === 0 && !inHandoff) {
          // Control: a person's note two days ago, seen only in amoCRM's events.
          account.events.push({
            id: `01NOTE${lead.id}`,
            type: 'common_note_added',
            entityId: lead.id,
            entityType: 'lead',
            createdBy: ANNA,
            createdAt: now - 2 * DAY_S,
            valueBefore: [],
            valueAfter: [],
          });
        } else if (!inHandoff) stale.add(lead.id); // the joiners were moved by a person 3 days ago: touched
      }
    }
    // Closed leads are not swept (control: same age, won).
    for (let i = 0; i < 20; i++)
      account.createLead({ name: `Закрыт ${i}`, statusId: won, responsibleUserId: ANNA, by: ANNA }).updatedAt =
        now - 30 * DAY_S;

    const before = { ...sim.stats().byEndpoint };
    const result = await runtimes[0]!.stageRules!.sweep();
    const after = sim.stats().byEndpoint;
    const made = (key: string): number => (after[key] ?? 0) - (before[key] ?? 0);

    expect(result.leads).toBe(2_000);
    // 2,000 / 250 = 8 pages; the R4 checks the joins make due at once may add one batched re-read.
    expect(made('GET /api/v4/leads')).toBeGreaterThanOrEqual(8);
    expect(made('GET /api/v4/leads')).toBeLessThanOrEqual(10);
    expect(made('GET /api/v4/leads/{id}')).toBe(0);
    // 50 joiners' entry times in one request (+ one batched R4 re-read), and the people's touches of the leads whose
    // creation alone would make them stale, 100 leads a request.
    expect(made('GET /api/v4/events')).toBeLessThanOrEqual(2 + Math.ceil(candidates / 100));
    expect(sim.stats().rateLimitViolations).toBe(0);
    expect(result.joined).toBe(joiners.length);

    const violations = (
      await runtimes[0]!.records.range(
        new Date(Date.now() - 60_000).toISOString(),
        new Date(Date.now() + 60_000).toISOString(),
        100_000,
      )
    ).filter((r) => r.kind === 'violation');
    const lateStale = violations.filter((r) => r.type === 'lead_stale');
    expect(new Set(lateStale.map((r) => r.leadId))).toEqual(stale);
    expect(lateStale).toHaveLength(stale.size);

    // The joiners entered 3 days ago: R4's one-day check is already due, from the real entry, not from now.
    const handoff_ = await waitFor(
      async () => {
        const found = (
          await runtimes[0]!.records.range(
            new Date(Date.now() - 120_000).toISOString(),
            new Date(Date.now() + 60_000).toISOString(),
            100_000,
          )
        ).filter((r) => r.kind === 'violation' && r.type === 'handoff_stale');
        return found.length === joiners.length && found;
      },
      'handoff_stale for every joiner',
      60_000,
    );
    expect(handoff_.map((r) => r.violationId).sort()).toEqual(
      joiners.map((id) => `handoff_stale:${id}:${(now - 3 * DAY_S) * 1000}`).sort(),
    );

    // A second sweep the same week flags nothing new.
    await runtimes[0]!.stageRules!.sweep();
    const again = (
      await runtimes[0]!.records.range(
        new Date(Date.now() - 120_000).toISOString(),
        new Date(Date.now() + 60_000).toISOString(),
        100_000,
      )
    ).filter((r) => r.kind === 'violation' && r.type === 'lead_stale');
    expect(again).toHaveLength(stale.size);
  }, 180_000);
});
