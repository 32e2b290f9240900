/**
 * Sends account webhooks the way amoCRM does (amocrm.md §1): POST, application/x-www-form-urlencoded with
 * PHP bracket keys and '+' for spaces, every value a string, `account[...]` last; a stage change produces both
 * `leads[update]` and `leads[status]`; changes made together go out in one body with several indices.
 * A delivery that fails or takes over 2 seconds is retried on a ladder.
 */
import { randomUUID } from 'node:crypto';
import { ACCOUNT, SEED_LEAD_FIELDS, type Change, type SimLead, type SimNote, type SimTask } from './account.js';

export interface WebhookStats {
  sent: number;
  failed: number;
  dropped: number;
  /** Changes (lead, note and task events) in bodies the receiver accepted. */
  events: number;
  byStatus: Record<string, number>;
}

/** A webhook registered through `POST /api/v4/webhooks` (amocrm.md §1), as `GET /api/v4/webhooks` lists it. */
export interface RegisteredWebhook {
  id: number;
  destination: string;
  settings: string[];
  sort: number;
  disabled: boolean;
  createdAt: number;
}

export interface WebhookSender {
  push(change: Change): void;
  /** The webhooks API: register (or re-register: same destination, new settings, enabled again), list, delete. */
  register(destination: string, settings: string[], sort?: number): RegisteredWebhook;
  list(): RegisteredWebhook[];
  unregister(destination: string): boolean;
  /** Disables a registered webhook as amoCRM does after too many invalid answers (tests call it directly too). */
  disable(destination: string): void;
  flush(): Promise<void>;
  /** Loses the next n deliveries on purpose (tests of the safety sweep). */
  dropNext(n: number): void;
  setDestinations(urls: string[]): void;
  stats(): WebhookStats;
  close(): Promise<void>;
}

const php = (s: string): string =>
  encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Fields are relative to the item's key `leads[add][i][…]`; a nested key is written as `tags][0][id`, so that
 * wrapping it in `[` `]` gives `leads[add][i][tags][0][id]`.
 */
function leadFields(lead: SimLead, extra: Record<string, string>): Array<[string, string]> {
  const pairs: Array<[string, string]> = [
    ['id', String(lead.id)],
    ['name', lead.name],
    ['status_id', String(lead.statusId)],
    ...(extra.old_status_id ? ([['old_status_id', extra.old_status_id]] as Array<[string, string]>) : []),
    ['price', String(lead.price)],
    ['responsible_user_id', String(lead.responsibleUserId)],
    ...(extra.old_responsible_user_id
      ? ([['old_responsible_user_id', extra.old_responsible_user_id]] as Array<[string, string]>)
      : []),
    ['last_modified', String(lead.updatedAt)],
    ['modified_user_id', String(lead.updatedBy)],
    ['created_user_id', String(lead.createdBy)],
    ['date_create', String(lead.createdAt)],
    ['pipeline_id', String(lead.pipelineId)],
    ['account_id', String(ACCOUNT.id)],
  ];
  lead.tags.forEach((t, i) => {
    pairs.push([`tags][${i}][id`, String(t.id)], [`tags][${i}][name`, t.name]);
  });
  // amoCRM's old v2 shape; a date field's value is a bare timestamp (`custom_fields[i][values][0]`, real sample 01).
  Object.entries(lead.customFields ?? {}).forEach(([id, value], i) => {
    const field = SEED_LEAD_FIELDS.find((f) => f.id === Number(id));
    pairs.push([`custom_fields][${i}][id`, id], [`custom_fields][${i}][name`, field?.name ?? id]);
    pairs.push(
      field?.type === 'date_time'
        ? [`custom_fields][${i}][values][0`, value]
        : [`custom_fields][${i}][values][0][value`, value],
    );
  });
  pairs.push(['created_at', String(lead.createdAt)], ['updated_at', String(lead.updatedAt)]);
  return pairs;
}

const localTime = (sec: number): string =>
  new Date((sec + 3 * 3600) * 1000).toISOString().replace('T', ' ').slice(0, 19); // Europe/Moscow, UTC+3 all year

/**
 * A call note's webhook `text` is its parameters as JSON, in the old API's keys (UNIQ, DURATION, SRC, LINK, PHONE)
 * plus call_status and call_result (amocrm.md §4: call notes are note_type 10 incoming and 11 outgoing).
 */
export function callNoteText(params: Record<string, unknown>): string {
  return JSON.stringify({
    UNIQ: String(params.uniq ?? ''),
    DURATION: Number(params.duration ?? 0),
    SRC: String(params.source ?? ''),
    LINK: String(params.link ?? ''),
    PHONE: String(params.phone ?? ''),
    call_status: String(params.call_status ?? ''),
    call_result: String(params.call_result ?? ''),
  });
}

function noteFields(note: SimNote): Array<[string, string]> {
  const noteType =
    note.noteType === 'common' ? '4' : note.noteType === 'call_in' ? '10' : note.noteType === 'call_out' ? '11' : '25';
  const isCall = note.noteType === 'call_in' || note.noteType === 'call_out';
  return [
    ['note][text', isCall ? callNoteText(note.params) : typeof note.params.text === 'string' ? note.params.text : ''],
    ['note][note_type', noteType],
    ['note][date_create', localTime(note.createdAt)],
    ['note][element_type', '2'],
    ['note][element_id', String(note.entityId)],
    ['note][account_id', String(ACCOUNT.id)],
    ['note][created_by', String(note.createdBy)],
    ['note][modified_by', String(note.createdBy)],
    ['note][main_user_id', String(note.createdBy)],
    ['note][id', String(note.id)],
    ['note][created_at', String(note.createdAt)],
    ['note][updated_at', String(note.createdAt)],
  ];
}

function taskFields(task: SimTask): Array<[string, string]> {
  return [
    ['id', String(task.id)],
    ['element_id', String(task.entityId)],
    ['element_type', '2'],
    ['task_type', String(task.taskTypeId)],
    ['date_create', localTime(task.createdAt)],
    ['text', task.text],
    ['status', task.isCompleted ? '1' : '0'],
    ['account_id', String(ACCOUNT.id)],
    ['created_user_id', String(task.createdBy)],
    ['modified_by', String(task.updatedBy)],
    ['last_modified', localTime(task.updatedAt)],
    ['responsible_user_id', String(task.responsibleUserId)],
    ['complete_till', localTime(task.completeTill)],
    ...(task.resultText ? ([['result][text', task.resultText]] as Array<[string, string]>) : []),
    ['created_at', String(task.createdAt)],
    ['updated_at', String(task.updatedAt)],
    ['complete_before', String(task.completeTill)],
  ];
}

/** Builds one body from changes made together: `leads[status][0]…`, `leads[status][1]…`, then `account[...]`. */
export function encodeWebhookBody(changes: Change[]): string {
  const groups = new Map<string, Array<Array<[string, string]>>>();
  const add = (group: string, fields: Array<[string, string]>): void => {
    groups.set(group, [...(groups.get(group) ?? []), fields]);
  };
  for (const c of changes) {
    if (c.kind === 'lead') {
      const extra: Record<string, string> = {};
      if (c.oldStatusId !== undefined) extra.old_status_id = String(c.oldStatusId);
      if (c.oldResponsibleUserId !== undefined) extra.old_responsible_user_id = String(c.oldResponsibleUserId);
      add(`leads[${c.action}]`, leadFields(c.lead, extra));
    } else if (c.kind === 'note') add('leads[note]', noteFields(c.note));
    else add(`task[${c.action}]`, taskFields(c.task));
  }
  const parts: string[] = [];
  for (const [group, items] of groups) {
    items.forEach((fields, i) => {
      for (const [k, v] of fields) parts.push(`${php(`${group}[${i}][${k}]`)}=${php(v)}`);
    });
  }
  parts.push(
    `${php('account[subdomain]')}=${ACCOUNT.subdomain}`,
    `${php('account[id]')}=${ACCOUNT.id}`,
    `${php('account[_links][self]')}=${php(`https://${ACCOUNT.subdomain}.amocrm.ru`)}`,
  );
  return parts.join('&');
}

export function createWebhookSender(options: {
  destinations: string[];
  batchWindowMs?: number;
  retryLadderMs?: number[];
  timeoutMs?: number;
  onDelivery?: (info: { url: string; status: number | 'error'; attempt: number; changes: number }) => void;
  /** Invalid answers within two hours that disable a registered webhook (amoCRM: 100). */
  disableAfterInvalid?: number;
}): WebhookSender {
  let destinations = [...options.destinations];
  const registered = new Map<string, RegisteredWebhook & { invalid: number[] }>();
  let nextHookId = 1;
  // amoCRM disables a webhook with over 100 invalid answers in 2 hours when the last one is invalid too (amocrm.md §1).
  const disableAfter = options.disableAfterInvalid ?? 100;
  const TWO_HOURS = 2 * 3_600_000;
  const windowMs = options.batchWindowMs ?? 200;
  const ladder = options.retryLadderMs ?? [1_000, 5_000, 15_000];
  const timeoutMs = options.timeoutMs ?? 2_000;
  const stats: WebhookStats = { sent: 0, failed: 0, dropped: 0, events: 0, byStatus: {} };
  let pending: Change[] = [];
  let timer: NodeJS.Timeout | undefined;
  let toDrop = 0;
  const inFlight = new Set<Promise<void>>();
  const retryTimers = new Set<NodeJS.Timeout>();
  let closed = false;

  const deliver = async (
    url: string,
    body: string,
    requestId: string,
    changes: number,
    attempt: number,
  ): Promise<void> => {
    let status: number | 'error';
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': 'amoCRM-Webhooks/3.0',
          'x-amocrm-requestid': requestId,
          'accept-encoding': 'gzip',
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 'error';
    }
    stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
    options.onDelivery?.({ url, status, attempt, changes });
    const hook = registered.get(url);
    if (typeof status === 'number' && status >= 100 && status < 300) {
      stats.sent += 1;
      stats.events += changes;
      return;
    }
    stats.failed += 1;
    if (hook) {
      const at = Date.now();
      hook.invalid = [...hook.invalid.filter((t) => t > at - TWO_HOURS), at];
      if (hook.invalid.length > disableAfter) hook.disabled = true;
    }
    const delay = ladder[attempt];
    if (delay !== undefined && !closed) {
      const t = setTimeout(() => {
        retryTimers.delete(t);
        track(deliver(url, body, requestId, changes, attempt + 1));
      }, delay);
      retryTimers.add(t);
    }
  };

  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const changes = pending;
    pending = [];
    if (changes.length > 0) {
      if (toDrop > 0) {
        toDrop -= 1;
        stats.dropped += 1;
      } else {
        const body = encodeWebhookBody(changes);
        const requestId = randomUUID();
        const urls = [
          ...destinations,
          ...[...registered.values()].filter((h) => !h.disabled).map((h) => h.destination),
        ];
        for (const url of new Set(urls)) track(deliver(url, body, requestId, changes.length, 0));
      }
    }
    await Promise.all([...inFlight]);
  };

  return {
    push(change) {
      pending.push(change);
      timer ??= setTimeout(() => void flush(), windowMs);
    },
    flush,
    dropNext(n) {
      toDrop += n;
    },
    setDestinations(urls) {
      destinations = [...urls];
    },
    register(destination, settings, sort = 1) {
      const was = registered.get(destination);
      const hook = {
        id: was?.id ?? nextHookId++,
        destination,
        settings: [...settings],
        sort,
        disabled: false,
        createdAt: was?.createdAt ?? Math.floor(Date.now() / 1000),
        invalid: [],
      };
      registered.set(destination, hook);
      const { invalid: _invalid, ...shown } = hook;
      return shown;
    },
    list: () => [...registered.values()].map(({ invalid: _invalid, ...h }) => ({ ...h, settings: [...h.settings] })),
    unregister: (destination) => registered.delete(destination),
    disable(destination) {
      const hook = registered.get(destination);
      if (hook) hook.disabled = true;
    },
    stats: () => ({ ...stats, byStatus: { ...stats.byStatus } }),
    async close() {
      closed = true;
      await flush();
      for (const t of retryTimers) clearTimeout(t);
    },
  };
}
