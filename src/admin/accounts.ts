/**
 * Named admin accounts: each admin signs in as themselves, so versions, the audit log and histories name a person.
 * The accounts live in a YAML file (ADMINS_FILE) of names and scrypt hashes (`npm run admin:add` writes one); the
 * service only reads it. Passwords are never stored or logged; verification takes the same time for an unknown name
 * as for a wrong password.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

const N = 16_384;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
export const MIN_PASSWORD_LENGTH = 12;

/** `scrypt$16384$8$1$<salt base64url>$<key base64url>` for a password, with a fresh salt. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, KEY_BYTES, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const HASH = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

/** Compares in constant time; a malformed stored hash never matches. */
export function verifyPassword(password: string, stored: string): boolean {
  const m = HASH.exec(stored);
  if (!m) return false;
  const [, n, r, p, salt, key] = m;
  const expected = Buffer.from(key!, 'base64url');
  const got = scryptSync(password, Buffer.from(salt!, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(got, expected);
}

/** Verified against when the name is unknown, so a stranger cannot tell names from timing (made on first use). */
let decoy: string | undefined;
const decoyHash = (): string => (decoy ??= hashPassword(randomBytes(16).toString('hex')));

export const AdminAccountsSchema = z
  .object({
    admins: z
      .array(
        z
          .object({
            /** As the person is called in the history: «Ольга Петрова». */
            name: z.string().trim().min(1).max(100),
            password: z.string().regex(HASH, 'must be a hash written by `npm run admin:add`, never a password'),
            /** Kept for the history, but can no longer sign in. */
            disabled: z.boolean().default(false),
          })
          .strict(),
      )
      .default([]),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.admins.forEach((a, i) => {
      const key = a.name.toLowerCase();
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['admins', i, 'name'], message: `"${a.name}" is listed twice` });
      seen.add(key);
    });
  });
export type AdminAccountsFile = z.infer<typeof AdminAccountsSchema>;

export interface AdminAccounts {
  /** The account's name as written in the file, when the password is right and the account is not disabled. */
  verify(name: string, password: string): string | undefined;
  count: number;
}

export function adminAccounts(file: AdminAccountsFile): AdminAccounts {
  const byName = new Map(file.admins.map((a) => [a.name.toLowerCase(), a]));
  return {
    count: file.admins.filter((a) => !a.disabled).length,
    verify(name, password) {
      const account = byName.get(name.trim().toLowerCase());
      const ok = verifyPassword(password, account?.password ?? decoyHash());
      return ok && account && !account.disabled ? account.name : undefined;
    },
  };
}

/** Reads ADMINS_FILE; throws an Error naming the file and every problem (the service refuses to start on it). */
export function loadAdminAccounts(path: string): AdminAccounts {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'), { maxAliasCount: 10 }) ?? {};
  } catch (err) {
    throw new Error(`cannot read the admin accounts in ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = AdminAccountsSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `the admin accounts in ${path} are invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return adminAccounts(parsed.data);
}
