/**
 * `npm run admin:add -- "<name>"`: adds a named admin to ADMINS_FILE (default config/admins.yaml), or sets a new
 * password for one already there. The password is read from standard input (`printf '%s' "$PASSWORD" | npm run
 * admin:add -- "Ольга Петрова"`) or, when stdin is a terminal or empty, generated and printed once. Only its scrypt
 * hash is written; the service rereads the file at start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { AdminAccountsSchema, hashPassword, MIN_PASSWORD_LENGTH } from '../admin/accounts.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function main(): Promise<number> {
  const name = process.argv.slice(2).join(' ').trim();
  if (name === '') {
    console.error(
      'usage: printf "%s" "$PASSWORD" | npm run admin:add -- "<name>"   (no stdin: a password is generated)',
    );
    return 2;
  }
  const file = process.env.ADMINS_FILE ?? 'config/admins.yaml';
  const given = await readStdin();
  const generated = given === '';
  const password = generated ? randomBytes(18).toString('base64url') : given;
  if (password.length < MIN_PASSWORD_LENGTH) {
    console.error(`the password is too short: at least ${MIN_PASSWORD_LENGTH} characters`);
    return 2;
  }
  const doc = parseDocument(existsSync(file) ? readFileSync(file, 'utf8') : 'admins: []\n');
  const current = AdminAccountsSchema.safeParse(doc.toJS() ?? {});
  if (!current.success) {
    console.error(`${file} is not an admin accounts file: ${current.error.issues[0]?.message ?? ''}`);
    return 1;
  }
  const admins = current.data.admins;
  const index = admins.findIndex((a) => a.name.toLowerCase() === name.toLowerCase());
  const entry = { name, password: hashPassword(password) };
  // An existing admin keeps their name as written and their other settings; only the hash changes.
  if (index >= 0) doc.setIn(['admins', index, 'password'], entry.password);
  else if (doc.has('admins') && admins.length > 0) doc.addIn(['admins'], doc.createNode(entry));
  else doc.set('admins', doc.createNode([entry]));
  writeFileSync(file, String(doc), { mode: 0o600 });
  const shown = index >= 0 ? admins[index]!.name : name;
  console.log(`${index >= 0 ? 'new password for' : 'added'} "${shown}" in ${file}; restart the web processes to apply`);
  if (generated) console.log(`password (shown once): ${password}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
