/**
 * An amoCRM account on loopback: the API v4 subset the service uses (HAL JSON, 204 for empty results,
 * problem+json errors, the 250-item limit), OAuth with single-use refresh tokens, a 7 requests/second limit
 * that answers 429 and counts violations, and account webhooks sent as amoCRM sends them.
 * It backs the demo, the end-to-end tests and the benchmarks; it is never used by `npm start`.
 */
import { registerWidgetCard, type SimWidget, type SimWidgetOptions } from './widget-card.js';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import qs from 'qs';
import { ACCOUNT, ADMIN_ID, createAccount, type Account, type SimLead, type SimNote, type SimTask } from './account.js';
import { createAuditLog, type AuditLog } from './audit.js';
import { registerControlRoutes } from './control.js';
import {
  createFaultController,
  leadIdsOf,
  type FaultAction,
  type FaultController,
  type RequestInfo,
} from './faults.js';
import { createWebhookSender, type WebhookSender, type WebhookStats } from './webhooks.js';

export interface SimulatorOptions {
  /** Where account webhooks go (the service's /webhooks/amocrm/<token>). */
  webhookUrls?: string[];
  /** Accepted as a long-lived token. */
  longLivedToken?: string;
  oauth?: { clientId: string; clientSecret: string; accessTokenTtlSec?: number };
  rps?: number;
  now?: () => number;
  webhookBatchWindowMs?: number;
  webhookRetryLadderMs?: number[];
  /** Invalid answers within two hours that disable a registered webhook (amoCRM: 100). */
  webhookDisableAfterInvalid?: number;
  onDelivery?: Parameters<typeof createWebhookSender>[0]['onDelivery'];
  /** Seed of the fault rules' probabilities, so a chaos run repeats. */
  faultSeed?: number;
  /** Header in which a client may send its process id (for kill hooks and the audit log). Default `x-chaos-pid`. */
  pidHeader?: string;
  /** How a kill hook kills a process; `process.kill` by default. */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** Serve the control API under `/__sim/` (fault controls, audit, state, simulated people). Default true. */
  controlApi?: boolean;
  /** Issue the widget's one-time tokens and serve the lead card page with the widget (sim/widget-card.ts). */
  widget?: SimWidgetOptions;
}

export interface SimulatorStats {
  requests: number;
  byEndpoint: Record<string, number>;
  rateLimitViolations: number;
  webhooks: WebhookStats;
  tokenRefreshes: number;
}

export interface Simulator {
  app: FastifyInstance;
  account: Account;
  webhooks: WebhookSender;
  faults: FaultController;
  audit: AuditLog;
  readonly baseUrl: string | undefined;
  listen(port?: number, host?: string): Promise<string>;
  /** With `widget` options: the widget's settings and tokens. */
  widget?: SimWidget;
  stats(): SimulatorStats;
  issueAuthCode(): string;
  close(): Promise<void>;
}

const problem = (
  res: FastifyReply,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): FastifyReply =>
  res
    .code(status)
    .type('application/problem+json')
    .send({ title, type: `https://httpstatus.es/${status}`, status, detail, ...extra });

const hal = (res: FastifyReply, body: unknown): FastifyReply => res.type('application/hal+json').send(body);

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const now = options.now ?? Date.now;
  const rps = options.rps ?? 7;
  const webhooks = createWebhookSender({
    destinations: options.webhookUrls ?? [],
    ...(options.webhookBatchWindowMs !== undefined ? { batchWindowMs: options.webhookBatchWindowMs } : {}),
    ...(options.webhookRetryLadderMs ? { retryLadderMs: options.webhookRetryLadderMs } : {}),
    ...(options.webhookDisableAfterInvalid !== undefined
      ? { disableAfterInvalid: options.webhookDisableAfterInvalid }
      : {}),
    ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
  });
  const account = createAccount({ now, onChange: (c) => webhooks.push(c) });
  const stats = { requests: 0, byEndpoint: {} as Record<string, number>, rateLimitViolations: 0, tokenRefreshes: 0 };
  const recent: number[] = [];
  const accessTokens = new Map<string, number>(); // token → expiry ms
  const faults = createFaultController({
    ...(options.faultSeed !== undefined ? { seed: options.faultSeed } : {}),
    now,
    onExpireTokens: () => {
      for (const token of accessTokens.keys()) accessTokens.set(token, 0);
    },
  });
  const audit = createAuditLog();
  const pidHeader = (options.pidHeader ?? 'x-chaos-pid').toLowerCase();
  const kill = options.kill ?? ((pid: number, signal: NodeJS.Signals) => process.kill(pid, signal));
  const senderPid = (req: FastifyRequest): number | undefined => {
    const v = Number(req.headers[pidHeader]);
    return Number.isInteger(v) && v > 0 ? v : undefined;
  };
  const endpointOf = (req: FastifyRequest): string =>
    `${req.method} ${(req.url.split('?')[0] ?? '').replace(/\/\d+/g, '/{id}')}`;
  const requestInfo = (req: FastifyRequest): RequestInfo => {
    const path = req.url.split('?')[0] ?? '';
    return { method: req.method, path, leadIds: leadIdsOf(path, req.body, req.query) };
  };
  const faulted = (
    req: FastifyRequest,
    res: FastifyReply,
    action: FaultAction,
    kind: string,
    targets?: number[],
  ): FastifyReply => {
    faults.countInjected(action.kind === 'drop' ? `${kind}:drop` : `${kind}:${action.status}`);
    if (action.kind === 'drop') {
      res.hijack();
      req.raw.socket?.destroy();
      return res;
    }
    if (action.status === 429)
      return problem(res, 429, 'Too Many Requests', 'Too Many Requests', { retry_after: action.retryAfterSec ?? 1 });
    if (action.status === 400) {
      // amoCRM rejects the whole batch and names the items it did not accept.
      const named = targets ?? requestInfo(req).leadIds;
      const items = Array.isArray(req.body) ? (req.body as Array<Record<string, unknown>>) : [];
      const errors = items.flatMap((item, i) => {
        const id =
          typeof item.id === 'number' ? item.id : typeof item.entity_id === 'number' ? item.entity_id : undefined;
        return id !== undefined && named.includes(id)
          ? [
              {
                request_id: String(i),
                errors: [
                  {
                    code: 'NotSupportedChoice',
                    path: 'responsible_user_id',
                    detail: 'The value you selected is not a valid choice.',
                  },
                ],
              },
            ]
          : [];
      });
      return problem(
        res,
        400,
        'Bad Request',
        'Request validation failed',
        errors.length ? { 'validation-errors': errors } : {},
      );
    }
    if (action.status >= 500)
      return problem(res, action.status, 'Service Unavailable', 'amoCRM is temporarily unavailable');
    return problem(res, action.status, 'Error', `injected ${action.status}`);
  };
  /** After a write was applied: the audit entries, then a kill hook it fires (before the answer leaves). */
  const afterWrite = async (
    req: FastifyRequest,
    entries: Array<Omit<Parameters<AuditLog['add']>[0], 'at' | 'endpoint' | 'pid'>>,
  ): Promise<void> => {
    const pid = senderPid(req);
    const endpoint = endpointOf(req);
    const t = now();
    for (const e of entries) audit.add({ ...e, at: t, endpoint, ...(pid !== undefined ? { pid } : {}) });
    const changed = entries.filter((e) => e.changed);
    if (changed.length === 0) return;
    const info = { ...requestInfo(req), leadIds: [...new Set(changed.map((e) => e.leadId))] };
    const hook = faults.takeKillHook(
      info,
      changed.map((e) => e.field),
    );
    if (!hook) return;
    const pids = hook.target === 'sender' ? (pid !== undefined ? [pid] : []) : hook.target.pids;
    const errors: string[] = [];
    for (const p of pids) {
      try {
        kill(p, 'SIGKILL');
      } catch (err) {
        errors.push(`${p}: ${(err as Error).message}`);
      }
    }
    faults.recordKill({
      at: t,
      hookId: hook.id,
      pids,
      method: info.method,
      path: info.path,
      leadIds: info.leadIds,
      ...(pids.length === 0 ? { error: `no pid in ${pidHeader}` } : errors.length ? { error: errors.join('; ') } : {}),
    });
    // Give the signal time to land, so the killed sender never reads the answer.
    await new Promise((r) => setTimeout(r, 100));
  };
  const refreshTokens = new Set<string>();
  const authCodes = new Set<string>();
  let baseUrl: string | undefined;

  const origin = (): string => baseUrl ?? `https://${ACCOUNT.subdomain}.amocrm.ru`;
  const link = (path: string): { self: { href: string } } => ({ self: { href: `${origin()}${path}` } });

  const app = Fastify({
    logger: false,
    routerOptions: { querystringParser: (s) => qs.parse(s, { depth: 10, arrayLimit: 1000, parameterLimit: 10_000 }) },
  });

  const faultable = (path: string): boolean => path.startsWith('/api/') || path.startsWith('/oauth2/');

  app.addHook('onRequest', async (req, res) => {
    const path = req.url.split('?')[0] ?? '';
    if (path.startsWith('/__sim/')) return undefined;
    const key = `${req.method} ${path.replace(/\/\d+/g, '/{id}')}`;
    stats.requests += 1;
    stats.byEndpoint[key] = (stats.byEndpoint[key] ?? 0) + 1;
    if (faultable(path)) {
      const outage = faults.outage(now());
      if (outage) return faulted(req, res, outage, 'outage');
    }
    if (!path.startsWith('/api/')) return undefined;
    // amoCRM counts requests per integration in any second (amocrm.md §3).
    const t = now();
    while (recent.length > 0 && (recent[0] ?? 0) <= t - 1000) recent.shift();
    recent.push(t);
    if (recent.length > rps) {
      stats.rateLimitViolations += 1;
      return problem(res, 429, 'Too Many Requests', 'Too Many Requests', { retry_after: 1 });
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const expires = accessTokens.get(token);
    const ok =
      (options.longLivedToken !== undefined && token === options.longLivedToken) ||
      (expires !== undefined && expires > t);
    if (!ok) return problem(res, 401, 'Unauthorized', 'Неверный логин или пароль');
    return undefined;
  });

  // Fault rules see the parsed body (the lead ids a batch touches), so they run after parsing.
  app.addHook('preHandler', async (req, res) => {
    const path = req.url.split('?')[0] ?? '';
    if (!faultable(path)) return undefined;
    const delay = faults.latencyMs();
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const hit = faults.match(requestInfo(req));
    return hit ? faulted(req, res, hit.action, 'rule', hit.leadIds) : undefined;
  });

  const widget = options.widget
    ? registerWidgetCard(app, { options: options.widget, account: () => account, baseUrl: () => baseUrl ?? '', now })
    : undefined;

  if (options.controlApi !== false)
    registerControlRoutes(app, {
      faults,
      audit,
      account: () => account,
      stats: () => simulator.stats(),
      issueAuthCode: () => simulator.issueAuthCode(),
      webhooks,
    });

  const integrationUser = ADMIN_ID;

  // --- OAuth ---------------------------------------------------------------------------------------
  app.post('/oauth2/access_token', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, string>;
    const o = options.oauth;
    if (!o || body.client_id !== o.clientId || body.client_secret !== o.clientSecret) {
      return problem(res, 400, 'Некорректный запрос', 'Клиент не найден', { hint: 'Client authentication failed' });
    }
    const grant = body.grant_type;
    if (grant === 'authorization_code') {
      if (!body.code || !authCodes.delete(body.code))
        return problem(res, 400, 'Некорректный запрос', 'Authorization code has expired', {
          hint: 'Authorization code has been revoked',
        });
    } else if (grant === 'refresh_token') {
      if (!body.refresh_token || !refreshTokens.delete(body.refresh_token)) {
        return problem(
          res,
          401,
          'Некорректный запрос',
          'В запросе отсутствует ряд параметров или параметры невалидны',
          { hint: 'Token has been revoked' },
        );
      }
      stats.tokenRefreshes += 1;
    } else {
      return problem(res, 400, 'Некорректный запрос', 'Unsupported grant type');
    }
    const ttl = o.accessTokenTtlSec ?? 86_400;
    const access = `sim-access-${randomBytes(12).toString('hex')}`;
    const refresh = `sim-refresh-${randomBytes(12).toString('hex')}`;
    accessTokens.set(access, now() + ttl * 1000);
    refreshTokens.add(refresh);
    return res.send({ token_type: 'Bearer', expires_in: ttl, access_token: access, refresh_token: refresh });
  });

  // --- Account, users, pipelines -----------------------------------------------------------------
  app.get('/api/v4/account', async (_req, res) =>
    hal(res, {
      id: ACCOUNT.id,
      name: ACCOUNT.name,
      subdomain: ACCOUNT.subdomain,
      current_user_id: integrationUser,
      country: 'RU',
      currency: 'RUB',
      _links: link('/api/v4/account'),
      datetime_settings: { timezone: ACCOUNT.timeZone, date_format: 'd.m.Y', time_format: 'H:i' },
      _embedded: {
        users_groups: account.groups.map((g) => ({ id: g.id, name: g.name, uuid: null })),
        task_types: [
          { id: 1, name: 'Связаться', color: null, icon_id: null, code: 'FOLLOW_UP' },
          { id: 2, name: 'Встреча', color: null, icon_id: null, code: 'MEETING' },
        ],
      },
    }),
  );

  const page = (req: FastifyRequest): { page: number; limit: number } => {
    const q = req.query as Record<string, string>;
    return { page: Math.max(1, Number(q.page ?? 1) || 1), limit: Number(q.limit ?? 50) || 50 };
  };

  const paged = <T>(
    req: FastifyRequest,
    res: FastifyReply,
    path: string,
    key: string,
    all: T[],
    max = 250,
  ): FastifyReply => {
    const { page: p, limit } = page(req);
    if (limit > max) return problem(res, 400, 'Bad Request', `Limit ${max} per page`);
    const slice = all.slice((p - 1) * limit, p * limit);
    if (slice.length === 0) return res.code(204).send();
    const links: Record<string, { href: string }> = { self: { href: `${origin()}${path}?page=${p}&limit=${limit}` } };
    if (p * limit < all.length) links.next = { href: `${origin()}${path}?page=${p + 1}&limit=${limit}` };
    return hal(res, { _page: p, _links: links, _embedded: { [key]: slice } });
  };

  app.get('/api/v4/users', async (req, res) =>
    paged(
      req,
      res,
      '/api/v4/users',
      'users',
      account.users.map((u) => ({
        id: u.id,
        name: u.name,
        email: u.email,
        lang: 'ru',
        rights: { is_admin: u.isAdmin, is_free: false, is_active: u.isActive, group_id: u.groupId, role_id: null },
        _links: link(`/api/v4/users/${u.id}`),
      })),
    ),
  );

  const pipelineJson = (p: Account['pipelines'][number]) => ({
    id: p.id,
    name: p.name,
    sort: 1,
    is_main: p.isMain,
    is_unsorted_on: true,
    is_archive: false,
    account_id: ACCOUNT.id,
    _links: link(`/api/v4/leads/pipelines/${p.id}`),
    _embedded: {
      statuses: p.statuses.map((s) => ({
        id: s.id,
        name: s.name,
        sort: s.sort,
        is_editable: s.type === 0 && s.id > 1000,
        pipeline_id: p.id,
        color: '#99ccff',
        type: s.type,
        account_id: ACCOUNT.id,
        _links: link(`/api/v4/leads/pipelines/${p.id}/statuses/${s.id}`),
      })),
    },
  });
  app.get('/api/v4/leads/pipelines', async (_req, res) =>
    hal(res, {
      _total_items: account.pipelines.length,
      _links: link('/api/v4/leads/pipelines'),
      _embedded: { pipelines: account.pipelines.map(pipelineJson) },
    }),
  );
  app.get<{ Params: { id: string } }>('/api/v4/leads/pipelines/:id', async (req, res) => {
    const p = account.pipelines.find((x) => x.id === Number(req.params.id));
    return p ? hal(res, pipelineJson(p)) : res.code(204).send();
  });
  app.get('/api/v4/leads/loss_reasons', async (_req, res) =>
    hal(res, {
      _total_items: 2,
      _embedded: {
        loss_reasons: [
          { id: 1, name: 'Не дозвонились', sort: 1 },
          { id: 2, name: 'Купил у конкурента', sort: 2 },
        ],
      },
    }),
  );

  // --- Leads -----------------------------------------------------------------------------------------
  const leadJson = (l: SimLead, withContacts = false) => ({
    id: l.id,
    name: l.name,
    price: l.price,
    responsible_user_id: l.responsibleUserId,
    group_id: account.users.find((u) => u.id === l.responsibleUserId)?.groupId ?? 0,
    status_id: l.statusId,
    pipeline_id: l.pipelineId,
    loss_reason_id: null,
    created_by: l.createdBy,
    updated_by: l.updatedBy,
    created_at: l.createdAt,
    updated_at: l.updatedAt,
    closed_at: null,
    closest_task_at: null,
    is_deleted: l.isDeleted,
    custom_fields_values: Object.keys(l.customFields ?? {}).length
      ? Object.entries(l.customFields ?? {}).map(([id, value]) => {
          const field = account.leadFields.find((f) => f.id === Number(id));
          return {
            field_id: Number(id),
            field_name: field?.name ?? id,
            field_type: field?.type ?? 'text',
            values: [{ value: field?.type === 'date_time' ? Number(value) : value }],
          };
        })
      : null,
    score: null,
    account_id: ACCOUNT.id,
    _links: link(`/api/v4/leads/${l.id}`),
    _embedded: {
      tags: l.tags.map((t) => ({ id: t.id, name: t.name, color: null })),
      companies: [],
      ...(withContacts ? { contacts: (l.contactIds ?? []).map((id, i) => ({ id, is_main: i === 0 })) } : {}),
    },
  });

  const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);

  app.get('/api/v4/leads', async (req, res) => {
    const filter = ((req.query as Record<string, unknown>).filter ?? {}) as Record<string, unknown>;
    let leads = [...account.leads.values()].filter((l) => !l.isDeleted);
    const ids = asList(filter.id).map(Number);
    if (ids.length > 250) return problem(res, 400, 'Bad Request', 'Limit 250 per filter');
    if (ids.length) leads = leads.filter((l) => ids.includes(l.id));
    const responsible = asList(filter.responsible_user_id).map(Number);
    if (responsible.length) leads = leads.filter((l) => responsible.includes(l.responsibleUserId));
    const statuses = filter.statuses;
    if (statuses && typeof statuses === 'object') {
      const wanted = Object.values(statuses as Record<string, { pipeline_id?: string; status_id?: string }>);
      leads = leads.filter((l) =>
        wanted.some(
          (w) =>
            (w.status_id === undefined || Number(w.status_id) === l.statusId) &&
            (w.pipeline_id === undefined || Number(w.pipeline_id) === l.pipelineId),
        ),
      );
    }
    const withContacts = String((req.query as Record<string, unknown>).with ?? '')
      .split(',')
      .includes('contacts');
    return paged(
      req,
      res,
      '/api/v4/leads',
      'leads',
      leads.map((l) => leadJson(l, withContacts)),
    );
  });

  app.get<{ Params: { id: string } }>('/api/v4/leads/:id', async (req, res) => {
    const lead = account.leads.get(Number(req.params.id));
    const withContacts = String((req.query as Record<string, unknown>).with ?? '')
      .split(',')
      .includes('contacts');
    return lead && !lead.isDeleted ? hal(res, leadJson(lead, withContacts)) : res.code(204).send();
  });

  app.get('/api/v4/leads/custom_fields', async (_req, res) =>
    hal(res, {
      _total_items: account.leadFields.length,
      _links: link('/api/v4/leads/custom_fields'),
      _embedded: {
        custom_fields: account.leadFields.map((f) => ({ id: f.id, name: f.name, type: f.type, entity_type: 'leads' })),
      },
    }),
  );

  // Every tag the simulated leads ever got (amoCRM keeps a tag after its last lead drops it), by id.
  app.get('/api/v4/leads/tags', async (req, res) =>
    paged(
      req,
      res,
      '/api/v4/leads/tags',
      'tags',
      [...account.tags].map(([name, id]) => ({ id, name, color: null })).sort((a, b) => a.id - b.id),
    ),
  );

  // Contacts: enough for R2 routing (a returning client's manager is the contact's responsible user).
  const contactJson = (c: { id: number; name: string; responsibleUserId: number; createdAt: number }) => ({
    id: c.id,
    name: c.name,
    responsible_user_id: c.responsibleUserId,
    created_at: c.createdAt,
    updated_at: c.createdAt,
    account_id: ACCOUNT.id,
    _links: link(`/api/v4/contacts/${c.id}`),
  });
  app.get('/api/v4/contacts', async (req, res) => {
    const filter = ((req.query as Record<string, unknown>).filter ?? {}) as Record<string, unknown>;
    const ids = asList(filter.id).map(Number);
    const list = [...account.contacts.values()].filter((c) => ids.length === 0 || ids.includes(c.id));
    return paged(req, res, '/api/v4/contacts', 'contacts', list.map(contactJson));
  });
  app.get<{ Params: { id: string } }>('/api/v4/contacts/:id', async (req, res) => {
    const c = account.contacts.get(Number(req.params.id));
    return c ? hal(res, contactJson(c)) : res.code(204).send();
  });

  type LeadPatch = {
    custom_fields_values?: Array<{ field_id: number; values: Array<{ value: unknown }> | null }>;
    id?: number;
    responsible_user_id?: number;
    status_id?: number;
    pipeline_id?: number;
    name?: string;
    price?: number;
    tags_to_add?: Array<{ name?: string }>;
    tags_to_delete?: Array<{ name?: string }>;
    request_id?: string;
  };

  const validateBatch = (res: FastifyReply, body: unknown): unknown[] | undefined => {
    if (!Array.isArray(body) || body.length === 0) {
      problem(res, 400, 'Bad Request', 'Request data can not be empty');
      return undefined;
    }
    if (body.length > 250) {
      problem(res, 400, 'Bad Request', 'Request data too large: at most 250 entities per request');
      return undefined;
    }
    return body;
  };

  const patchLeads = async (items: LeadPatch[], req: FastifyRequest, res: FastifyReply): Promise<FastifyReply> => {
    const errors = items.flatMap((item, i) => {
      const errs: Array<{ code: string; path: string; detail: string }> = [];
      if (typeof item.id !== 'number' || !account.leads.has(item.id))
        errs.push({ code: 'NotFound', path: 'id', detail: 'Lead not found' });
      if (item.responsible_user_id !== undefined && !account.users.some((u) => u.id === item.responsible_user_id)) {
        errs.push({
          code: 'NotSupportedChoice',
          path: 'responsible_user_id',
          detail: 'The value you selected is not a valid choice.',
        });
      }
      if (
        item.status_id !== undefined &&
        !account.pipelines.some((p) => p.statuses.some((s) => s.id === item.status_id))
      ) {
        errs.push({
          code: 'NotSupportedChoice',
          path: 'status_id',
          detail: 'The value you selected is not a valid choice.',
        });
      }
      return errs.length ? [{ request_id: String(i), errors: errs }] : [];
    });
    if (errors.length)
      return problem(res, 400, 'Bad Request', 'Request validation failed', { 'validation-errors': errors });
    const entries: Array<Omit<Parameters<AuditLog['add']>[0], 'at' | 'endpoint' | 'pid'>> = [];
    const out = items.map((item) => {
      const before = {
        ...account.leads.get(item.id as number)!,
        tags: [...account.leads.get(item.id as number)!.tags],
      };
      const lead = account.updateLead(
        item.id as number,
        {
          ...(item.status_id !== undefined ? { statusId: item.status_id } : {}),
          ...(item.pipeline_id !== undefined ? { pipelineId: item.pipeline_id } : {}),
          ...(item.responsible_user_id !== undefined ? { responsibleUserId: item.responsible_user_id } : {}),
          ...(item.name !== undefined ? { name: item.name } : {}),
          ...(item.price !== undefined ? { price: item.price } : {}),
          ...(item.custom_fields_values
            ? {
                customFields: Object.fromEntries(
                  item.custom_fields_values.map((f) => [
                    f.field_id,
                    f.values?.[0] !== undefined ? String(f.values[0].value) : null,
                  ]),
                ),
              }
            : {}),
          ...(item.tags_to_add ? { tagsToAdd: item.tags_to_add.flatMap((t) => (t.name ? [t.name] : [])) } : {}),
          ...(item.tags_to_delete
            ? { tagsToDelete: item.tags_to_delete.flatMap((t) => (t.name ? [t.name] : [])) }
            : {}),
        },
        integrationUser,
      );
      const fields: Array<[string, unknown, unknown]> = [
        [
          'responsible_user_id',
          before.responsibleUserId,
          item.responsible_user_id !== undefined ? lead.responsibleUserId : undefined,
        ],
        ['status_id', before.statusId, item.status_id !== undefined ? lead.statusId : undefined],
        ['pipeline_id', before.pipelineId, item.pipeline_id !== undefined ? lead.pipelineId : undefined],
        ['name', before.name, item.name !== undefined ? lead.name : undefined],
        ['price', before.price, item.price !== undefined ? lead.price : undefined],
        [
          'tags',
          before.tags.map((t) => t.name),
          item.tags_to_add || item.tags_to_delete ? lead.tags.map((t) => t.name) : undefined,
        ],
      ];
      for (const [field, was, now_] of fields) {
        if (now_ === undefined) continue;
        entries.push({
          leadId: lead.id,
          field,
          before: was,
          after: now_,
          changed: JSON.stringify(was) !== JSON.stringify(now_),
        });
      }
      return { id: lead.id, updated_at: lead.updatedAt, _links: link(`/api/v4/leads/${lead.id}`) };
    });
    await afterWrite(req, entries);
    return hal(res, { _links: link('/api/v4/leads'), _embedded: { leads: out } });
  };

  app.patch('/api/v4/leads', async (req, res) => {
    const items = validateBatch(res, req.body);
    return items ? patchLeads(items as LeadPatch[], req, res) : res;
  });
  app.patch<{ Params: { id: string } }>('/api/v4/leads/:id', async (req, res) =>
    patchLeads([{ ...(req.body as LeadPatch), id: Number(req.params.id) }], req, res),
  );

  app.post('/api/v4/leads', async (req, res) => {
    const items = validateBatch(res, req.body) as
      | Array<{
          name?: string;
          status_id?: number;
          pipeline_id?: number;
          responsible_user_id?: number;
          price?: number;
          request_id?: string;
        }>
      | undefined;
    if (!items) return res;
    const created = items.map((item, i) => {
      const lead = account.createLead({
        name: item.name ?? `Сделка #${i}`,
        statusId: item.status_id ?? account.statusByName('Неразобранное').id,
        ...(item.pipeline_id !== undefined ? { pipelineId: item.pipeline_id } : {}),
        ...(item.responsible_user_id !== undefined ? { responsibleUserId: item.responsible_user_id } : {}),
        ...(item.price !== undefined ? { price: item.price } : {}),
        by: integrationUser,
      });
      return { id: lead.id, request_id: item.request_id ?? String(i), _links: link(`/api/v4/leads/${lead.id}`) };
    });
    await afterWrite(
      req,
      created.map((c) => ({ leadId: c.id, field: 'created', changed: true })),
    );
    return hal(res, { _links: link('/api/v4/leads'), _embedded: { leads: created } });
  });

  // --- Tasks -----------------------------------------------------------------------------------------
  const taskJson = (t: SimTask) => ({
    id: t.id,
    created_by: t.createdBy,
    updated_by: t.updatedBy,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    responsible_user_id: t.responsibleUserId,
    group_id: 0,
    entity_id: t.entityId,
    entity_type: t.entityType,
    duration: 0,
    is_completed: t.isCompleted,
    task_type_id: t.taskTypeId,
    text: t.text,
    result: t.resultText ? { text: t.resultText } : [],
    complete_till: t.completeTill,
    account_id: ACCOUNT.id,
    _links: link(`/api/v4/tasks/${t.id}`),
  });

  app.get('/api/v4/tasks', async (req, res) => {
    const filter = ((req.query as Record<string, unknown>).filter ?? {}) as Record<string, unknown>;
    let tasks = [...account.tasks.values()];
    const entityIds = asList(filter.entity_id).map(Number);
    if (entityIds.length) tasks = tasks.filter((t) => entityIds.includes(t.entityId));
    const responsible = asList(filter.responsible_user_id).map(Number);
    if (responsible.length) tasks = tasks.filter((t) => responsible.includes(t.responsibleUserId));
    const done = asList(filter.is_completed);
    if (done.length) tasks = tasks.filter((t) => done.includes(t.isCompleted ? '1' : '0'));
    return paged(req, res, '/api/v4/tasks', 'tasks', tasks.map(taskJson));
  });

  app.post('/api/v4/tasks', async (req, res) => {
    const items = validateBatch(res, req.body) as
      | Array<{
          text?: string;
          complete_till?: number;
          entity_id?: number;
          entity_type?: string;
          task_type_id?: number;
          responsible_user_id?: number;
          request_id?: string;
        }>
      | undefined;
    if (!items) return res;
    const errors = items.flatMap((t, i) => {
      const errs: Array<{ code: string; path: string; detail: string }> = [];
      if (!t.text) errs.push({ code: 'NotBlank', path: 'text', detail: 'This value should not be blank.' });
      if (typeof t.complete_till !== 'number')
        errs.push({ code: 'NotBlank', path: 'complete_till', detail: 'This value should not be blank.' });
      if (t.entity_id === undefined || !account.leads.has(t.entity_id))
        errs.push({ code: 'NotFound', path: 'entity_id', detail: 'Entity not found' });
      return errs.length ? [{ request_id: t.request_id ?? String(i), errors: errs }] : [];
    });
    if (errors.length)
      return problem(res, 400, 'Bad Request', 'Request validation failed', { 'validation-errors': errors });
    const created = items.map((t, i) => {
      const task = account.addTask({
        leadId: t.entity_id as number,
        text: t.text as string,
        completeTill: t.complete_till as number,
        ...(t.task_type_id !== undefined ? { taskTypeId: t.task_type_id } : {}),
        ...(t.responsible_user_id !== undefined ? { responsibleUserId: t.responsible_user_id } : {}),
        by: integrationUser,
      });
      return { id: task.id, request_id: t.request_id ?? String(i), _links: link(`/api/v4/tasks/${task.id}`), task };
    });
    await afterWrite(
      req,
      created.map(({ task }) => ({
        leadId: task.entityId,
        field: 'task',
        after: task.completeTill,
        changed: true,
        taskText: task.text,
        taskId: task.id,
      })),
    );
    return hal(res, {
      _links: link('/api/v4/tasks'),
      _embedded: { tasks: created.map(({ task: _task, ...rest }) => rest) },
    });
  });

  const patchTask = (
    id: number,
    body: {
      is_completed?: boolean;
      result?: { text?: string };
      text?: string;
      complete_till?: number;
      responsible_user_id?: number;
    },
  ) =>
    account.updateTask(
      id,
      {
        ...(body.is_completed !== undefined ? { isCompleted: body.is_completed } : {}),
        ...(body.result?.text !== undefined ? { resultText: body.result.text } : {}),
        ...(body.text !== undefined ? { text: body.text } : {}),
        ...(body.complete_till !== undefined ? { completeTill: body.complete_till } : {}),
        ...(body.responsible_user_id !== undefined ? { responsibleUserId: body.responsible_user_id } : {}),
      },
      integrationUser,
    );
  app.patch<{ Params: { id: string } }>('/api/v4/tasks/:id', async (req, res) => {
    const id = Number(req.params.id);
    if (!account.tasks.has(id)) return problem(res, 404, 'Not Found', 'Task not found');
    const before = { ...account.tasks.get(id)! };
    const task = patchTask(id, req.body as Parameters<typeof patchTask>[1]);
    await afterWrite(req, [
      {
        leadId: task.entityId,
        field: `task:${task.id}`,
        before: before.isCompleted,
        after: task.isCompleted,
        changed:
          JSON.stringify(before) !==
          JSON.stringify({ ...task, updatedAt: before.updatedAt, updatedBy: before.updatedBy }),
        taskText: task.text,
        taskId: task.id,
      },
    ]);
    return hal(res, { id: task.id, updated_at: task.updatedAt, _links: link(`/api/v4/tasks/${task.id}`) });
  });
  app.patch('/api/v4/tasks', async (req, res) => {
    const items = validateBatch(res, req.body) as Array<{ id: number } & Parameters<typeof patchTask>[1]> | undefined;
    if (!items) return res;
    if (items.some((t) => !account.tasks.has(t.id))) return problem(res, 400, 'Bad Request', 'Task not found');
    const befores = items.map((t) => ({ ...account.tasks.get(t.id)! }));
    const tasks = items.map((t) => patchTask(t.id, t));
    await afterWrite(
      req,
      tasks.map((task, i) => ({
        leadId: task.entityId,
        field: `task:${task.id}`,
        before: befores[i]!.isCompleted,
        after: task.isCompleted,
        changed:
          JSON.stringify(befores[i]) !==
          JSON.stringify({ ...task, updatedAt: befores[i]!.updatedAt, updatedBy: befores[i]!.updatedBy }),
        taskText: task.text,
        taskId: task.id,
      })),
    );
    const out = tasks.map((t) => ({ id: t.id, updated_at: t.updatedAt }));
    return hal(res, { _embedded: { tasks: out } });
  });

  // --- Notes -----------------------------------------------------------------------------------------
  const noteJson = (n: SimNote) => ({
    id: n.id,
    entity_id: n.entityId,
    created_by: n.createdBy,
    updated_by: n.createdBy,
    created_at: n.createdAt,
    updated_at: n.createdAt,
    responsible_user_id: n.createdBy,
    group_id: 0,
    note_type: n.noteType,
    params: n.params,
    account_id: ACCOUNT.id,
    _links: link(`/api/v4/leads/${n.entityId}/notes/${n.id}`),
  });

  const listNotes = (req: FastifyRequest, res: FastifyReply, leadId?: number): FastifyReply => {
    const filter = ((req.query as Record<string, unknown>).filter ?? {}) as Record<string, unknown>;
    const types = asList(filter.note_type);
    const entityIds = asList(filter.entity_id).map(Number);
    const noteIds = asList(filter.id).map(Number);
    const notes = [...account.notes.values()].filter(
      (n) =>
        (leadId === undefined || n.entityId === leadId) &&
        (types.length === 0 || types.includes(n.noteType)) &&
        (entityIds.length === 0 || entityIds.includes(n.entityId)) &&
        (noteIds.length === 0 || noteIds.includes(n.id)),
    );
    return paged(req, res, '/api/v4/leads/notes', 'notes', notes.map(noteJson));
  };
  const addNotes = async (
    items: Array<{ entity_id?: number; note_type?: string; params?: Record<string, unknown> }>,
    req: FastifyRequest,
    res: FastifyReply,
    leadId?: number,
  ): Promise<FastifyReply> => {
    const known = ['common', 'service_message', 'call_in', 'call_out', 'extended_service_message', 'sms_in', 'sms_out'];
    const errors = items.flatMap((n, i) => {
      const errs: Array<{ code: string; path: string; detail: string }> = [];
      const target = leadId ?? n.entity_id;
      if (target === undefined || !account.leads.has(target))
        errs.push({ code: 'NotFound', path: 'entity_id', detail: 'Entity not found' });
      if (!n.note_type || !known.includes(n.note_type))
        errs.push({
          code: 'NotSupportedChoice',
          path: 'note_type',
          detail: 'The value you selected is not a valid choice.',
        });
      return errs.length ? [{ request_id: String(i), errors: errs }] : [];
    });
    if (errors.length)
      return problem(res, 400, 'Bad Request', 'Request validation failed', { 'validation-errors': errors });
    const created = items.map((n) =>
      account.addNote({
        leadId: (leadId ?? n.entity_id) as number,
        noteType: n.note_type as string,
        params: n.params ?? {},
        by: integrationUser,
      }),
    );
    await afterWrite(
      req,
      created.map((n) => ({
        leadId: n.entityId,
        field: 'note',
        changed: true,
        noteType: n.noteType,
        ...(typeof n.params.text === 'string' ? { noteText: n.params.text } : {}),
      })),
    );
    return hal(res, {
      _links: link('/api/v4/leads/notes'),
      _embedded: {
        notes: created.map((n) => ({
          id: n.id,
          entity_id: n.entityId,
          _links: link(`/api/v4/leads/${n.entityId}/notes/${n.id}`),
        })),
      },
    });
  };
  app.get('/api/v4/leads/notes', async (req, res) => listNotes(req, res));
  app.get<{ Params: { id: string } }>('/api/v4/leads/:id/notes', async (req, res) =>
    listNotes(req, res, Number(req.params.id)),
  );
  app.post('/api/v4/leads/notes', async (req, res) => {
    const items = validateBatch(res, req.body);
    return items ? addNotes(items as Parameters<typeof addNotes>[0], req, res) : res;
  });
  app.post<{ Params: { id: string } }>('/api/v4/leads/:id/notes', async (req, res) => {
    const items = validateBatch(res, req.body);
    return items ? addNotes(items as Parameters<typeof addNotes>[0], req, res, Number(req.params.id)) : res;
  });

  // --- Events ----------------------------------------------------------------------------------------
  // The webhooks API (amocrm.md §1): needs an admin's token in amoCRM; the simulator's token is the admin's.
  const hookBody = (h: ReturnType<typeof webhooks.list>[number]) => ({
    id: h.id,
    destination: h.destination,
    settings: h.settings,
    sort: h.sort,
    disabled: h.disabled,
    created_at: h.createdAt,
    account_id: ACCOUNT.id,
  });
  app.get('/api/v4/webhooks', async (_req, res) => {
    const list = webhooks.list();
    return list.length === 0
      ? res.code(204).send()
      : { _total_items: list.length, _embedded: { webhooks: list.map(hookBody) } };
  });
  app.post('/api/v4/webhooks', async (req, res) => {
    const body = req.body as { destination?: unknown; settings?: unknown; sort?: unknown } | undefined;
    const destination = typeof body?.destination === 'string' ? body.destination : '';
    const settings = Array.isArray(body?.settings)
      ? body.settings.filter((x): x is string => typeof x === 'string')
      : [];
    if (!/^https?:\/\//.test(destination) || settings.length === 0)
      return res
        .code(400)
        .send({ title: 'Bad Request', status: 400, detail: 'destination (URL) and settings are required' });
    if (webhooks.list().length >= 100 && !webhooks.list().some((h) => h.destination === destination))
      return res.code(400).send({ title: 'Bad Request', status: 400, detail: 'at most 100 webhooks per account' });
    return res
      .code(201)
      .send(hookBody(webhooks.register(destination, settings, typeof body?.sort === 'number' ? body.sort : 1)));
  });
  app.delete('/api/v4/webhooks', async (req, res) => {
    const destination = (req.body as { destination?: unknown } | undefined)?.destination;
    if (typeof destination !== 'string')
      return res.code(400).send({ title: 'Bad Request', status: 400, detail: 'destination is required' });
    return webhooks.unregister(destination)
      ? res.code(204).send()
      : res.code(404).send({ title: 'Not Found', status: 404 });
  });

  app.get('/api/v4/events', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const filter = (q.filter ?? {}) as Record<string, unknown>;
    const types = asList(filter.type).flatMap((t) => t.split(','));
    const entity = typeof filter.entity === 'string' ? filter.entity : undefined;
    const ids = asList(filter.entity_id).map(Number);
    const created = (filter.created_at ?? {}) as { from?: string; to?: string };
    const events = account.events.filter(
      (e) =>
        (types.length === 0 || types.includes(e.type)) &&
        (entity === undefined || e.entityType === entity) &&
        (ids.length === 0 || ids.includes(e.entityId)) &&
        (created.from === undefined || e.createdAt >= Number(created.from)) &&
        (created.to === undefined || e.createdAt <= Number(created.to)),
    );
    const json = [...events].reverse().map((e) => ({
      id: e.id,
      type: e.type,
      entity_id: e.entityId,
      entity_type: e.entityType,
      created_by: e.createdBy,
      created_at: e.createdAt,
      value_after: e.valueAfter,
      value_before: e.valueBefore,
      account_id: ACCOUNT.id,
      _links: link(`/api/v4/events/${e.id}`),
    }));
    return paged(req, res, '/api/v4/events', 'events', json, 100);
  });

  const simulator: Simulator = {
    app,
    ...(widget ? { widget } : {}),
    account,
    webhooks,
    faults,
    audit,
    get baseUrl() {
      return baseUrl;
    },
    async listen(port = 0, host = '127.0.0.1') {
      baseUrl = await app.listen({ port, host });
      return baseUrl;
    },
    stats: () => ({ ...stats, byEndpoint: { ...stats.byEndpoint }, webhooks: webhooks.stats() }),
    issueAuthCode() {
      const code = `sim-code-${randomBytes(8).toString('hex')}`;
      authCodes.add(code);
      return code;
    },
    async close() {
      await webhooks.close();
      await app.close();
    },
  };
  return simulator;
}
