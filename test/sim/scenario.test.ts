import { describe, expect, it } from '@jest/globals';
import { createAccount } from '../../sim/account.js';
import { createScenario, type ScenarioAction } from '../../sim/scenario.js';

/** Runs a scenario on a hand-driven timer queue: no real time passes. */
function run(seed: number): ScenarioAction[] {
  let now = Date.parse('2026-11-24T07:00:00Z');
  const queue: Array<{ at: number; fn: () => void; id: number }> = [];
  let ids = 0;
  const account = createAccount({ now: () => now, onChange: () => undefined });
  const scenario = createScenario({
    account,
    stage: 'Передан в работу',
    arrivalEveryMs: 5_000,
    reactionMs: [1_000, 9_000],
    takeRate: 0.7,
    managerIds: [9101, 9102],
    seed,
    maxLeads: 20,
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, id: ids++ };
      queue.push(t);
      return t;
    },
    clearTimer: (h) => queue.splice(queue.indexOf(h as (typeof queue)[number]), 1),
  });
  const actions: ScenarioAction[] = [];
  scenario.on((a) => {
    actions.push(a);
    // The robot assigns alternately, as a stand-in for the service.
    if (a.kind === 'lead_arrived') {
      const to = a.leadId % 2 ? 9101 : 9102;
      account.updateLead(a.leadId, { responsibleUserId: to }, 9001);
      scenario.onAssigned(a.leadId, to);
    }
  });
  scenario.start();
  while (queue.length > 0) {
    queue.sort((x, y) => x.at - y.at || x.id - y.id);
    const next = queue.shift()!;
    now = next.at;
    next.fn();
  }
  scenario.stop();
  return actions;
}

describe('scenario driver', () => {
  it('when run twice with the same seed over fake time, then it produces the same actions', () => {
    expect(run(11)).toEqual(run(11));
  });

  it('when managers react, then most leads are taken and some are missed, as configured', () => {
    const actions = run(11);
    const arrived = actions.filter((a) => a.kind === 'lead_arrived').length;
    const called = actions.filter((a) => a.kind === 'manager_called').length;
    const ignored = actions.filter((a) => a.kind === 'manager_ignored').length;
    expect(arrived).toBe(20);
    expect(called + ignored).toBe(20);
    expect(called).toBeGreaterThan(ignored);
    expect(ignored).toBeGreaterThan(0);
  });

  it('when the seed changes, then the run changes', () => {
    expect(run(12)).not.toEqual(run(11));
  });
});
