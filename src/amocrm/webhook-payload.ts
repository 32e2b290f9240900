/**
 * amoCRM webhook structure → typed domain events (src/rules/events.ts).
 *
 * Input is the expanded form tree (form-body.ts) or the same structure parsed from JSON. amoCRM sends every
 * value as a string; here ids become numbers and unix-second timestamps become ISO instants. Each item is
 * validated on its own: an invalid item is returned in `rejected` with the reason, and the valid items of the
 * same body still come out. Formats: amocrm.md §1, samples 02-33.
 */
import { DateTime } from 'luxon';
import type { ZodType } from 'zod';
import {
  ContactEventSchema,
  LeadEventSchema,
  NoteEventSchema,
  TaskEventSchema,
  UnsortedEventSchema,
  type CustomField,
  type Tag,
  type WebhookEvent,
} from '../rules/events.js';

export interface RejectedItem {
  /** Where the item sat in the body, e.g. "leads.status[3]". */
  path: string;
  reason: string;
  item: unknown;
}

export interface NormalizedWebhook {
  account: { id?: number; subdomain: string } | undefined;
  events: WebhookEvent[];
  rejected: RejectedItem[];
  /** Parts of the body we do not act on (chat messages, talks, catalogs…), by path. */
  ignored: string[];
}

export interface NormalizeMeta {
  deliveryId: string;
  receivedAt: string;
  /** The account's zone, for the "Y-m-d H:i:s" local times of tasks and notes. */
  timeZone?: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own keys only: a JSON body may carry "__proto__" as an ordinary key, which must never be followed. */
const get = (o: Obj, key: string): unknown => (Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined);

/** amoCRM lists arrive as arrays (form `[0]`, JSON arrays) or as objects keyed by index (PHP's json_encode of sparse arrays). */
function items(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (isObj(v)) return Object.keys(v).map((k) => v[k]);
  return [];
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** A non-negative integer id; amoCRM sends them as strings. Undefined when absent or empty, NaN when garbage. */
function id(v: unknown): number | undefined {
  const s = str(v)?.trim();
  if (s === undefined || s === '') return undefined;
  return /^\d{1,15}$/.test(s) ? Number(s) : Number.NaN;
}

function num(v: unknown): number | undefined {
  const s = str(v)?.trim();
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Unix seconds (as amoCRM sends lead timestamps) → ISO instant; 0 and garbage mean "unknown". */
function unixInstant(v: unknown): string | undefined {
  const n = num(v);
  if (n === undefined || n <= 0 || n > 32_503_680_000) return undefined;
  return new Date(n * 1000).toISOString();
}

/** "2024-09-17 16:38:11" in the account's zone (tasks, notes) → ISO instant. */
function localInstant(v: unknown, zone: string): string | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (/^\d+$/.test(s)) return unixInstant(s);
  const dt = DateTime.fromFormat(s, 'yyyy-MM-dd HH:mm:ss', { zone });
  return dt.isValid ? (dt.toUTC().toISO() ?? undefined) : undefined;
}

function setIf<T extends object, K extends string, V>(target: T, key: K, value: V | undefined): void {
  if (value !== undefined) (target as Record<string, unknown>)[key] = value;
}

function customFields(v: unknown): CustomField[] {
  return items(v).flatMap((raw) => {
    if (!isObj(raw)) return [];
    const fieldId = id(get(raw, 'id'));
    if (fieldId === undefined || Number.isNaN(fieldId)) return [];
    // values: a list of {value, enum}; a radiobutton sends one object {value, enum}; a date sends bare timestamps.
    const rawValues = get(raw, 'values');
    const list =
      isObj(rawValues) && (get(rawValues, 'value') !== undefined || get(rawValues, 'enum') !== undefined)
        ? [rawValues]
        : items(rawValues);
    const values = list.flatMap((entry) => {
      if (isObj(entry)) {
        const value = str(get(entry, 'value')) ?? '';
        const e = id(get(entry, 'enum'));
        return [e !== undefined && !Number.isNaN(e) ? { value, enum: e } : { value }];
      }
      const value = str(entry);
      return value === undefined ? [] : [{ value }];
    });
    const field: CustomField = { id: fieldId, values };
    setIf(field, 'name', str(get(raw, 'name')));
    setIf(field, 'code', str(get(raw, 'code')));
    return [field];
  });
}

function tags(v: unknown): Tag[] {
  return items(v).flatMap((raw) => {
    if (isObj(raw)) {
      const name = str(get(raw, 'name'));
      if (name === undefined) return [];
      const tagId = id(get(raw, 'id'));
      return [tagId !== undefined && !Number.isNaN(tagId) ? { id: tagId, name } : { name }];
    }
    const name = str(raw);
    return name === undefined ? [] : [{ name }];
  });
}

const LEAD_ACTIONS = ['add', 'update', 'status', 'responsible', 'delete', 'restore'] as const;
const CONTACT_ACTIONS = ['add', 'update', 'delete', 'restore', 'responsible'] as const;
const TASK_ACTIONS = ['add', 'update', 'delete'] as const;
const UNSORTED_ACTIONS = ['add', 'update', 'delete'] as const;
/** amoCRM's element_type: 1 contact, 2 lead, 3 company, 12 customer. */
const ELEMENT_TYPES: Record<string, 'contact' | 'lead' | 'company' | 'customer'> = {
  '1': 'contact',
  '2': 'lead',
  '3': 'company',
  '12': 'customer',
};

/** The fields of a full lead object that mean the body is not the Digital Pipeline short form. */
const FULL_FORM_MARKERS = [
  'name',
  'responsible_user_id',
  'last_modified',
  'modified_user_id',
  'created_user_id',
  'date_create',
  'updated_at',
];

interface Ctx {
  meta: NormalizeMeta;
  base: { deliveryId: string; receivedAt: string; account: { id?: number; subdomain: string } };
  zone: string;
  events: WebhookEvent[];
  rejected: RejectedItem[];
}

function emit(ctx: Ctx, path: string, raw: unknown, schema: ZodType, candidate: Obj): void {
  const result = schema.safeParse(candidate);
  if (result.success) {
    ctx.events.push(result.data as WebhookEvent);
    return;
  }
  const reason = result.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; ');
  ctx.rejected.push({ path, reason, item: raw });
}

function lead(ctx: Ctx, action: (typeof LEAD_ACTIONS)[number], raw: unknown, path: string): void {
  if (!isObj(raw)) return void ctx.rejected.push({ path, reason: 'item is not an object', item: raw });
  const leadId = id(get(raw, 'id'));
  // A delete carries only ids in every form, so it is never the short form.
  const short = action !== 'delete' && !FULL_FORM_MARKERS.some((k) => get(raw, k) !== undefined);
  const updatedAt = unixInstant(get(raw, 'updated_at')) ?? unixInstant(get(raw, 'last_modified'));
  const createdAt = unixInstant(get(raw, 'created_at')) ?? unixInstant(get(raw, 'date_create'));
  const e: Obj = {
    ...ctx.base,
    kind: 'lead',
    action,
    leadId,
    short,
    tags: tags(get(raw, 'tags')),
    customFields: customFields(get(raw, 'custom_fields')),
  };
  setIf(e, 'name', str(get(raw, 'name')));
  for (const [field, key] of [
    ['pipelineId', 'pipeline_id'],
    ['statusId', 'status_id'],
    ['oldPipelineId', 'old_pipeline_id'],
    ['oldStatusId', 'old_status_id'],
    ['responsibleUserId', 'responsible_user_id'],
    ['oldResponsibleUserId', 'old_responsible_user_id'],
    ['modifiedUserId', 'modified_user_id'],
    ['createdUserId', 'created_user_id'],
  ] as const) {
    setIf(e, field, id(get(raw, key)));
  }
  setIf(e, 'price', num(get(raw, 'price')));
  setIf(e, 'createdAt', createdAt);
  setIf(e, 'updatedAt', updatedAt);
  const ts = str(get(raw, 'updated_at')) ?? str(get(raw, 'last_modified')) ?? '';
  const p = (k: string): string => str(get(raw, k)) ?? '';
  e.dedupeKey = short
    ? `lead:${p('id')}:short:${action}:${p('pipeline_id')}:${p('status_id')}:${p('old_status_id')}`
    : action === 'delete'
      ? `lead:${p('id')}:delete`
      : action === 'add' || action === 'restore'
        ? `lead:${p('id')}:${action}:${ts}`
        : // update, status and responsible for one change carry the same id and time: one logical change.
          `lead:${p('id')}:change:${ts}:${p('status_id')}:${p('responsible_user_id')}`;
  emit(ctx, path, raw, LeadEventSchema, e);
}

function note(ctx: Ctx, entity: 'lead' | 'contact' | 'company', raw: unknown, path: string): void {
  // leads[note][i] = { note: { … } }
  const inner = isObj(raw) && isObj(get(raw, 'note')) ? (get(raw, 'note') as Obj) : raw;
  if (!isObj(inner)) return void ctx.rejected.push({ path, reason: 'note item is not an object', item: raw });
  const elementType = str(get(inner, 'element_type'));
  const entityType = elementType !== undefined ? (ELEMENT_TYPES[elementType] ?? entity) : entity;
  const e: Obj = {
    ...ctx.base,
    kind: 'note',
    entityType: entityType === 'customer' ? entity : entityType,
    entityId: id(get(inner, 'element_id')),
    noteId: id(get(inner, 'id')),
    noteType: num(get(inner, 'note_type')),
    dedupeKey: `note:${entity}:${str(get(inner, 'id')) ?? ''}`,
  };
  setIf(e, 'text', str(get(inner, 'text')));
  setIf(e, 'createdUserId', id(get(inner, 'created_by')) ?? id(get(inner, 'created_user_id')));
  setIf(e, 'responsibleUserId', id(get(inner, 'main_user_id')) ?? id(get(inner, 'responsible_user_id')));
  setIf(e, 'createdAt', unixInstant(get(inner, 'created_at')) ?? localInstant(get(inner, 'date_create'), ctx.zone));
  emit(ctx, path, raw, NoteEventSchema, e);
}

function task(ctx: Ctx, action: (typeof TASK_ACTIONS)[number], raw: unknown, path: string): void {
  if (!isObj(raw)) return void ctx.rejected.push({ path, reason: 'item is not an object', item: raw });
  const elementType = str(get(raw, 'element_type'));
  const status = str(get(raw, 'status'));
  const result = get(raw, 'result');
  const e: Obj = { ...ctx.base, kind: 'task', action, taskId: id(get(raw, 'id')) };
  setIf(e, 'entityType', elementType !== undefined ? ELEMENT_TYPES[elementType] : undefined);
  setIf(e, 'entityId', id(get(raw, 'element_id')));
  setIf(e, 'taskTypeId', id(get(raw, 'task_type')));
  setIf(e, 'text', str(get(raw, 'text')));
  setIf(e, 'responsibleUserId', id(get(raw, 'responsible_user_id')));
  setIf(e, 'oldResponsibleUserId', id(get(raw, 'old_responsible_user_id')));
  setIf(e, 'createdUserId', id(get(raw, 'created_user_id')));
  setIf(e, 'modifiedUserId', id(get(raw, 'modified_by')) ?? id(get(raw, 'modified_user_id')));
  setIf(e, 'isCompleted', status === undefined ? undefined : status === '1');
  setIf(e, 'resultText', isObj(result) ? str(get(result, 'text')) : undefined);
  setIf(
    e,
    'completeTill',
    unixInstant(get(raw, 'complete_before')) ?? localInstant(get(raw, 'complete_till'), ctx.zone),
  );
  setIf(e, 'updatedAt', unixInstant(get(raw, 'updated_at')) ?? localInstant(get(raw, 'last_modified'), ctx.zone));
  const ts = str(get(raw, 'updated_at')) ?? str(get(raw, 'last_modified')) ?? '';
  e.dedupeKey = `task:${str(get(raw, 'id')) ?? ''}:${action}:${ts}:${status ?? ''}`;
  emit(ctx, path, raw, TaskEventSchema, e);
}

function contact(ctx: Ctx, action: (typeof CONTACT_ACTIONS)[number], raw: unknown, path: string): void {
  if (!isObj(raw)) return void ctx.rejected.push({ path, reason: 'item is not an object', item: raw });
  const e: Obj = {
    ...ctx.base,
    kind: 'contact',
    action,
    contactId: id(get(raw, 'id')),
    entityType: str(get(raw, 'type')) === 'company' ? 'company' : 'contact',
    customFields: customFields(get(raw, 'custom_fields')),
  };
  setIf(e, 'name', str(get(raw, 'name')));
  setIf(e, 'responsibleUserId', id(get(raw, 'responsible_user_id')));
  setIf(e, 'modifiedUserId', id(get(raw, 'modified_user_id')));
  setIf(e, 'updatedAt', unixInstant(get(raw, 'updated_at')) ?? unixInstant(get(raw, 'last_modified')));
  const ts = str(get(raw, 'updated_at')) ?? str(get(raw, 'last_modified')) ?? '';
  e.dedupeKey = `contact:${str(get(raw, 'id')) ?? ''}:${action}:${ts}`;
  emit(ctx, path, raw, ContactEventSchema, e);
}

function unsorted(ctx: Ctx, action: (typeof UNSORTED_ACTIONS)[number], raw: unknown, path: string): void {
  if (!isObj(raw)) return void ctx.rejected.push({ path, reason: 'item is not an object', item: raw });
  const decisionRaw = str(get(raw, 'action'));
  const decision = decisionRaw === 'accept' || decisionRaw === 'decline' ? decisionRaw : undefined;
  const resultObj = get(raw, decision === 'decline' ? 'decline_result' : 'accept_result');
  const leadFromResult = isObj(resultObj) ? items(get(resultObj, 'leads'))[0] : undefined;
  const e: Obj = { ...ctx.base, kind: 'unsorted', action, uid: str(get(raw, 'uid')) ?? '' };
  setIf(e, 'decision', decision);
  setIf(e, 'leadId', id(leadFromResult) ?? id(get(raw, 'lead_id')));
  setIf(e, 'pipelineId', id(get(raw, 'pipeline_id')));
  setIf(e, 'statusId', id(get(raw, 'status_id')));
  setIf(e, 'createdAt', unixInstant(get(raw, 'created_at')));
  e.dedupeKey = `unsorted:${str(get(raw, 'uid')) ?? ''}:${action}:${decision ?? ''}`;
  emit(ctx, path, raw, UnsortedEventSchema, e);
}

function account(tree: Obj): { id?: number; subdomain: string } | undefined {
  const raw = get(tree, 'account');
  if (!isObj(raw)) return undefined;
  const subdomain = str(get(raw, 'subdomain'))?.trim();
  if (subdomain === undefined || subdomain === '') return undefined;
  const accountId = id(get(raw, 'id'));
  return accountId !== undefined && !Number.isNaN(accountId) ? { id: accountId, subdomain } : { subdomain };
}

export function normalizeWebhook(tree: unknown, meta: NormalizeMeta): NormalizedWebhook {
  const out: NormalizedWebhook = { account: undefined, events: [], rejected: [], ignored: [] };
  if (!isObj(tree)) return out;
  out.account = account(tree);
  const ctx: Ctx = {
    meta,
    base: {
      deliveryId: meta.deliveryId,
      receivedAt: meta.receivedAt,
      account: out.account ?? { subdomain: 'unknown' },
    },
    zone: meta.timeZone ?? 'Europe/Moscow',
    events: out.events,
    rejected: out.rejected,
  };

  for (const top of Object.keys(tree)) {
    const section = tree[top];
    if (top === 'account') continue;
    if (!isObj(section)) {
      out.ignored.push(top);
      continue;
    }
    for (const action of Object.keys(section)) {
      const list = items(section[action]);
      const path = (i: number): string => `${top}.${action}[${i}]`;
      if (top === 'leads' && (LEAD_ACTIONS as readonly string[]).includes(action)) {
        list.forEach((raw, i) => lead(ctx, action as (typeof LEAD_ACTIONS)[number], raw, path(i)));
      } else if ((top === 'leads' || top === 'contacts' || top === 'companies') && action === 'note') {
        const entity = top === 'leads' ? 'lead' : top === 'contacts' ? 'contact' : 'company';
        list.forEach((raw, i) => note(ctx, entity, raw, path(i)));
      } else if (top === 'contacts' && (CONTACT_ACTIONS as readonly string[]).includes(action)) {
        list.forEach((raw, i) => contact(ctx, action as (typeof CONTACT_ACTIONS)[number], raw, path(i)));
      } else if ((top === 'task' || top === 'tasks') && (TASK_ACTIONS as readonly string[]).includes(action)) {
        list.forEach((raw, i) => task(ctx, action as (typeof TASK_ACTIONS)[number], raw, path(i)));
      } else if (top === 'unsorted' && (UNSORTED_ACTIONS as readonly string[]).includes(action)) {
        list.forEach((raw, i) => unsorted(ctx, action as (typeof UNSORTED_ACTIONS)[number], raw, path(i)));
      } else {
        out.ignored.push(`${top}.${action}`);
      }
    }
  }
  return out;
}

/** True when the body held nothing we recognise: the caller answers 400. */
export function isEmptyWebhook(n: NormalizedWebhook): boolean {
  return n.events.length === 0 && n.rejected.length === 0 && n.ignored.length === 0;
}
