import { describe, expect, it } from '@jest/globals';
import { EnvError, expectedSubdomain, parseEnv } from '../../src/env.js';

const valid = { WEBHOOK_TOKEN: 'x'.repeat(24), AMO_SUBDOMAIN: 'myagency' };

describe('environment contract', () => {
  it('when only the required variables are set, then the documented defaults apply', () => {
    const env = parseEnv(valid);
    expect(env).toMatchObject({
      PORT: 3000,
      REDIS_URL: 'redis://127.0.0.1:6379',
      ROLE: 'all',
      RULES_FILE: 'config/rules.yaml',
      AMO_RPS: 7,
      AMO_BLOCK_COOLDOWN_MS: 600_000,
    });
  });

  it('when the block cool-down is set, then it is read in milliseconds and a nonsense value is refused', () => {
    expect(parseEnv({ ...valid, AMO_BLOCK_COOLDOWN_MS: '120000' }).AMO_BLOCK_COOLDOWN_MS).toBe(120_000);
    expect(() => parseEnv({ ...valid, AMO_BLOCK_COOLDOWN_MS: '10' })).toThrow(/AMO_BLOCK_COOLDOWN_MS/);
  });

  it('when several variables are bad, then one error lists every problem', () => {
    let error: unknown;
    try {
      parseEnv({ PORT: 'abc', ROLE: 'boss', WEBHOOK_TOKEN: 'short', REDIS_URL: 'http://x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    const problems = (error as EnvError).problems.join('\n');
    for (const name of ['PORT', 'ROLE', 'WEBHOOK_TOKEN', 'REDIS_URL', 'AMO_SUBDOMAIN'])
      expect(problems).toContain(name);
    expect(problems).toContain('at least 24');
  });

  it('when AMO_BASE_URL points at a simulator, then the subdomain comes from AMO_SUBDOMAIN or the host', () => {
    expect(
      expectedSubdomain(parseEnv({ WEBHOOK_TOKEN: 'x'.repeat(24), AMO_BASE_URL: 'https://agency.amocrm.ru' })),
    ).toBe('agency');
    expect(expectedSubdomain(parseEnv({ ...valid, AMO_BASE_URL: 'http://127.0.0.1:4010' }))).toBe('myagency');
  });
});
