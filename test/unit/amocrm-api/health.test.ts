import { describe, expect, it } from '@jest/globals';
import { createAmoHealth } from '../../../src/amocrm/api/health.js';

describe('amoCRM health as the client sees it', () => {
  it('when requests fail with network errors and 5xx for longer than the limit, then it is unreachable; one success ends it', () => {
    const h = createAmoHealth({ unreachableAfterMs: 30_000 });
    expect(h.snapshot(0).state).toBe('unknown');
    h.onResponse(200, 1_000);
    h.onResponse('network', 2_000);
    h.onResponse(503, 20_000);
    expect(h.snapshot(31_000).state).toBe('ok');
    const down = h.snapshot(32_000);
    expect(down).toMatchObject({ state: 'unreachable', failingSince: 2_000, lastOkAt: 1_000 });
    expect(down.reason).toContain('30 s');
    h.onResponse(200, 33_000);
    expect(h.snapshot(34_000).state).toBe('ok');
  });

  it('when amoCRM answers with a 4xx, then it is reachable (the answer was on purpose)', () => {
    const h = createAmoHealth({ unreachableAfterMs: 1_000 });
    h.onResponse('network', 0);
    h.onResponse(400, 500);
    expect(h.snapshot(5_000).state).toBe('ok');
  });

  it('when the shared back-off is in force or the token was revoked, then it says so with the reason', () => {
    const h = createAmoHealth();
    h.onResponse(200, 0);
    expect(h.snapshot(1_000, { reason: 'blocked', retryAfterMs: 60_000 })).toMatchObject({
      state: 'backoff',
      backoff: { reason: 'blocked', until: 61_000 },
    });
    h.onAuthRevoked('refresh token expired', 2_000);
    expect(h.snapshot(3_000)).toMatchObject({
      state: 'auth_revoked',
      reason: expect.stringContaining('refresh token expired'),
    });
    h.onResponse(200, 4_000);
    expect(h.snapshot(5_000).state).toBe('ok');
  });

  it('when another process records a failing streak, then a process without requests reports it too, and not once the key is gone', () => {
    const web = createAmoHealth({ unreachableAfterMs: 10_000 });
    expect(web.snapshot(20_000, undefined, { failingSince: 5_000 })).toMatchObject({
      state: 'unreachable',
      failingSince: 5_000,
    });
    expect(web.snapshot(21_000).state).toBe('unknown');
    // A streak that began before this process's own last success is old news.
    web.onResponse(200, 22_000);
    expect(web.snapshot(40_000, undefined, { failingSince: 5_000 }).state).toBe('ok');
  });
});
