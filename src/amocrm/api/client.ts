/**
 * The amoCRM API v4 client: one small object over an injected transport (rate limit, retries, auth live there).
 * Resources: account, users, pipelines, loss reasons, lead custom fields and tags, leads, tasks, notes, events (amocrm.md §2).
 */
import axios, { type AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import { createLongLivedAuth, createOAuth, type Auth } from './auth.js';
import { createBatcher, type Batcher } from './batcher.js';
import { createRateLimiter, type Priority } from './rate-limiter.js';
import {
  AccountSchema,
  CustomFieldsPageSchema,
  ContactsPageSchema,
  EventsPageSchema,
  LeadsPageSchema,
  LossReasonsSchema,
  NotesPageSchema,
  PipelinesSchema,
  TagsPageSchema,
  TasksPageSchema,
  UsersPageSchema,
  ApiLeadSchema,
  WriteResultSchema,
  type Account,
  type ApiContact,
  type ApiEvent,
  type ApiLead,
  type ApiNote,
  type ApiPipeline,
  type ApiTask,
  type ApiUser,
  ApiWebhookSchema,
  WebhooksPageSchema,
  type ApiWebhook,
} from './schemas.js';
import { createTransport, type Transport, type TransportHooks } from './transport.js';
import { z } from 'zod';
import { systemClock, type Clock } from '../../lib/clock.js';
import { createAmoHealth, type AmoHealthSnapshot } from './health.js';

export const MAX_PAGE = 250;
/** Pages a stage sweep reads at most: 500,000 leads (about 7 minutes of bulk requests). */
export const LIST_LEADS_MAX_PAGES = 2_000;
export const EVENTS_PAGE = 100;
/** amoCRM returns at most 50 custom fields a page. */
export const CUSTOM_FIELDS_PAGE = 50;

export interface LeadUpdate {
  id: number;
  responsible_user_id?: number;
  status_id?: number;
  pipeline_id?: number;
  name?: string;
  tags_to_add?: Array<{ name: string }>;
  custom_fields_values?: unknown[];
}

export interface NewTask {
  text: string;
  /** Unix seconds. */
  complete_till: number;
  entity_id?: number;
  entity_type?: 'leads' | 'contacts' | 'companies' | 'customers';
  task_type_id?: number;
  responsible_user_id?: number;
}

export interface NewLeadNote {
  entity_id: number;
  note_type: 'common' | 'service_message';
  params: { text: string; service?: string };
}

export interface EventsFilter {
  types?: string[];
  entityType?: 'lead' | 'contact' | 'company' | 'task';
  entityIds?: number[];
  /** Unix seconds, inclusive. */
  createdFrom?: number;
  createdTo?: number;
}

export interface AmoClient {
  getAccount(): Promise<Account>;
  listUsers(): Promise<ApiUser[]>;
  listPipelines(): Promise<ApiPipeline[]>;
  listLossReasons(): Promise<Array<{ id: number; name: string }>>;
  /** Every lead custom field of the account (all pages). */
  listLeadCustomFields(): Promise<Array<{ id: number; name: string; type: string }>>;
  /** Every lead tag of the account (all pages). */
  listLeadTags(): Promise<Array<{ id: number; name: string }>>;
  getLead(id: number, priority?: Priority): Promise<ApiLead | null>;
  /** `with: ['contacts']` adds `_embedded.contacts` (id, is_main) to every lead. */
  getLeadsByIds(ids: number[], priority?: Priority, options?: { with?: Array<'contacts'> }): Promise<ApiLead[]>;
  /** Contacts by id (paged, 250 a request): their responsible users, for R2 routing of a returning client. */
  getContactsByIds(ids: number[], priority?: Priority): Promise<ApiContact[]>;
  listLeads(filter: Record<string, string | number | Array<string | number>>, priority?: Priority): Promise<ApiLead[]>;
  /** Queued and coalesced with other updates (one PATCH per ≤250 leads); resolves with the lead's id. */
  updateLead(update: LeadUpdate, priority?: Priority): Promise<number>;
  createTask(task: NewTask): Promise<number>;
  completeTask(id: number, resultText: string): Promise<void>;
  updateTask(id: number, patch: { complete_till?: number; text?: string; responsible_user_id?: number }): Promise<void>;
  listTasks(filter: Record<string, string | number | Array<string | number>>): Promise<ApiTask[]>;
  addLeadNote(note: NewLeadNote): Promise<number>;
  listLeadNotes(leadId: number, types?: string[]): Promise<ApiNote[]>;
  listEvents(filter: EventsFilter, priority?: Priority): Promise<ApiEvent[]>;
  /** Sends every queued write now (shutdown, tests). */
  flush(): Promise<void>;
  exchangeAuthCode(code: string): Promise<void>;
  hasTokens(): Promise<boolean>;
  /** Forgets the OAuth tokens (the integration was disconnected); a long-lived token has none to forget. */
  clearTokens(): Promise<void>;
  /** How amoCRM answers this process (and the back-off every process shares): for readiness and alerts. */
  health(): Promise<AmoHealthSnapshot>;
  /** The account's webhooks (needs an admin's token), at bulk priority. */
  listWebhooks(): Promise<ApiWebhook[]>;
  /** Registers (or re-registers, enabled again) a webhook for `destination` with exactly these events. */
  addWebhook(destination: string, settings: string[]): Promise<ApiWebhook>;
  deleteWebhook(destination: string): Promise<void>;
}

export type AmoAuthOption =
  | { kind: 'long-lived'; token: string }
  | { kind: 'oauth'; clientId: string; clientSecret: string; redirectUri: string };

export interface AmoClientOptions extends TransportHooks {
  /** For the health tracker's timestamps (tests inject one). */
  clock?: Clock;
  /** Failing this long with no success is "unreachable" (AMO_UNREACHABLE_AFTER_MS). */
  unreachableAfterMs?: number;
  /** `https://{subdomain}.{domain}` unless baseUrl is given. */
  subdomain?: string;
  domain?: string;
  baseUrl?: string;
  auth: AmoAuthOption;
  redis: Redis;
  /** Key prefix in Redis for tokens, the rate-limit window and the shared back-off. */
  keyPrefix: string;
  rps?: number;
  http?: AxiosInstance;
  batchWindowMs?: number;
  transport?: Partial<{
    maxAttempts: number;
    baseDelayMs: number;
    sleep: (ms: number) => Promise<void>;
    random: () => number;
    now: () => number;
  }>;
  /** The back-off every process shares after a 429 or a 403 block (defaults in rate-limiter.ts and transport.ts). */
  backoff?: Partial<{
    blockCooldownMs: number;
    baseMs: number;
    maxMs: number;
    maxInRequestWaitMs: number;
    maxRequestMs: number;
  }>;
}

export function amoBaseUrl(options: Pick<AmoClientOptions, 'subdomain' | 'domain' | 'baseUrl'>): string {
  if (options.baseUrl) return options.baseUrl.replace(/\/+$/, '');
  if (!options.subdomain) throw new Error('amoCRM subdomain or base URL is required');
  return `https://${options.subdomain}.${options.domain ?? 'amocrm.ru'}`;
}

/** Follows `page` until a short page or no `_links.next`. */
async function allPages<T>(
  fetchPage: (page: number) => Promise<{ items: T[]; hasNext: boolean } | null>,
  limit = 200,
): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; page <= limit; page++) {
    const res = await fetchPage(page);
    if (res === null) break;
    out.push(...res.items);
    if (!res.hasNext) break;
  }
  return out;
}

export function createAmoClient(options: AmoClientOptions): AmoClient {
  const baseUrl = amoBaseUrl(options);
  const http =
    options.http ??
    axios.create({
      timeout: 20_000,
      headers: { 'User-Agent': 'amo-discipline/0.1' },
    });
  const host = new URL(baseUrl).host;
  const accountKey = `${options.keyPrefix}:amo:${host}`;
  // The window and the back-off are read in one script: the `{<host>}` hash tag keeps them in one Redis Cluster slot.
  const gateKey = `${options.keyPrefix}:amo:{${host}}`;
  const backoff = options.backoff ?? {};
  const limiter = createRateLimiter({
    redis: options.redis,
    key: `${gateKey}:rate`,
    backoffKey: `${gateKey}:backoff`,
    rps: options.rps ?? 7,
    ...(backoff.blockCooldownMs !== undefined ? { blockCooldownMs: backoff.blockCooldownMs } : {}),
    ...(backoff.baseMs !== undefined ? { backoffBaseMs: backoff.baseMs } : {}),
    ...(backoff.maxMs !== undefined ? { backoffMaxMs: backoff.maxMs } : {}),
  });
  const auth: Auth =
    options.auth.kind === 'long-lived'
      ? createLongLivedAuth(options.auth.token)
      : createOAuth({
          redis: options.redis,
          key: `${accountKey}:tokens`,
          clientId: options.auth.clientId,
          clientSecret: options.auth.clientSecret,
          redirectUri: options.auth.redirectUri,
          tokenEndpoint: async (body) => {
            const res = await http.post(`${baseUrl}/oauth2/access_token`, body, {
              validateStatus: () => true,
              responseType: 'json',
            });
            const retryAfter = res.headers['retry-after'] as unknown;
            return {
              status: res.status,
              body: res.data as unknown,
              ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            };
          },
          limiter,
          // Revoked access is alerted by the transport, which sees every refresh failure; a block seen here is not.
          onAlert: (kind, message) => {
            if (kind === 'blocked') options.onAlert?.(kind, message);
          },
        });
  const clock = options.clock ?? systemClock;
  // The failing streak is shared through Redis (one key beside the back-off): set by the first failure, removed by the
  // next success of any process that knows of it.
  const failingKey = `${gateKey}:failing`;
  let sharedFailing = false;
  const shareHealth = (status: number | 'network', at: number): void => {
    const failed = status === 'network' || status >= 500;
    if (failed && !sharedFailing) {
      sharedFailing = true;
      void options.redis.set(failingKey, String(at), 'PX', 24 * 3_600_000, 'NX').catch(() => undefined);
    } else if (!failed && sharedFailing) {
      sharedFailing = false;
      void options.redis.del(failingKey).catch(() => undefined);
    }
  };
  const health = createAmoHealth(
    options.unreachableAfterMs !== undefined ? { unreachableAfterMs: options.unreachableAfterMs } : {},
  );
  const transport: Transport = createTransport({
    http,
    baseUrl,
    auth,
    limiter,
    ...options.transport,
    ...(backoff.maxInRequestWaitMs !== undefined ? { maxInRequestWaitMs: backoff.maxInRequestWaitMs } : {}),
    ...(backoff.maxRequestMs !== undefined ? { maxRequestMs: backoff.maxRequestMs } : {}),
    onRequest: (method, status) => {
      const at = clock.now().getTime();
      health.onResponse(status, at);
      shareHealth(status, at);
      options.onRequest?.(method, status);
    },
    onAlert: (kind, message) => {
      if (kind === 'auth_revoked') health.onAuthRevoked(message, clock.now().getTime());
      options.onAlert?.(kind, message);
    },
  });
  const windowMs = options.batchWindowMs ?? 50;

  const writeIds = (res: { _embedded: Record<string, Array<{ id: number }>> } | null, key: string): number[] =>
    (res?._embedded[key] ?? []).map((x) => x.id);

  const leadBatchers = new Map<Priority, Batcher<LeadUpdate, number>>();
  const leadBatcher = (priority: Priority): Batcher<LeadUpdate, number> => {
    let b = leadBatchers.get(priority);
    if (!b) {
      b = createBatcher<LeadUpdate, number>({
        windowMs,
        send: async (items) =>
          writeIds(
            await transport.request('PATCH', '/api/v4/leads', { body: items, priority, schema: WriteResultSchema }),
            'leads',
          ),
      });
      leadBatchers.set(priority, b);
    }
    return b;
  };
  const taskBatcher = createBatcher<NewTask, number>({
    windowMs,
    send: async (items) =>
      writeIds(
        await transport.request('POST', '/api/v4/tasks', {
          body: items.map((t, i) => ({ ...t, request_id: String(i) })),
          schema: WriteResultSchema,
        }),
        'tasks',
      ),
  });
  const noteBatcher = createBatcher<NewLeadNote, number>({
    windowMs,
    send: async (items) =>
      writeIds(
        await transport.request('POST', '/api/v4/leads/notes', { body: items, schema: WriteResultSchema }),
        'notes',
      ),
  });

  const leadsPage = async (
    query: Record<string, string | number | Array<string | number>>,
    priority: Priority,
    maxPages?: number,
  ) =>
    allPages(async (page) => {
      const res = await transport.request('GET', '/api/v4/leads', {
        query: { ...query, page, limit: MAX_PAGE },
        priority,
        schema: LeadsPageSchema,
      });
      if (res === null) return null;
      return {
        items: res._embedded.leads,
        hasNext: res._links?.next !== undefined && res._embedded.leads.length === MAX_PAGE,
      };
    }, maxPages);

  return {
    async getAccount() {
      const res = await transport.request('GET', '/api/v4/account', {
        query: { with: 'users_groups,task_types,datetime_settings' },
        schema: AccountSchema,
      });
      if (res === null) throw new Error('amoCRM returned no account');
      return res;
    },
    async listUsers() {
      return allPages(async (page) => {
        const res = await transport.request('GET', '/api/v4/users', {
          query: { with: 'group', page, limit: MAX_PAGE },
          priority: 'bulk',
          schema: UsersPageSchema,
        });
        if (res === null) return null;
        return { items: res._embedded.users, hasNext: res._links?.next !== undefined };
      });
    },
    async listPipelines() {
      const res = await transport.request('GET', '/api/v4/leads/pipelines', {
        priority: 'bulk',
        schema: PipelinesSchema,
      });
      return res?._embedded.pipelines ?? [];
    },
    async listLossReasons() {
      const res = await transport.request('GET', '/api/v4/leads/loss_reasons', {
        priority: 'bulk',
        schema: LossReasonsSchema,
      });
      return (res?._embedded.loss_reasons ?? []).map((r) => ({ id: r.id, name: r.name }));
    },
    async listLeadCustomFields() {
      return allPages(async (page) => {
        const res = await transport.request('GET', '/api/v4/leads/custom_fields', {
          query: { page, limit: CUSTOM_FIELDS_PAGE },
          priority: 'bulk',
          schema: CustomFieldsPageSchema,
        });
        if (res === null) return null;
        return {
          items: res._embedded.custom_fields.map((f) => ({ id: f.id, name: f.name, type: f.type })),
          hasNext: res._links?.next !== undefined,
        };
      });
    },
    async listLeadTags() {
      return allPages(async (page) => {
        const res = await transport.request('GET', '/api/v4/leads/tags', {
          query: { page, limit: MAX_PAGE },
          priority: 'bulk',
          schema: TagsPageSchema,
        });
        if (res === null) return null;
        return {
          items: res._embedded.tags.map((t) => ({ id: t.id, name: t.name })),
          hasNext: res._links?.next !== undefined,
        };
      });
    },
    async getLead(id, priority = 'normal') {
      return transport.request('GET', `/api/v4/leads/${id}`, { priority, schema: ApiLeadSchema });
    },
    async getLeadsByIds(ids, priority = 'normal', options = {}) {
      const unique = [...new Set(ids)];
      const extra = options.with && options.with.length > 0 ? { with: options.with.join(',') } : {};
      const out: ApiLead[] = [];
      for (let i = 0; i < unique.length; i += MAX_PAGE) {
        out.push(...(await leadsPage({ ...extra, 'filter[id]': unique.slice(i, i + MAX_PAGE) }, priority)));
      }
      return out;
    },
    async getContactsByIds(ids, priority = 'normal') {
      const unique = [...new Set(ids)];
      const out: ApiContact[] = [];
      for (let i = 0; i < unique.length; i += MAX_PAGE) {
        const chunk = unique.slice(i, i + MAX_PAGE);
        out.push(
          ...(await allPages(async (page) => {
            const res = await transport.request('GET', '/api/v4/contacts', {
              query: { 'filter[id]': chunk, page, limit: MAX_PAGE },
              priority,
              schema: ContactsPageSchema,
            });
            if (res === null) return null;
            return {
              items: res._embedded.contacts,
              hasNext: res._links?.next !== undefined && res._embedded.contacts.length === MAX_PAGE,
            };
          })),
        );
      }
      return out;
    },
    async listLeads(filter, priority = 'bulk') {
      // A sweep must see the whole stage: 200 pages (the default cap) are only 50,000 leads.
      return leadsPage(filter, priority, LIST_LEADS_MAX_PAGES);
    },
    updateLead(update, priority = 'normal') {
      return leadBatcher(priority).add(update);
    },
    createTask(task) {
      return taskBatcher.add(task);
    },
    async completeTask(id, resultText) {
      await transport.request('PATCH', `/api/v4/tasks/${id}`, {
        body: { is_completed: true, result: { text: resultText } },
        schema: AccountSchema.partial().loose(),
      });
    },
    async updateTask(id, patch) {
      await transport.request('PATCH', `/api/v4/tasks/${id}`, { body: patch, schema: AccountSchema.partial().loose() });
    },
    async listTasks(filter) {
      return allPages(async (page) => {
        const res = await transport.request('GET', '/api/v4/tasks', {
          query: { ...filter, page, limit: MAX_PAGE },
          schema: TasksPageSchema,
        });
        if (res === null) return null;
        return { items: res._embedded.tasks, hasNext: res._links?.next !== undefined };
      });
    },
    addLeadNote(note) {
      return noteBatcher.add(note);
    },
    async listLeadNotes(leadId, types) {
      return allPages(async (page) => {
        const res = await transport.request('GET', `/api/v4/leads/${leadId}/notes`, {
          query: { page, limit: MAX_PAGE, ...(types ? { 'filter[note_type]': types } : {}) },
          schema: NotesPageSchema,
        });
        if (res === null) return null;
        return { items: res._embedded.notes, hasNext: res._links?.next !== undefined };
      });
    },
    async listEvents(filter, priority = 'normal') {
      const query: Record<string, string | number | Array<string | number>> = { limit: EVENTS_PAGE };
      if (filter.types) query['filter[type]'] = filter.types.join(',');
      if (filter.entityType) query['filter[entity]'] = filter.entityType;
      if (filter.entityIds) query['filter[entity_id]'] = filter.entityIds;
      if (filter.createdFrom !== undefined) query['filter[created_at][from]'] = filter.createdFrom;
      if (filter.createdTo !== undefined) query['filter[created_at][to]'] = filter.createdTo;
      return allPages(async (page) => {
        const res = await transport.request('GET', '/api/v4/events', {
          query: { ...query, page },
          priority,
          schema: EventsPageSchema,
        });
        if (res === null) return null;
        return { items: res._embedded.events, hasNext: res._links?.next !== undefined };
      });
    },
    async flush() {
      await Promise.all([
        ...[...leadBatchers.values()].map((b) => b.flush()),
        taskBatcher.flush(),
        noteBatcher.flush(),
      ]);
    },
    async exchangeAuthCode(code) {
      if (!auth.exchangeAuthCode) throw new Error('the client uses a long-lived token; there is no code to exchange');
      await auth.exchangeAuthCode(code);
    },
    hasTokens: () => auth.hasTokens(),
    async clearTokens() {
      await auth.clearTokens?.();
    },
    async listWebhooks() {
      const res = await transport.request('GET', '/api/v4/webhooks', { priority: 'bulk', schema: WebhooksPageSchema });
      return res?._embedded.webhooks ?? [];
    },
    async addWebhook(destination, settings) {
      const res = await transport.request('POST', '/api/v4/webhooks', {
        body: { destination, settings, sort: 1 },
        priority: 'bulk',
        schema: ApiWebhookSchema,
      });
      if (!res) throw new Error('amoCRM returned no webhook for POST /api/v4/webhooks');
      return res;
    },
    async deleteWebhook(destination) {
      await transport.request('DELETE', '/api/v4/webhooks', {
        body: { destination },
        priority: 'bulk',
        schema: z.unknown(),
      });
    },
    async health() {
      const [backoffNow, failing] = await Promise.all([limiter.current(), options.redis.get(failingKey)]);
      if (failing !== null) sharedFailing = true;
      return health.snapshot(
        clock.now().getTime(),
        backoffNow,
        failing !== null ? { failingSince: Number(failing) } : undefined,
      );
    },
  };
}
