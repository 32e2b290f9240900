import { describe, expect, it } from '@jest/globals';
import { DisputesSchema } from '../../../src/rules/disputes/config.js';
import { durationSchema, ms } from '../../../src/rules/duration.js';
import { IsoDurationSchema } from '../../../src/config/schema.js';
import { StageDurationSchema } from '../../../src/rules/stage-rules/parts.js';

describe('one way to write a duration', () => {
  it('when a duration is fractional, then every block reads it as luxon does, in milliseconds', () => {
    for (const schema of [durationSchema(), IsoDurationSchema, StageDurationSchema]) {
      expect(schema.parse('P1.5D')).toBe('P1.5D');
      expect(schema.safeParse('PT0.5H').success).toBe(true);
    }
    expect(ms('P1.5D')).toBe(36 * 3_600_000);
    expect(ms('PT0.5H')).toBe(30 * 60_000);
    expect(ms('P0.5W')).toBe(3.5 * 86_400_000);
  });

  it('when a duration is shorter than a second, zero, negative or not ISO, then the top level, the stage rules and disputes refuse it alike', () => {
    for (const bad of ['PT0.5S', 'PT0S', '-P1D', 'P', '1 day', '']) {
      expect(IsoDurationSchema.safeParse(bad).success).toBe(false);
      expect(StageDurationSchema.safeParse(bad).success).toBe(false);
      expect(DisputesSchema.safeParse({ disputeWithin: bad }).success).toBe(false);
    }
    const refused = IsoDurationSchema.safeParse('PT0.5S');
    expect(refused.success ? '' : refused.error.issues[0]!.message).toContain('at least one second');
  });
});
