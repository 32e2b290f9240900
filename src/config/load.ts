/**
 * Reads and validates the rules file and its holiday calendar. Every problem comes back with its path
 * (`departments[0].managers[2].weight: must be > 0`), all of them at once.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError, ZodType } from 'zod';
import type { Calendar } from '../rules/types.js';
import { compileCalendar, type ConfigError } from './compile.js';
import { CalendarSchema, RulesConfigSchema, type RulesConfig } from './schema.js';

export type Loaded =
  | { ok: true; config: RulesConfig; calendar: Calendar; file: string }
  | { ok: false; errors: ConfigError[]; file: string };

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
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({
        path: `${label}:${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0] ?? e.message,
      })),
    };
  }
  const parsed = schema.safeParse(doc.toJS());
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

async function withCalendar(config: RulesConfig, file: string): Promise<Loaded> {
  const rules = { value: config };
  const calendarFile = resolve(dirname(file), rules.value.calendar);
  const calendar = await readYaml(calendarFile, CalendarSchema, 'calendar');
  if (!calendar.ok) return { ok: false, errors: calendar.errors, file };
  return { ok: true, config: rules.value, calendar: compileCalendar(calendar.value), file };
}
