import { describe, expect, it } from '@jest/globals';
import { compileRules } from '../../../../src/config/compile.js';
import { loadRulesFile } from '../../../../src/config/load.js';
import { RulesConfigSchema } from '../../../../src/config/schema.js';
import { seedDirectory } from '../../../../sim/directory.js';

describe('stageRules block of the rules file', () => {
  it("when the shipped config is loaded, then every rule R4-R10 is on with the regulations' numbers", async () => {
    const loaded = await loadRulesFile('config/rules.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    const s = loaded.config.stageRules!;
    expect([
      s.handoff.enabled,
      s.closeReason.enabled,
      s.deferred.enabled,
      s.meeting?.enabled,
      s.mustPassThrough[0]?.enabled,
      s.offer.enabled,
      s.weeklyUpdate.enabled,
    ]).toEqual([true, true, true, true, true, true, true]);
    expect([
      s.handoff.maxStay,
      s.closeReason.within,
      s.deferred.touchEvery,
      s.deferred.untouchedAfter,
      s.offer.feedbackWorkingDays,
      s.offer.maxStay,
      s.weeklyUpdate.maxSilence,
    ]).toEqual(['P1D', 'PT10M', 'P1M', 'P30D', 2, 'P5D', 'P7D']);
    expect([s.meeting?.confirmFrom, s.meeting?.confirmTo]).toEqual(['PT3H', 'PT2H']);
    expect(s.deferred.weeklyTags).toEqual(['ПРОДАЮТ СВОЕ ЖИЛЬЕ', 'СОГЛАСОВАНО РОПом']);
  });

  it('when a stage name is misspelt, then that rule alone is off, with a warning at its path naming the stages that exist', async () => {
    const loaded = await loadRulesFile('config/rules.demo.yaml');
    if (!loaded.ok) throw new Error('demo rules');
    const config = structuredClone(loaded.config);
    config.stageRules!.handoff.stage = 'Для передачии';
    const r = compileRules(config, loaded.calendar, seedDirectory());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.warnings).toEqual([
      expect.objectContaining({ path: 'stageRules.handoff.stage', message: expect.stringContaining('"Для передачи"') }),
    ]);
    expect(r.rules.stageRules?.handoff).toBeUndefined();
    expect(r.rules.stageRules?.offer).toBeDefined(); // the others stay on
  });

  it('when "confirmFrom" is shorter than "confirmTo", then the file is rejected at that path', () => {
    const bad = {
      departments: [{ name: 'x', head: 'h', pipelines: ['p'], schedule: { kind: 'always' } }],
      rules: { pickup: { pipeline: 'p', stage: 's' } },
      stageRules: { pipeline: 'p', meeting: { meetingTimeFieldId: 1, confirmFrom: 'PT1H', confirmTo: 'PT2H' } },
    };
    const r = RulesConfigSchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('stageRules.meeting.confirmFrom');
  });
});

describe('stage-rule durations the engine can schedule', () => {
  it('when a duration is fractional it is accepted; under a second, zero, negative or not ISO it is refused with the reason', async () => {
    const { StageDurationSchema } = await import('../../../../src/rules/stage-rules/config.js');
    for (const ok of ['P1.5D', 'PT0.5H', 'P0.5W', 'PT1S', 'P1M'])
      expect([ok, StageDurationSchema.safeParse(ok).success]).toEqual([ok, true]);
    for (const bad of ['PT0.5S', 'PT0S', '-P1D', 'P', '1 day']) {
      const r = StageDurationSchema.safeParse(bad);
      expect([bad, r.success]).toEqual([bad, false]);
      if (!r.success) expect(r.error.issues[0]?.message).toContain('at least one second');
    }
  });
});
