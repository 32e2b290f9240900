/**
 * Expands amoCRM's PHP-style form bodies (`leads[status][0][custom_fields][0][values][0][value]=…`) into a tree.
 *
 * Why our own expander and not `qs`: qs's defaults (depth 5, arrayLimit 20, parameterLimit 1000) silently
 * corrupt amoCRM bodies — a custom field value sits 7 levels deep and a mass action sends hundreds of items —
 * and every limit would have to be raised by hand, after which its array handling (sparse indices, index
 * 10^9) still needs guarding. amoCRM's grammar is small: name, then `[segment]`s. This expander handles exactly
 * that in one pass over URLSearchParams' pairs, keeps objects prototype-free, never allocates a sparse array
 * (numeric keys stay map keys until `toListIfIndexed` turns a fully numeric object into a dense list ordered by
 * index), and fails with a typed FormBodyError naming the limit or the key, never anything else.
 */

export type FormValue = string | FormTree | FormValue[];
export interface FormTree {
  [key: string]: FormValue;
}

export interface FormLimits {
  /** Pairs in one body; amoCRM's largest mass actions stay far below. */
  maxParameters: number;
  /** Bracket segments after the name; amoCRM's deepest key has 7. */
  maxDepth: number;
  /** Characters in one key. */
  maxKeyLength: number;
}

export const DEFAULT_FORM_LIMITS: FormLimits = { maxParameters: 100_000, maxDepth: 16, maxKeyLength: 1_000 };

export type FormBodyErrorKind =
  | 'too_many_parameters'
  | 'too_deep'
  | 'key_too_long'
  | 'malformed_key'
  | 'conflicting_keys'
  | 'forbidden_key'
  | 'bad_encoding'
  | 'invalid_json';

export class FormBodyError extends Error {
  constructor(
    readonly kind: FormBodyErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'FormBodyError';
  }
}

/** Segments that could reach a prototype if the tree were ever merged into a plain object. */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

const INDEX = /^(?:0|[1-9]\d{0,8})$/;

interface Node {
  /** Insertion-ordered children; a Map keeps "__proto__" an ordinary key. */
  children: Map<string, Node | string>;
  /** Next index for `[]` appends. */
  next: number;
}

const newNode = (): Node => ({ children: new Map(), next: 0 });

function decode(component: string): string {
  const spaced = component.includes('+') ? component.replace(/\+/g, ' ') : component;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw new FormBodyError('bad_encoding', `malformed percent-encoding in "${truncate(component)}"`);
  }
}

const truncate = (s: string): string => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

/** Splits `a[b][0][]` into ['a', 'b', '0', '']; a key without brackets is one segment. */
function splitKey(key: string, limits: FormLimits): string[] {
  const open = key.indexOf('[');
  if (open === -1) return [key];
  if (open === 0) throw new FormBodyError('malformed_key', `key "${truncate(key)}" has no name before its brackets`);
  const segments = [key.slice(0, open)];
  let i = open;
  while (i < key.length) {
    if (key[i] !== '[') throw new FormBodyError('malformed_key', `key "${truncate(key)}" has text between brackets`);
    const close = key.indexOf(']', i + 1);
    if (close === -1) throw new FormBodyError('malformed_key', `key "${truncate(key)}" has an unclosed bracket`);
    const segment = key.slice(i + 1, close);
    if (segment.includes('[')) throw new FormBodyError('malformed_key', `key "${truncate(key)}" has a nested bracket`);
    segments.push(segment);
    if (segments.length - 1 > limits.maxDepth) {
      throw new FormBodyError('too_deep', `key "${truncate(key)}" is nested deeper than ${limits.maxDepth} levels`);
    }
    i = close + 1;
  }
  return segments;
}

function insert(root: Node, segments: string[], value: string, key: string): void {
  let node = root;
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i] as string;
    if (FORBIDDEN.has(segment))
      throw new FormBodyError('forbidden_key', `key "${truncate(key)}" uses the reserved name "${segment}"`);
    if (segment === '') {
      if (i === 0) throw new FormBodyError('malformed_key', `key "${truncate(key)}" has an empty name`);
      segment = String(node.next);
    }
    if (INDEX.test(segment)) node.next = Math.max(node.next, Number(segment) + 1);
    const last = i === segments.length - 1;
    const existing = node.children.get(segment);
    if (last) {
      if (existing !== undefined && typeof existing !== 'string') {
        throw new FormBodyError('conflicting_keys', `key "${truncate(key)}" is both a value and a group of keys`);
      }
      // A repeated plain key keeps the last value, as PHP does.
      node.children.set(segment, value);
      return;
    }
    if (typeof existing === 'string') {
      throw new FormBodyError('conflicting_keys', `key "${truncate(key)}" is both a value and a group of keys`);
    }
    let child = existing;
    if (child === undefined) {
      child = newNode();
      node.children.set(segment, child);
    }
    node = child;
  }
}

/** A node whose keys are all array indices becomes a dense list ordered by index (gaps are dropped, not filled). */
function toValue(node: Node): FormValue {
  const entries = [...node.children.entries()];
  if (entries.length > 0 && entries.every(([k]) => INDEX.test(k))) {
    return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, v]) => (typeof v === 'string' ? v : toValue(v)));
  }
  const tree: FormTree = Object.create(null) as FormTree;
  for (const [k, v] of entries) tree[k] = typeof v === 'string' ? v : toValue(v);
  return tree;
}

export function expandFormBody(body: string, limits: Partial<FormLimits> = {}): FormTree {
  const lim = { ...DEFAULT_FORM_LIMITS, ...limits };
  const root = newNode();
  let count = 0;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf('&', start);
    if (end === -1) end = body.length;
    if (end > start) {
      count += 1;
      if (count > lim.maxParameters) {
        throw new FormBodyError('too_many_parameters', `body has more than ${lim.maxParameters} parameters`);
      }
      const pair = body.slice(start, end);
      const eq = pair.indexOf('=');
      const rawKey = eq === -1 ? pair : pair.slice(0, eq);
      if (rawKey.length > lim.maxKeyLength * 3) {
        throw new FormBodyError('key_too_long', `a key is longer than ${lim.maxKeyLength} characters`);
      }
      const key = decode(rawKey);
      if (key.length > lim.maxKeyLength)
        throw new FormBodyError('key_too_long', `a key is longer than ${lim.maxKeyLength} characters`);
      if (key !== '') insert(root, splitKey(key, lim), eq === -1 ? '' : decode(pair.slice(eq + 1)), key);
    }
    start = end + 1;
  }
  const tree = toValue(root);
  if (Array.isArray(tree)) {
    // Top-level numeric names ("0=a&1=b") are not amoCRM's shape; keep them as an object so callers see keys.
    const obj: FormTree = Object.create(null) as FormTree;
    tree.forEach((v, i) => (obj[String(i)] = v));
    return obj;
  }
  return tree as FormTree;
}
