/**
 * Admins are people: each signs in with their own name and password (ADMINS_FILE, scrypt hashes), and the versions
 * and the audit log name them and their address. Sign-in is throttled per account and address, so a stranger's
 * guesses never lock out an admin elsewhere; behind a proxy (TRUST_PROXY) the cookie is Secure over HTTPS.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminAccounts, hashPassword, loadAdminAccounts, verifyPassword } from '../../../src/admin/accounts.js';
import { planAdmin } from '../../../src/http/admin-server.js';
import { createLogger } from '../../../src/lib/logger.js';
import { ADMIN_TOKEN, bearer, startAdminHarness, type AdminHarness } from '../../helpers/admin.js';

const OLGA = { name: 'Ольга Петрова', password: 'olga-correct-horse-1' };
const IVAN = { name: 'Иван Сидоров', password: 'ivan-battery-staple-2' };
const accounts = adminAccounts({
  admins: [
    { name: OLGA.name, password: hashPassword(OLGA.password), disabled: false },
    { name: IVAN.name, password: hashPassword(IVAN.password), disabled: false },
    { name: 'Уволенный Админ', password: hashPassword('fired-admin-password'), disabled: true },
  ],
});

describe('named admins', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdminHarness({ signInPerMinute: 3, accounts, trustProxy: '127.0.0.1' });
  });
  afterAll(async () => {
    await h.close();
  });

  const signInAs = async (who: { name: string; password: string }, address = '127.0.0.1', headers = {}) =>
    h.app.inject({ method: 'POST', url: '/admin/api/session', payload: who, remoteAddress: address, headers });
  const session = async (who: { name: string; password: string }) => {
    const res = await signInAs(who);
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    return { cookie, csrf: (res.json() as { csrfToken: string }).csrfToken };
  };

  it('when two admins each apply a change, then the versions and the audit name each of them and their address', async () => {
    const olga = await session(OLGA);
    const ivan = await session(IVAN);
    const me = await h.app.inject({ method: 'GET', url: '/admin/api/session', headers: { cookie: olga.cookie } });
    expect(me.json()).toMatchObject({ kind: 'session', admin: OLGA.name });
    const apply = async (s: { cookie: string; csrf: string }, timeout: string, comment: string) => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/api/config/apply',
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
        payload: { text: h.demoText.replace(/timeout: PT15S/, `timeout: ${timeout}`), comment },
      });
      expect(res.statusCode).toBe(200);
    };
    await apply(olga, 'PT20S', 'Ольга: 20 секунд');
    await apply(ivan, 'PT25S', 'Иван: 25 секунд');
    const versions = (await h.app.inject({ method: 'GET', url: '/admin/api/versions', headers: bearer })).json() as {
      versions: Array<{ author: string; comment: string }>;
    };
    expect(versions.versions.slice(0, 2).map((v) => [v.author, v.comment])).toEqual([
      [IVAN.name, 'Иван: 25 секунд'],
      [OLGA.name, 'Ольга: 20 секунд'],
    ]);
    const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
      entries: Array<{ actor: string; action: string; address?: string }>;
    };
    const applies = audit.entries.filter((e) => e.action === 'apply');
    expect(applies.map((e) => [e.actor, e.address])).toEqual([
      [IVAN.name, '127.0.0.1'],
      [OLGA.name, '127.0.0.1'],
    ]);
  });

  it('when the password is wrong, the name unknown or the account disabled, then the same Russian refusal, recorded', async () => {
    for (const who of [
      { name: OLGA.name, password: 'wrong-password-123' },
      { name: 'Никто Никтович', password: OLGA.password },
      { name: 'Уволенный Админ', password: 'fired-admin-password' },
    ]) {
      const res = await signInAs(who, '10.1.1.1');
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: { code: 'unauthorized', message: 'Неверное имя или пароль.' } });
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.body).not.toContain(who.password);
    }
    const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
      entries: Array<{ action: string; outcome: string; detail?: { name?: string } }>;
    };
    expect(
      audit.entries.filter((e) => e.action === 'sign_in' && e.outcome === 'refused').map((e) => e.detail?.name),
    ).toEqual(expect.arrayContaining([OLGA.name, 'Никто Никтович', 'Уволенный Админ']));
  });

  it('when a stranger guesses Ольга’s password from one address until throttled, then Ольга elsewhere and Иван there still sign in', async () => {
    for (let i = 0; i < 3; i++)
      expect((await signInAs({ name: OLGA.name, password: `guess-${i}-guess` }, '10.9.9.9')).statusCode).toBe(401);
    const throttled = await signInAs(OLGA, '10.9.9.9');
    expect(throttled.statusCode).toBe(429);
    expect(throttled.json()).toMatchObject({
      error: { code: 'too_many', message: expect.stringContaining('подождите') },
    });
    expect((await signInAs(OLGA, '10.2.2.2')).statusCode).toBe(200);
    expect((await signInAs(IVAN, '10.9.9.9')).statusCode).toBe(200);
    // The shared token from the same address is another account too.
    expect((await signInAs({ token: ADMIN_TOKEN } as never, '10.9.9.9')).statusCode).toBe(200);
  });

  it('when behind the trusted proxy over HTTPS, then the cookie is Secure and the audit names the client’s address', async () => {
    const res = await signInAs(IVAN, '127.0.0.1', { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' });
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(/;\s*Secure/i);
    const plain = await signInAs(IVAN, '127.0.0.1');
    expect(String(plain.headers['set-cookie'])).not.toMatch(/;\s*Secure/i);
    const audit = (await h.app.inject({ method: 'GET', url: '/admin/api/audit', headers: bearer })).json() as {
      entries: Array<{ action: string; outcome: string; address?: string; actor: string }>;
    };
    expect(
      audit.entries.find((e) => e.action === 'sign_in' && e.outcome === 'ok' && e.address === '203.0.113.7'),
    ).toMatchObject({
      actor: IVAN.name,
    });
  });
});

describe('admin accounts file', () => {
  it('when a password is hashed, then only the same password verifies, and the hash differs every time', () => {
    const a = hashPassword('a-long-password');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(verifyPassword('a-long-password', a)).toBe(true);
    expect(verifyPassword('a-long-passworD', a)).toBe(false);
    expect(hashPassword('a-long-password')).not.toBe(a);
    expect(verifyPassword('x', 'not-a-hash')).toBe(false);
  });

  it('when the file holds a plain password or a name twice, then the admin area stays off with the reason, the token alone never signs in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'admins-'));
    const file = join(dir, 'admins.yaml');
    writeFileSync(file, 'admins:\n  - { name: Ольга, password: hunter2hunter2 }\n');
    expect(() => loadAdminAccounts(file)).toThrow(/admin:add/);
    const env = {
      ADMIN_ENABLED: true,
      ADMIN_TOKEN,
      ADMIN_HOST: '127.0.0.1',
      ADMIN_SESSION_MINUTES: 30,
      ADMIN_PORT: undefined,
      ADMINS_FILE: file,
    };
    const logger = createLogger({ level: 'silent' });
    const plan = planAdmin(env, logger, () => {
      throw new Error('not built when off');
    });
    expect(plan).toMatchObject({ kind: 'off', reason: expect.stringContaining('admins.yaml') });
    writeFileSync(
      file,
      `admins:\n  - { name: Ольга, password: "${hashPassword('x-long-password')}" }\n  - { name: ольга, password: "${hashPassword('y-long-password')}" }\n`,
    );
    expect(() => loadAdminAccounts(file)).toThrow(/listed twice/);
  });
});
