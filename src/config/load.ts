/**
 * Reads and validates the rules file and its holiday calendar. Every problem comes back with its path
 * (`departments[0].managers[2].weight: must be > 0`), all of them at once.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError, ZodType } from 'zod';
import type { Calendar } from '../rules/types.js';
import { compileCalendar, type ConfigError } from './compile.js';
import { CalendarSchema, RulesConfigSchema, type RulesConfig } from './schema.js';

export type Loaded =
  | { ok: true; config: RulesConfig; calendar: Calendar; file: string }
  | { ok: false; errors: ConfigError[]; file: string };

/** What a rules or calendar text may be: far beyond any real config, far below what would hurt the process. */
export const MAX_TEXT_CHARS = 1_000_000;
export const MAX_DEPTH = 64;
export const MAX_ALIASES = 100;

/** True when `value` nests objects or arrays deeper than `max` (iterative: a hostile depth cannot overflow the stack). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (out, part) =>
      typeof part === 'number' ? `${out}[${part}]` : out === '' ? String(part) : `${out}.${String(part)}`,
    '',
  );
}

export function zodErrors(error: ZodError, prefix = ''): ConfigError[] {
  return error.issues.map((i) => ({ path: `${prefix}${formatPath(i.path)}` || '(file)', message: i.message }));
}

async function readYaml<T>(
  file: string,
  schema: ZodType<T>,
  label: string,
): Promise<{ ok: true; value: T } | { ok: false; errors: ConfigError[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [{ path: label, message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  return parseYaml(text, schema, label);
}

function parseYaml<T>(
  text: string,
  schema: ZodType<T>,
  label: string,
): { ok: true; value: T } | { ok: false; errors: ConfigError[] } {
  if (text.length > MAX_TEXT_CHARS)
    return {
      ok: false,
      errors: [{ path: label, message: `the text is longer than ${MAX_TEXT_CHARS} characters` }],
    };
  let doc: ReturnType<typeof parseDocument>;
  let value: unknown;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    // An alias bomb (aliases of aliases) and nesting deeper than a config has are refused, not expanded.
    value = doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: MAX_ALIASES });
    if (value !== undefined && nestedDeeperThan(value, MAX_DEPTH))
      return { ok: false, errors: [{ path: label, message: `nested deeper than ${MAX_DEPTH} levels` }] };
  } catch (err) {
    const message =
      err instanceof RangeError
        ? `nested deeper than ${MAX_DEPTH} levels`
        : /alias/i.test((err as Error).message)
          ? `more than ${MAX_ALIASES} alias expansions (a YAML alias bomb?)`
          : (err as Error).message.split('\n')[0]!;
    return { ok: false, errors: [{ path: label, message }] };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({
        path: `${label}:${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0] ?? e.message,
      })),
    };
  }
  const parsed = schema.safeParse(value);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: zodErrors(parsed.error, label === 'rules' ? '' : `${label}: `) };
}

export async function loadRulesFile(file: string): Promise<Loaded> {
  const rules = await readYaml(file, RulesConfigSchema, 'rules');
  if (!rules.ok) return { ok: false, errors: rules.errors, file };
  return withCalendar(rules.value, file);
}

/**
 * Validates rules given as YAML text (a draft from the admin API, a stored version). The calendar is read relative
 * to `file`, the rules file's place, as if the text were in it.
 */
export async function parseRulesText(text: string, file: string): Promise<Loaded> {
  const rules = parseYaml(text, RulesConfigSchema, 'rules');
  if (!rules.ok) return { ok: false, errors: rules.errors, file };
  return withCalendar(rules.value, file);
}

/** Where calendars are looked up: beside the rules file, then the ones shipped with the service. */
export function calendarFolders(file: string): string[] {
  return [...new Set([resolve(dirname(file), 'calendars'), resolve('config', 'calendars')])];
}

async function withCalendar(config: RulesConfig, file: string): Promise<Loaded> {
  // The schema allows only a file name (optionally under calendars/): no other folder can be named from a draft.
  const name = basename(config.calendar);
  const folders = calendarFolders(file);
  const found = folders.map((dir) => join(dir, name)).find((candidate) => existsSync(candidate));
  if (found === undefined) {
    const known = [...new Set(folders.flatMap((dir) => calendarsIn(dir)))].sort();
    return {
      ok: false,
      errors: [
        {
          path: 'calendar',
          message: `no calendar "${name}" in the calendars/ folder; calendars: ${known.join(', ') || 'none'}`,
        },
      ],
      file,
    };
  }
  const calendar = await readYaml(found, CalendarSchema, 'calendar');
  if (!calendar.ok) return { ok: false, errors: calendar.errors, file };
  return { ok: true, config, calendar: compileCalendar(calendar.value), file };
}

function calendarsIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  } catch {
    return [];
  }
}
