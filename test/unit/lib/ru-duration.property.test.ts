import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseRuDuration, ruDuration } from '../../../src/lib/ru-duration.js';
import { durationSchema, ms } from '../../../src/rules/duration.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

describe('durations in Russian units', () => {
  it('when a duration is written by ruDuration in one or two units, then parseRuDuration reads back exactly it', () => {
    // What ruDuration writes without rounding: whole weeks, or a unit and the next smaller one.
    const pairs: Array<[number, number]> = [
      [DAY, HOUR],
      [HOUR, MIN],
      [MIN, SEC],
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 52 }).map((w) => w * WEEK),
          fc.integer({ min: 1, max: 6 }).map((d) => d * DAY),
          fc
            .tuple(fc.constantFrom(...pairs), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 23 }))
            .map(([[big, small], a, b]) => a * big + Math.min(b, big / small - 1) * small),
        ),
        (value) => {
          expect(parseRuDuration(ruDuration(value))).toBe(value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('when any duration from a second to eight weeks is written and read back, then it is off by less than the smaller unit shown', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 * 7 * 24 * 3600 }), (seconds) => {
        const value = seconds * SEC;
        const read = parseRuDuration(ruDuration(value));
        expect(read).toBeDefined();
        const error = Math.abs(read! - value);
        expect(error).toBeLessThan(value >= DAY ? HOUR : value >= HOUR ? MIN : SEC);
      }),
      { numRuns: 1000 },
    );
  });

  it('when a person types the common spellings, then they mean what they say', () => {
    expect(parseRuDuration('15 мин')).toBe(15 * MIN);
    expect(parseRuDuration('15 минут')).toBe(15 * MIN);
    expect(parseRuDuration('1 ч 30 мин')).toBe(90 * MIN);
    expect(parseRuDuration('1 час 30 минут')).toBe(90 * MIN);
    expect(parseRuDuration('2 дня')).toBe(2 * DAY);
    expect(parseRuDuration('1,5 дня')).toBe(36 * HOUR);
    expect(parseRuDuration('1 нед')).toBe(WEEK);
    expect(parseRuDuration('2 недели')).toBe(2 * WEEK);
    expect(parseRuDuration('30 сек')).toBe(30 * SEC);
    expect(parseRuDuration('1 сутки')).toBe(DAY);
    expect(parseRuDuration('  10 Мин. ')).toBe(10 * MIN);
  });

  it('when the text is not a duration, then nothing is read from it', () => {
    for (const bad of ['', '15', 'мин', '30 мин 1 ч', '1 ч 1 ч', '0 мин', '15 лет', 'PT15M', '-5 мин', '5 мин abc'])
      expect(parseRuDuration(bad)).toBeUndefined();
  });

  it('when the rules file gives a duration in Russian units, then the schema takes it and the engine reads the same milliseconds as ISO', () => {
    const schema = durationSchema();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 * 7 * 24 * 60 }), (minutes) => {
        const text = ruDuration(minutes * MIN);
        expect(schema.safeParse(text).success).toBe(true);
        expect(ms(text)).toBe(parseRuDuration(text));
      }),
      { numRuns: 300 },
    );
    expect(ms('PT1H30M')).toBe(ms('1 ч 30 мин'));
    expect(schema.safeParse('0 сек').success).toBe(false);
    expect(schema.safeParse('полчаса').success).toBe(false);
  });
});
