import { describe, expect, it } from '@jest/globals';
import { deflateRawSync } from 'node:zlib';
import {
  decodeRaw,
  encodeRawCompact,
  encodeRawPlain,
  isCompactRaw,
  type RawDelivery,
} from '../../src/store/webhook-inbox.js';

function statusBody(leadId: number): string {
  const p = new URLSearchParams();
  const b = 'leads[status][0]';
  p.append(`${b}[id]`, String(leadId));
  p.append(`${b}[name]`, 'Заявка с сайта');
  p.append(`${b}[status_id]`, '7100005');
  p.append(`${b}[old_status_id]`, '7100004');
  p.append(`${b}[pipeline_id]`, '7000001');
  p.append(`${b}[responsible_user_id]`, '9101');
  p.append(`${b}[modified_user_id]`, '9101');
  p.append(`${b}[last_modified]`, '1748268812');
  p.append(`${b}[updated_at]`, '1748268812');
  p.append(`${b}[custom_fields][0][id]`, '752009');
  p.append(`${b}[custom_fields][0][name]`, 'Источник');
  p.append(`${b}[custom_fields][0][values][0][value]`, 'Авито');
  p.append('account[subdomain]', 'etesttask');
  p.append('account[id]', '32427762');
  return p.toString();
}

const delivery: RawDelivery = {
  deliveryId: 'a'.repeat(64),
  receivedAt: '2026-11-25T10:00:00.000Z',
  contentType: 'form',
  requestId: '471e2579-9a4a-4ce1-8af8-039aa98fd063',
  userAgent: 'amoCRM-Webhooks/3.0',
  body: statusBody(32966269),
};

describe('raw webhook bodies as stored', () => {
  it('the plain form the intake writes reads back whole, and does not repeat the delivery id (it is the key)', () => {
    const stored = Buffer.from(encodeRawPlain(delivery));
    expect(stored.toString()).not.toContain(delivery.deliveryId);
    expect(isCompactRaw(stored)).toBe(false);
    expect(decodeRaw(stored, delivery.deliveryId)).toEqual(delivery);
  });

  it('the compact form the worker writes reads back whole and is a fifth of the body for a 1-lead status change', () => {
    const stored = encodeRawCompact(delivery);
    expect(isCompactRaw(stored)).toBe(true);
    expect(decodeRaw(stored, delivery.deliveryId)).toEqual(delivery);
    const plain = Buffer.byteLength(encodeRawPlain(delivery));
    // The dictionary is what makes it this small: a plain deflate of the same text is ≈40% of it.
    expect(stored.length).toBeLessThan(plain / 4);
    expect(stored.length).toBeLessThan(deflateRawSync(encodeRawPlain(delivery), { level: 9 }).length * 0.7);
  });

  it('bodies stored by older versions still read: JSON with the id inside, and a plain deflate of it', () => {
    const legacyJson = Buffer.from(JSON.stringify(delivery));
    expect(decodeRaw(legacyJson, delivery.deliveryId)).toEqual(delivery);
    const legacyDeflate = deflateRawSync(JSON.stringify(delivery), { level: 1 });
    expect(isCompactRaw(legacyDeflate)).toBe(true);
    expect(decodeRaw(legacyDeflate, delivery.deliveryId)).toEqual(delivery);
  });

  it('JSON bodies and bodies without a request id or user agent round-trip too', () => {
    const json: RawDelivery = {
      deliveryId: 'b'.repeat(64),
      receivedAt: '2026-11-25T10:00:01.000Z',
      contentType: 'json',
      body: '{"leads":{"add":[{"id":"1"}]}}',
    };
    expect(decodeRaw(encodeRawCompact(json), json.deliveryId)).toEqual(json);
    expect(decodeRaw(Buffer.from(encodeRawPlain(json)), json.deliveryId)).toEqual(json);
  });

  it('the compact marker byte is never the first byte of a plain deflate stream of any length', () => {
    for (let n = 0; n < 300; n += 7) {
      const text = JSON.stringify({ ...delivery, body: 'x'.repeat(n) });
      for (const level of [0, 1, 6, 9])
        expect(deflateRawSync(text, { level })[0]).not.toBe(encodeRawCompact(delivery)[0]);
    }
  });
});
