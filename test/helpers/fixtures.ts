/**
 * Turns the captured amoCRM samples in test/fixtures/amocrm/ into the HTTP bodies amoCRM sends.
 * Samples come as raw form bodies, curl commands, Python dicts of flat keys, flat JSON, or the parsed
 * JSON trees of the official docs (sometimes two in one file, separated by `//comment` lines).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'amocrm');

export interface SampleBody {
  file: string;
  /** Position of the example inside the file (doc files can hold two). */
  index: number;
  contentType: 'application/x-www-form-urlencoded' | 'application/json';
  body: string;
}

/** PHP's urlencode: spaces as '+', everything else outside [A-Za-z0-9-_.] percent-encoded. */
export const phpEncode = (s: string): string =>
  encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export function sampleFiles(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.txt'))
    .sort();
}

function content(file: string): string {
  return readFileSync(join(FIXTURE_DIR, file), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('# '))
    .join('\n')
    .trim();
}

/** Splits "{...}{...}" or "//label\n{...}//label\n{...}" into the JSON texts it holds. */
function jsonTexts(text: string): string[] {
  const cleaned = text.replace(/^\/\/.*$/gm, '').replace(/\/\/[^\n"{}]*(?=\{)/g, '');
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < cleaned.length; i++) {
    const c = cleaned[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0 && start >= 0) out.push(cleaned.slice(start, i + 1));
    }
  }
  // The doc's sample 19 lost its closing brace in the mirror; close what is open.
  if (depth > 0 && start >= 0) out.push(cleaned.slice(start) + '}'.repeat(depth));
  return out;
}

/** Flattens a JSON tree into PHP bracket pairs, the way amoCRM's form encoder writes it. */
export function toFormPairs(value: unknown, prefix = ''): Array<[string, string]> {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    return entries.flatMap(([k, v]) => toFormPairs(v, prefix === '' ? k : `${prefix}[${k}]`));
  }
  return [[prefix, value === null || value === undefined ? '' : String(value)]];
}

export const encodePairs = (pairs: Array<[string, string]>): string =>
  pairs.map(([k, v]) => `${phpEncode(k)}=${phpEncode(v)}`).join('&');

export function loadSample(file: string): SampleBody[] {
  const text = content(file);
  const form = (body: string, index = 0): SampleBody => ({
    file,
    index,
    contentType: 'application/x-www-form-urlencoded',
    body,
  });
  if (text.startsWith('curl ')) {
    // --data-urlencode 'key=value': keys are given percent-encoded already, curl encodes the value.
    const pairs = [...text.matchAll(/--data-urlencode '([^']*)'/g)].map((m) => {
      const raw = m[1] ?? '';
      const eq = raw.indexOf('=');
      return `${raw.slice(0, eq)}=${phpEncode(raw.slice(eq + 1))}`;
    });
    return [form(pairs.join('&'))];
  }
  if (text.startsWith("{'")) {
    const pairs = [...text.matchAll(/'([^']*)':\s*'([^']*)'/g)].map(
      (m) => [m[1] ?? '', m[2] ?? ''] as [string, string],
    );
    return [form(encodePairs(pairs))];
  }
  if (/^[a-z]+%5B/i.test(text) || /^[a-z]+\[/i.test(text)) return [form(text.split('\n')[0] ?? '')];
  const jsons = jsonTexts(text);
  if (jsons.length === 0) return [];
  return jsons.flatMap((json, index) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      // Kept verbatim (the doc's own JSON is malformed): the receiver must answer 400, not crash.
      return [{ file, index, contentType: 'application/json' as const, body: json }];
    }
    const flatKeys = parsed !== null && typeof parsed === 'object' && Object.keys(parsed).every((k) => k.includes('['));
    if (flatKeys) return [form(encodePairs(Object.entries(parsed as Record<string, string>)), index)];
    return [
      { file, index, contentType: 'application/json' as const, body: json },
      form(encodePairs(toFormPairs(parsed)), index),
    ];
  });
}
