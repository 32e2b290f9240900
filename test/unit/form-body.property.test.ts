import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { expandFormBody, FormBodyError, type FormTree, type FormValue } from '../../src/amocrm/form-body.js';
import { normalizeWebhook } from '../../src/amocrm/webhook-payload.js';
import { encodePairs, toFormPairs } from '../helpers/fixtures.js';

const meta = { deliveryId: 'd', receivedAt: '2026-01-01T00:00:00.000Z' };

/** Parses like the receiver does: a FormBodyError is a clean 400, anything else thrown is a bug. */
function receive(body: string): 'rejected' | 'parsed' {
  try {
    normalizeWebhook(expandFormBody(body), meta);
    return 'parsed';
  } catch (err) {
    if (err instanceof FormBodyError) return 'rejected';
    throw err;
  }
}

const notPolluted = (): void => {
  for (const probe of [{}, [], Object.create(Object.prototype) as object]) {
    expect((probe as Record<string, unknown>).polluted).toBeUndefined();
    expect((probe as Record<string, unknown>).x).toBeUndefined();
  }
};

const segment = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    '',
    '0',
    '1',
    '1000000000',
    '-1',
    'x',
    'leads',
    'status',
    'polluted',
    'values',
    'value',
  ),
  fc.string({ maxLength: 6 }),
  fc.nat({ max: 2_000_000_000 }).map(String),
);
const hostileKey = fc
  .tuple(segment, fc.array(segment, { maxLength: 50 }))
  .map(([head, rest]) => head + rest.map((s) => `[${s}]`).join(''));
const hostilePair = fc
  .tuple(hostileKey, fc.string({ maxLength: 8 }), fc.boolean())
  .map(([k, v, encode]) => (encode ? `${encodeURIComponent(k)}=${encodeURIComponent(v)}` : `${k}=${v}`));

describe('hostile and random form bodies', () => {
  it('when the body is random text, then it parses cleanly or fails with a FormBodyError, and nothing is polluted', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (body) => {
        receive(body);
        notPolluted();
      }),
      { numRuns: 1000 },
    );
  });

  it('when keys are hostile (reserved names, huge indices, depth 50), then nothing throws but FormBodyError', () => {
    fc.assert(
      fc.property(fc.array(hostilePair, { maxLength: 30 }), (pairs) => {
        receive(`${pairs.join('&')}&account[subdomain]=x`);
        notPolluted();
      }),
      { numRuns: 1000 },
    );
  });

  it('when known attacks are sent, then they are refused or harmless', () => {
    for (const body of [
      '__proto__[polluted]=1',
      'constructor[prototype][polluted]=1',
      'a[constructor][prototype][polluted]=1',
      '__proto__=x',
      'a[__proto__]=1',
    ]) {
      expect(receive(body)).toBe('rejected');
      notPolluted();
    }
  });

  it('when an index is 10^9, then no huge array is allocated', () => {
    const tree = expandFormBody(
      'leads[status][1000000000][id]=1&leads[status][999999999][id]=2&leads[status][0][id]=3',
    );
    const status = (tree.leads as FormTree).status;
    expect(JSON.stringify(status).length).toBeLessThan(200);
    const n = normalizeWebhook({ ...tree, account: { subdomain: 'x' } }, meta);
    expect(n.events.length + n.rejected.length).toBeGreaterThan(0);
  });

  it('when a body has 100k keys, then it parses (at the limit) or is refused, quickly and without throwing', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}=1`).join('&');
    expect(receive(keys)).toBe('parsed');
    expect(receive(`${keys}&one=more`)).toBe('rejected');
  });

  it('when a random tree is encoded as amoCRM does and expanded again, then it is the same tree', () => {
    const leaf = fc.string({ maxLength: 10 });
    const name = fc
      .stringMatching(/^[a-z_][a-z0-9_]{0,8}$/)
      .filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
    const { tree } = fc.letrec<{ tree: FormValue; node: FormValue }>((tie) => ({
      tree: fc.dictionary(name, tie('node'), { minKeys: 1, maxKeys: 4 }),
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { minLength: 1, maxLength: 4 }),
        fc.dictionary(name, tie('node'), { minKeys: 1, maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(tree, (t) => {
        const body = encodePairs(toFormPairs(t));
        // Normalise prototypes: the expander builds null-prototype objects.
        expect(JSON.parse(JSON.stringify(expandFormBody(body)))).toEqual(t);
      }),
      { numRuns: 500 },
    );
  });
});
