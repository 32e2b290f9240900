import { describe, expect, it } from '@jest/globals';
import { compareReplays, replay } from '../../../src/admin/dry-run.js';
import type { WebhookEvent } from '../../../src/rules/events.js';
import { demoRules } from '../../helpers/rules.js';

const T0 = Date.parse('2026-11-16T10:00:00Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const base = (s: number, key: string) => ({
  dedupeKey: key,
  deliveryId: key,
  account: { subdomain: 'demo-realty' },
  receivedAt: at(s),
});

// Lead 1000 (even id: the first of the two departments on the pipeline) created in «Передан в работу» with nobody
// responsible; Анна Смирнова (9101) writes a note 20 s later.
const events: WebhookEvent[] = [
  {
    ...base(0, 'add'),
    kind: 'lead',
    action: 'add',
    leadId: 1000,
    short: false,
    pipelineId: 7000001,
    statusId: 7100005,
    modifiedUserId: 0,
    tags: [],
    customFields: [],
  },
  {
    ...base(20, 'note'),
    kind: 'note',
    entityType: 'lead',
    entityId: 1000,
    noteId: 1,
    noteType: 4,
    text: 'Позвонила, договорились',
    createdUserId: 9101,
  },
];
const window = { from: T0, to: T0 + 25_000 };

describe('dry run replay', () => {
  it('when the timeout is 15 s, then Анна misses (note at 20 s), gets a violation and the lead goes to Борис by weighted turn', async () => {
    const out = replay(events, await demoRules(), window);
    // Hand-computed: SWRR weights Анна 2, others 1 → Анна first; after her miss Борис (9102) leads the next round.
    expect(out.byUser.get(9101)).toEqual({ assigned: 1, reassignedAway: 1, tasksCreated: 0, violations: 1 });
    expect(out.byUser.get(9102)).toEqual({ assigned: 1, reassignedAway: 0, tasksCreated: 0, violations: 0 });
    expect(out.events).toBe(2);
  });

  it('when the draft gives 60 s, then Анна takes the lead in time: no violation, nobody else gets it', async () => {
    const draft = await demoRules((c) => {
      c.rules.pickup.timeout = 'PT60S';
    });
    const out = replay(events, draft, window);
    expect(out.byUser.get(9101)).toEqual({ assigned: 1, reassignedAway: 0, tasksCreated: 0, violations: 0 });
    expect(out.byUser.has(9102)).toBe(false);
  });

  it('when compared, then each manager shows the running rules beside the draft and the record', async () => {
    const report = compareReplays({
      events,
      current: await demoRules(),
      draft: await demoRules((c) => {
        c.rules.pickup.timeout = 'PT60S';
      }),
      ...window,
      recorded: new Map([[9101, { assigned: 1, violations: 1 }]]),
    });
    expect(
      report.managers.map((m) => [
        m.name,
        m.current.violations,
        m.draft.violations,
        m.current.assigned,
        m.draft.assigned,
        m.recorded?.violations,
      ]),
    ).toEqual([
      ['Анна Смирнова', 1, 0, 1, 1, 1],
      ['Борис Кузнецов', 0, 0, 1, 0, 0],
    ]);
    expect(report.totals.current.violations).toBe(1);
    expect(report.totals.draft.violations).toBe(0);
  });

  it('when events fall outside the window, then they are not replayed', async () => {
    const out = replay(events, await demoRules(), { from: T0 + 1000, to: T0 + 25_000 });
    expect(out.byUser.size).toBe(0);
    expect(out.events).toBe(1);
  });
});
