import { spawnSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { clockEnv } from '../helpers/clock-env.js';

/** Runs the production entry the way `npm start` does, from source. */
function start(env: Record<string, string>): { status: number | null; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', ...clockEnv(), ...env },
    encoding: 'utf8',
    timeout: 120_000, // tsx compiles the whole service first: slow on a busy machine
  });
  return { status: res.status, stderr: res.stderr };
}

describe('npm start (production entry)', () => {
  it('when amoCRM credentials are missing, then it refuses, names the variables and points to the demo', () => {
    const res = start({ WEBHOOK_TOKEN: 'x'.repeat(32), AMO_SUBDOMAIN: 'agency' });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('AMO_LONG_LIVED_TOKEN');
    expect(res.stderr).toContain('AMO_CLIENT_ID, AMO_CLIENT_SECRET and AMO_REDIRECT_URI');
    expect(res.stderr).toContain('npm run demo');
  });

  it('when OAuth is half configured, then the missing variables are named', () => {
    const res = start({ WEBHOOK_TOKEN: 'x'.repeat(32), AMO_SUBDOMAIN: 'agency', AMO_CLIENT_ID: 'id' });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('AMO_CLIENT_SECRET, AMO_REDIRECT_URI are missing');
  });

  it('when several variables are wrong, then one message lists all of them', () => {
    const res = start({ PORT: 'x', ROLE: 'boss' });
    expect(res.status).toBe(78);
    for (const name of ['PORT', 'ROLE', 'WEBHOOK_TOKEN', 'AMO_SUBDOMAIN']) expect(res.stderr).toContain(name);
  });
});
