import { describe, expect, it } from '@jest/globals';
import { decodeLeadField, encodeLeadField, leadFieldJson } from '../../../src/store/lead-fields.js';
import { leadStateOf, runningPickupOf } from '../../helpers/lead-fixtures.js';

// 444 bytes of JSON for the lead state, 193 for the pickup.
const leadState = leadStateOf(2000001);
const pickup = runningPickupOf(2000001);

describe('lead hash values: JSON deflated against a versioned dictionary', () => {
  it('when a lead state is encoded, then it is tagged 0x01, is not JSON, is under 100 bytes, and decodes to the same value', () => {
    const stored = encodeLeadField(leadState);
    expect(Buffer.byteLength(JSON.stringify(leadState))).toBe(444);
    expect(stored[0]).toBe(0x01);
    expect(() => JSON.parse(stored.toString('utf8'))).toThrow();
    expect(stored.length).toBeLessThan(100);
    expect(decodeLeadField(stored)).toEqual(leadState);
  });

  it('when a pickup state is encoded, then it is under 50 bytes and decodes to the same value', () => {
    const stored = encodeLeadField(pickup);
    expect(stored[0]).toBe(0x01);
    expect(stored.length).toBeLessThan(50);
    expect(decodeLeadField(stored)).toEqual(pickup);
  });

  it('when a value is written before this encoding (plain JSON, as a string or bytes), then it reads the same', () => {
    const plain = JSON.stringify(pickup);
    expect(decodeLeadField(plain)).toEqual(pickup);
    expect(decodeLeadField(Buffer.from(plain, 'utf8'))).toEqual(pickup);
    expect(leadFieldJson(Buffer.from(plain, 'utf8'))).toBe(plain);
  });

  it('when a value is tiny, then it stays plain JSON (deflating would not make it shorter)', () => {
    expect(encodeLeadField(7).toString('utf8')).toBe('7');
    expect(encodeLeadField('ab').toString('utf8')).toBe('"ab"');
    expect(encodeLeadField(null).toString('utf8')).toBe('null');
  });

  it('when the field is absent, then it decodes to undefined', () => {
    expect(decodeLeadField(null)).toBeUndefined();
    expect(decodeLeadField(undefined)).toBeUndefined();
  });

  it('when values hold words the dictionary does not know (other tags, unicode, nested arrays), then they round trip', () => {
    const odd = {
      ...leadState,
      tags: ['Ипотека', 'VIP «срочно»', '🏠', ''],
      history: Array.from({ length: 50 }, (_, i) => ({
        at: new Date(1_750_000_000_000 + i * 3_600_000).toISOString(),
        statusId: 7100000 + i,
      })),
    };
    const stored = encodeLeadField(odd);
    expect(stored.length).toBeLessThan(Buffer.byteLength(JSON.stringify(odd)) / 3);
    expect(decodeLeadField(stored)).toEqual(odd);
  });
});
