/**
 * The admin area, all under /admin: the page (Russian), its assets, the JSON API (/admin/api, OpenAPI at
 * /admin/api/openapi.json) and the queue view (/admin/queues). One login: the ADMIN_TOKEN as a bearer, or a session
 * cookie it was exchanged for (writes then need the CSRF header). Every write goes to the audit log.
 * The routes only check, parse and hand on: the rules source, the stores and the dry run do the work.
 */
import { createViolationLedger } from '../../../store/violation-ledger.js';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import { stringify } from 'csv-stringify/sync';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { createAuditLog, type AuditEntry } from '../../../admin/audit.js';
import { createSessionStore, tokenEquals, type AdminSession } from '../../../admin/auth.js';
import { compareReplays } from '../../../admin/dry-run.js';
import { keptEvents, recordedCounts } from '../../../admin/history.js';
import { checkTarget, configPause, intakeView } from '../../../admin/intake.js';
import { rulesJsonSchema } from '../../../config/json-schema.js';
import { diffTexts } from '../../../store/rule-versions.js';
import type { RulesSource } from '../../../store/rules-source.js';
import type { LeadNames } from '../../../amocrm/api/directory.js';
import type { Clock } from '../../../lib/clock.js';
import type { Logger } from '../../../lib/logger.js';
import type { AccountDirectory } from '../../../rules/directory.js';
import { pauseKey, type CompiledRules } from '../../../rules/types.js';
import { createIntakeStore, type IntakeTarget } from '../../../store/intake-store.js';
import type { Keys } from '../../../store/keys.js';
import type { RecordStore, StoredRecord } from '../../../store/record-store.js';
import type { WebhookInbox } from '../../../store/webhook-inbox.js';
import { ruleStatuses } from '../../../rules/registry.js';
import {
  AppliedSchema,
  ApplySchema,
  DepartmentParamsSchema,
  DiffParamsSchema,
  DraftSchema,
  DryRunSchema,
  ErrorBodySchema,
  IntakeChangeSchema,
  LeadParamsSchema,
  ManagerParamsSchema,
  RangeQuerySchema,
  RollbackSchema,
  SignInSchema,
  ValidationSchema,
  VersionParamsSchema,
  VersionSummarySchema,
} from './schemas.js';

export const SESSION_COOKIE = 'amo_admin';
export const CSRF_HEADER = 'x-csrf-token';
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'admin', 'page');

/** Which route wins when both are used: shown on the page and returned by GET /admin/api/config. */
export const SOURCE_RULE =
  'Действует последнее изменение, каким бы путём оно ни пришло: правка файла RULES_FILE становится новой версией, ' +
  'применение на этой странице — тоже. Файл сервис не переписывает; если после правки здесь файл изменят снова, победит файл.';

export interface AdminDeps {
  token: string;
  sessionMinutes: number;
  source: RulesSource;
  redis: Redis;
  keys: Keys;
  inbox: Pick<WebhookInbox, 'getRaw' | 'listDeadLetters'>;
  records: Pick<RecordStore, 'range' | 'forLead'>;
  /** The amoCRM directory for name lists, warnings and the dry run. */
  directory: () => Promise<AccountDirectory>;
  /** Lead custom fields and tags from amoCRM for the editor's lists; without it the directory lists none. */
  leadNames?: () => Promise<LeadNames>;
  /** Queues shown in the queue view. */
  queues?: Queue[];
  clock: Clock;
  logger: Logger;
  /** Sign-in attempts per minute and client address. */
  signInPerMinute?: number;
}

type Actor = { kind: 'token' } | { kind: 'session'; session: AdminSession };

declare module 'fastify' {
  interface FastifyRequest {
    adminActor?: Actor;
  }
}

const STRICT_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  objectSrc: ["'none'"],
};

const fail = (res: FastifyReply, status: number, code: string, message: string): FastifyReply =>
  res.code(status).send({ error: { code, message } });

const actorName = (a: Actor | undefined): string =>
  a === undefined ? 'anonymous' : a.kind === 'token' ? 'token' : `session:${a.session.id.slice(0, 8)}`;

function recordsOf(rows: StoredRecord[], kinds: ReadonlyArray<string>): StoredRecord[] {
  return rows.filter((r) => kinds.includes(r.kind));
}

const ASSIGNMENT_KINDS = ['assignment', 'reassignment', 'fallback'] as const;
const INTAKE_KINDS = ['intake_paused', 'intake_resumed'] as const;
/** Intake records are kept under lead 0 (they are about people, not a lead); the listing shows the latest. */
const INTAKE_HISTORY = 50;

export function adminPlugin(deps: AdminDeps) {
  const sessions = createSessionStore(deps.redis, deps.keys, deps.sessionMinutes * 60);
  const audit = createAuditLog(deps.redis, deps.keys);
  const intake = createIntakeStore(deps.redis, deps.keys);
  const log = deps.logger.child({ component: 'admin' });
  const now = (): string => deps.clock.now().toISOString();

  const writeAudit = async (
    req: FastifyRequest,
    action: string,
    outcome: AuditEntry['outcome'],
    detail?: Record<string, unknown>,
  ): Promise<void> => {
    const entry: AuditEntry = {
      at: now(),
      actor: actorName(req.adminActor),
      action,
      outcome,
      ...(detail ? { detail } : {}),
    };
    log.info({ audit: entry }, `admin ${action}: ${outcome}`);
    await audit.write(entry);
  };

  /** Who is asking: the bearer token, or a live session (with the CSRF header on writes). Answers 401/403 otherwise. */
  const authenticate = async (req: FastifyRequest, res: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const [scheme, given] = header.split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || given === undefined || !tokenEquals(given, deps.token))
        return fail(res, 401, 'unauthorized', 'wrong admin token');
      req.adminActor = { kind: 'token' };
      return undefined;
    }
    const id = req.cookies[SESSION_COOKIE];
    const session = id !== undefined ? await sessions.get(id) : undefined;
    if (!session)
      return fail(
        res,
        401,
        'unauthorized',
        'sign in first: POST /admin/api/session with the admin token, or send it as a bearer',
      );
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const csrf = req.headers[CSRF_HEADER];
      if (typeof csrf !== 'string' || !tokenEquals(csrf, session.csrf))
        return fail(res, 403, 'csrf', `the ${CSRF_HEADER} header is missing or wrong`);
    }
    req.adminActor = { kind: 'session', session };
    return undefined;
  };

  const draftText = (d: { text?: string | undefined; config?: Record<string, unknown> | undefined }): string =>
    d.text ?? toYaml(d.config ?? {});

  const api = async (app: FastifyInstance): Promise<void> => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(fastifySwagger, {
      openapi: {
        info: { title: 'amo-discipline admin API', version: '1' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
    });
    await app.register(fastifyRateLimit, { global: false });
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

    // Sign-in: the token for a short-lived session. Rate-limited; the token is never echoed or logged.
    r.post(
      '/session',
      {
        config: { rateLimit: { max: deps.signInPerMinute ?? 10, timeWindow: '1 minute' } },
        schema: {
          summary: 'Exchange the admin token for a session cookie and a CSRF token',
          body: SignInSchema,
          security: [],
        },
      },
      async (req, res) => {
        if (!tokenEquals(req.body.token, deps.token)) {
          await writeAudit(req, 'sign_in', 'refused');
          return fail(res, 401, 'unauthorized', 'wrong admin token');
        }
        const session = await sessions.create(now());
        req.adminActor = { kind: 'session', session };
        await writeAudit(req, 'sign_in', 'ok');
        const expiresAt = new Date(deps.clock.now().getTime() + deps.sessionMinutes * 60_000).toISOString();
        return res
          .setCookie(SESSION_COOKIE, session.id, {
            path: '/admin',
            httpOnly: true,
            sameSite: 'strict',
            secure: 'auto',
            maxAge: deps.sessionMinutes * 60,
          })
          .send({ csrfToken: session.csrf, expiresAt });
      },
    );

    app.register(async (auth) => {
      auth.addHook('preHandler', authenticate);
      const a = auth.withTypeProvider<ZodTypeProvider>();

      a.get(
        '/session',
        { schema: { summary: 'The current session (the page reads its CSRF token after a reload)' } },
        async (req) => {
          const actor = req.adminActor;
          return { kind: actor?.kind, ...(actor?.kind === 'session' ? { csrfToken: actor.session.csrf } : {}) };
        },
      );

      a.delete('/session', { schema: { summary: 'Sign out' } }, async (req, res) => {
        const actor = req.adminActor;
        if (actor?.kind === 'session') await sessions.destroy(actor.session.id);
        await writeAudit(req, 'sign_out', 'ok');
        return res.clearCookie(SESSION_COOKIE, { path: '/admin' }).send({ ok: true });
      });

      a.get(
        '/config',
        { schema: { summary: 'The running rules config, its version, warnings and the last rejected change' } },
        async () => {
          const s = deps.source.snapshot();
          const fileText = await readFile(deps.source.file, 'utf8').catch(() => undefined);
          // A web-only process does not compile the rules; its warnings come from the same names, resolved here.
          const checked = s.rules ? undefined : await deps.source.validate(s.text, await deps.directory());
          const warnings = checked?.ok ? checked.warnings : s.warnings;
          return {
            version: s.version,
            origin: s.origin,
            author: s.author,
            at: s.at,
            comment: s.comment,
            text: s.text,
            config: s.config,
            rules: ruleStatuses(s.config),
            warnings,
            rejection: deps.source.lastRejection() ?? null,
            source: { rule: SOURCE_RULE, file: deps.source.file, fileMatchesRunning: fileText === s.text },
          };
        },
      );

      a.get(
        '/config/schema',
        { schema: { summary: 'JSON Schema of the rules config (editor autocompletion)' } },
        async () => rulesJsonSchema(),
      );

      a.post(
        '/config/validate',
        {
          schema: {
            summary: 'Validate a draft: every error with its path, and names that would not resolve',
            body: DraftSchema,
            response: { 200: ValidationSchema },
          },
        },
        async (req) => {
          const v = await deps.source.validate(draftText(req.body), await deps.directory());
          return v.ok ? { ok: true, errors: [], warnings: v.warnings } : { ok: false, errors: v.errors, warnings: [] };
        },
      );

      a.post(
        '/config/apply',
        {
          schema: {
            summary: 'Apply a draft as a new version (every process follows within seconds)',
            body: ApplySchema,
            response: { 200: AppliedSchema, 409: ErrorBodySchema, 422: ValidationSchema },
          },
        },
        async (req, res) => {
          const result = await deps.source.apply({
            text: draftText(req.body),
            author: actorName(req.adminActor),
            comment: req.body.comment,
            ...(req.body.baseVersion !== undefined ? { baseVersion: req.body.baseVersion } : {}),
          });
          if (result.ok && result.unchanged) {
            await writeAudit(req, 'apply', 'unchanged', { version: result.version });
            return { version: result.version, unchanged: true };
          }
          if (result.ok) {
            await writeAudit(req, 'apply', 'ok', { version: result.version, comment: req.body.comment });
            return { version: result.version };
          }
          if (result.kind === 'invalid') {
            await writeAudit(req, 'apply', 'invalid', { errors: result.errors.length });
            return res.code(422).send({ ok: false, errors: result.errors, warnings: [] });
          }
          await writeAudit(req, 'apply', 'refused', { reason: 'conflict' });
          return fail(
            res,
            409,
            'conflict',
            `the config changed meanwhile (current version ${result.kind === 'conflict' ? result.current : '?'}); reload and apply again`,
          );
        },
      );

      a.get(
        '/versions',
        {
          schema: {
            summary: 'Stored versions, newest first',
            response: { 200: z.object({ current: z.number(), versions: z.array(VersionSummarySchema) }) },
          },
        },
        async () => ({
          current: await deps.source.versions.current(),
          versions: await deps.source.versions.list(200),
        }),
      );

      a.get(
        '/versions/:version',
        {
          schema: {
            summary: 'One version with its text and its diff against the previous one',
            params: VersionParamsSchema,
          },
        },
        async (req, res) => {
          const v = await deps.source.versions.get(req.params.version);
          return v ?? fail(res, 404, 'not_found', `version ${req.params.version} does not exist`);
        },
      );

      a.get(
        '/versions/:version/diff/:other',
        { schema: { summary: 'Unified diff between two versions', params: DiffParamsSchema } },
        async (req, res) => {
          const [x, y] = await Promise.all([
            deps.source.versions.get(req.params.version),
            deps.source.versions.get(req.params.other),
          ]);
          if (!x || !y)
            return fail(res, 404, 'not_found', `version ${!x ? req.params.version : req.params.other} does not exist`);
          return { diff: diffTexts(x.text, y.text, `version ${x.version}`, `version ${y.version}`) };
        },
      );

      a.post(
        '/versions/:version/rollback',
        {
          schema: {
            summary: 'Make an older version current again (as a new version)',
            params: VersionParamsSchema,
            body: RollbackSchema,
          },
        },
        async (req, res) => {
          const result = await deps.source.rollback({
            version: req.params.version,
            author: actorName(req.adminActor),
            comment: req.body.comment,
          });
          if (result.ok) {
            await writeAudit(req, 'rollback', 'ok', { to: req.params.version, version: result.version });
            return { version: result.version };
          }
          await writeAudit(req, 'rollback', 'refused', { to: req.params.version, reason: result.kind });
          if (result.kind === 'not_found')
            return fail(res, 404, 'not_found', `version ${req.params.version} does not exist`);
          if (result.kind === 'invalid') return res.code(422).send({ ok: false, errors: result.errors, warnings: [] });
          return fail(res, 409, 'conflict', 'the config changed meanwhile; try again');
        },
      );

      a.post(
        '/dry-run',
        {
          schema: {
            summary: 'Replay the kept webhooks of the last days through the draft and the running rules',
            body: DryRunSchema,
          },
        },
        async (req, res) => {
          const dir = await deps.directory();
          const draft = await deps.source.validate(draftText(req.body), dir);
          if (!draft.ok) return res.code(422).send({ ok: false, errors: draft.errors, warnings: [] });
          const running = deps.source.snapshot();
          const current = await deps.source.validate(running.text, dir);
          if (!current.ok || !current.rules || !draft.rules)
            return fail(res, 500, 'internal', 'the rules could not be compiled');
          const to = deps.clock.now().getTime();
          const from = to - req.body.days * 24 * 3600_000;
          const kept = await keptEvents(deps.redis, deps.keys, deps.inbox, { from, to }, dir.timeZone);
          const report = compareReplays({
            events: kept.events,
            current: current.rules,
            draft: draft.rules,
            from,
            to,
            recorded: await recordedCounts(deps.records, { from, to }),
          });
          await writeAudit(req, 'dry_run', 'ok', { days: req.body.days, events: report.events });
          return { ...report, deliveries: kept.deliveries, unreadable: kept.unreadable, warnings: draft.warnings };
        },
      );

      const ledger = createViolationLedger(deps.redis, deps.keys);
      /** Violations with their ledger state and who contested and decided them (src/store/violation-ledger.ts). */
      const withLedger = async (rows: StoredRecord[]) =>
        Promise.all(
          rows.map(async (r) => {
            const entry = r.violationId !== undefined ? await ledger.byId(r.violationId) : undefined;
            const disputed = entry?.history.find((c) => c.state === 'disputed');
            const decided = entry?.history.find((c) => c.state === 'withdrawn' || c.state === 'upheld');
            return {
              ...r,
              state: entry?.state ?? 'open',
              ...(entry ? { ref: entry.ref, history: entry.history } : {}),
              ...(entry?.evidence ? { evidence: entry.evidence } : {}),
              ...(disputed ? { disputedBy: disputed.by, disputeReason: disputed.note ?? '' } : {}),
              ...(decided ? { decidedBy: decided.by, decidedAt: decided.at } : {}),
            };
          }),
        );
      const range = (q: z.infer<typeof RangeQuerySchema>): { from: string; to: string } => {
        const to = q.to ?? now();
        return { from: q.from ?? new Date(Date.parse(to) - 30 * 24 * 3600_000).toISOString(), to };
      };

      a.get(
        '/violations',
        {
          schema: {
            summary: 'Violations recorded in a time range (default: the last 30 days)',
            querystring: RangeQuerySchema,
          },
        },
        async (req) => {
          const { from, to } = range(req.query);
          return {
            from,
            to,
            violations: await withLedger(recordsOf(await deps.records.range(from, to, req.query.limit), ['violation'])),
          };
        },
      );

      a.get(
        '/assignments',
        { schema: { summary: 'Assignments with their explanations in a time range', querystring: RangeQuerySchema } },
        async (req) => {
          const { from, to } = range(req.query);
          return {
            from,
            to,
            assignments: recordsOf(await deps.records.range(from, to, req.query.limit), ASSIGNMENT_KINDS),
          };
        },
      );

      a.get(
        '/leads/:leadId/history',
        {
          schema: {
            summary: "A lead's record: assignments with reasons, violations, actions",
            params: LeadParamsSchema,
          },
        },
        async (req) => ({
          leadId: req.params.leadId,
          records: await deps.records.forLead(req.params.leadId),
        }),
      );

      a.get(
        '/dead-letters',
        {
          schema: {
            summary: 'Webhook items that could not be parsed, with the reason',
            querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
          },
        },
        async (req) => ({
          deadLetters: await deps.inbox.listDeadLetters(req.query.limit),
        }),
      );

      a.get(
        '/directory',
        {
          schema: {
            summary:
              'Names from amoCRM for the editor: pipelines with stages, users, groups, lead custom fields, lead tags',
          },
        },
        async () => {
          const dir = await deps.directory();
          // The fields and tags only help the editor: if amoCRM cannot give them now, the rest of the names still comes back.
          const names = await (deps.leadNames?.() ?? Promise.resolve<LeadNames>({ fields: [], tags: [] })).catch(
            (err: unknown) => {
              deps.logger.warn(
                { err: { message: (err as Error).message } },
                'could not read lead custom fields and tags from amoCRM',
              );
              return { fields: [], tags: [] } satisfies LeadNames;
            },
          );
          return {
            timeZone: dir.timeZone,
            pipelines: dir.pipelines.map((p) => ({
              id: p.id,
              name: p.name,
              stages: p.statuses.map((s) => ({ id: s.id, name: s.name })),
            })),
            users: dir.users.map((u) => ({ id: u.id, name: u.name, active: u.isActive, groupId: u.groupId ?? null })),
            groups: dir.groups,
            leadFields: names.fields.map((f) => ({ id: f.id, name: f.name, type: f.type })),
            tags: names.tags.map((t) => ({ id: t.id, name: t.name })),
          };
        },
      );

      const csv = (
        res: FastifyReply,
        name: string,
        rows: Array<Record<string, unknown>>,
        columns: string[],
      ): FastifyReply =>
        res
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(stringify(rows, { header: true, columns, cast: { object: (v) => JSON.stringify(v) } }));

      a.get(
        '/export/violations.csv',
        { schema: { summary: 'Violations of a date range as CSV', querystring: RangeQuerySchema } },
        async (req, res) => {
          const { from, to } = range(req.query);
          const rows = await withLedger(recordsOf(await deps.records.range(from, to, req.query.limit), ['violation']));
          await writeAudit(req, 'export_violations', 'ok', { from, to, rows: rows.length });
          const nameOf = await userNames();
          return csv(
            res,
            'violations.csv',
            rows.map((r) => ({ ...r, userName: nameOf(r.userId) })),
            [
              'at',
              'type',
              'leadId',
              'userId',
              'userName',
              'department',
              'rule',
              'violationId',
              'reason',
              'state',
              'disputedBy',
              'disputeReason',
              'decidedBy',
              'decidedAt',
            ],
          );
        },
      );

      a.get(
        '/export/assignments.csv',
        { schema: { summary: 'Assignments of a date range as CSV, with explanations', querystring: RangeQuerySchema } },
        async (req, res) => {
          const { from, to } = range(req.query);
          const rows = recordsOf(await deps.records.range(from, to, req.query.limit), ASSIGNMENT_KINDS);
          await writeAudit(req, 'export_assignments', 'ok', { from, to, rows: rows.length });
          const nameOf = await userNames();
          return csv(
            res,
            'assignments.csv',
            rows.map((r) => ({ ...r, userName: nameOf(r.userId) })),
            [
              'at',
              'kind',
              'leadId',
              'userId',
              'userName',
              'previousUserId',
              'department',
              'rule',
              'reason',
              'explanation',
            ],
          );
        },
      );

      // R2 (seed 002 §2.13, §3.10): pause and resume a manager's or a department's intake, with who and why.
      const intakeRules = async (): Promise<CompiledRules | undefined> => {
        const s = deps.source.snapshot();
        if (s.rules) return s.rules;
        // A web-only process compiles nothing: the running text is compiled against the directory here.
        const v = await deps.source.validate(s.text, await deps.directory());
        return v.ok ? v.rules : undefined;
      };

      a.get(
        '/intake',
        {
          schema: {
            summary:
              'Intake of every department and manager: who is paused, where (config or run time), by whom and why; the latest pauses and resumes',
          },
        },
        async (_req, res) => {
          const rules = await intakeRules();
          if (!rules) return fail(res, 500, 'internal', 'the running rules could not be compiled');
          const history = recordsOf(await deps.records.forLead(0), INTAKE_KINDS)
            .slice(-INTAKE_HISTORY)
            .reverse();
          return { departments: intakeView(rules, await intake.list()), history };
        },
      );

      const changeIntake = async (
        req: FastifyRequest,
        res: FastifyReply,
        op: 'pause' | 'resume',
        target: IntakeTarget,
        body: z.infer<typeof IntakeChangeSchema>,
      ): Promise<FastifyReply> => {
        const action = `intake_${op}`;
        const detail = {
          target: pauseKey(target),
          reason: body.reason,
          ...(body.by !== undefined ? { by: body.by } : {}),
        };
        const rules = await intakeRules();
        if (!rules) return fail(res, 500, 'internal', 'the running rules could not be compiled');
        const known = checkTarget(rules, target);
        if (!known.ok) {
          await writeAudit(req, action, 'invalid', { ...detail, problem: 'unknown_target' });
          return fail(res, 404, 'not_found', known.message);
        }
        const actor = actorName(req.adminActor);
        const by = {
          name: body.by !== undefined ? `${body.by} (admin ${actor})` : `admin ${actor}`,
          reason: body.reason,
          at: deps.clock.now().getTime(),
        };
        if (op === 'resume' && configPause(rules, target) !== undefined) {
          await writeAudit(req, action, 'refused', { ...detail, problem: 'paused_in_config' });
          return fail(
            res,
            409,
            'paused_in_config',
            `${known.label} is paused in the rules config ("${configPause(rules, target) ?? ''}"); remove "paused" there to resume`,
          );
        }
        const changed = op === 'pause' ? await intake.pause(target, by) : await intake.resume(target, by);
        if (!changed) {
          const current = (await intake.list()).get(pauseKey(target));
          await writeAudit(req, action, 'refused', {
            ...detail,
            problem: op === 'pause' ? 'already_paused' : 'not_paused',
          });
          return op === 'pause'
            ? fail(
                res,
                409,
                'already_paused',
                `${known.label} is already paused by ${current?.by ?? '?'}${current ? ` since ${new Date(current.at).toISOString()}` : ''}: ${current?.reason ?? ''}`,
              )
            : fail(res, 409, 'not_paused', `${known.label} is not paused at run time`);
        }
        await writeAudit(req, action, 'ok', detail);
        return res.send({
          ok: true,
          target: pauseKey(target),
          [op === 'pause' ? 'paused' : 'resumed']: {
            by: by.name,
            reason: by.reason,
            at: new Date(by.at).toISOString(),
          },
        });
      };

      for (const op of ['pause', 'resume'] as const) {
        a.post(
          `/intake/managers/:userId/${op}`,
          {
            schema: {
              summary: `${op === 'pause' ? 'Pause' : 'Resume'} a manager's intake of leads (the reason is required and recorded)`,
              params: ManagerParamsSchema,
              body: IntakeChangeSchema,
            },
          },
          async (req, res) => changeIntake(req, res, op, { kind: 'manager', userId: req.params.userId }, req.body),
        );
        a.post(
          `/intake/departments/:department/${op}`,
          {
            schema: {
              summary: `${op === 'pause' ? 'Pause' : 'Resume'} a whole department's intake of leads (the reason is required and recorded)`,
              params: DepartmentParamsSchema,
              body: IntakeChangeSchema,
            },
          },
          async (req, res) => changeIntake(req, res, op, { kind: 'department', name: req.params.department }, req.body),
        );
      }

      a.get(
        '/audit',
        {
          schema: {
            summary: 'The audit log of admin writes, newest first',
            querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
          },
        },
        async (req) => ({
          entries: await audit.list(req.query.limit),
        }),
      );
    });
  };

  const userNames = async (): Promise<(userId: number | undefined) => string> => {
    const names = new Map((await deps.directory()).users.map((u) => [u.id, u.name]));
    return (userId) => (userId === undefined ? '' : (names.get(userId) ?? ''));
  };

  const page = async (app: FastifyInstance): Promise<void> => {
    await app.register(fastifyStatic, {
      root: join(PAGE_DIR, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      index: false,
    });
    const html = (): Promise<string> => readFile(join(PAGE_DIR, 'index.html'), 'utf8');
    app.get('/', async (_req, res) => res.type('text/html; charset=utf-8').send(await html()));
  };

  const queues = async (app: FastifyInstance): Promise<void> => {
    const adapter = new FastifyAdapter();
    adapter.setBasePath('/admin/queues');
    createBullBoard({
      queues: (deps.queues ?? []).map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
      serverAdapter: adapter,
    });
    app.addHook('onRequest', async (req, res) => {
      const id = req.cookies[SESSION_COOKIE];
      const session = id !== undefined ? await sessions.get(id) : undefined;
      if (session) {
        req.adminActor = { kind: 'session', session };
        // bull-board's own writes (retry, clean) are POST/PUT from its page: same-origin only (SameSite=Strict cookie).
        return;
      }
      const header = req.headers.authorization;
      if (header?.toLowerCase().startsWith('bearer ') && tokenEquals(header.slice(7), deps.token)) return;
      return res
        .code(401)
        .type('text/html; charset=utf-8')
        .send('<p>Войдите на <a href="/admin">странице администратора</a>.</p>');
    });
    app.addHook('onResponse', async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        await writeAudit(req, `queues ${req.method} ${req.url.split('?')[0] ?? ''}`, 'ok');
    });
    await app.register(adapter.registerPlugin(), { prefix: '/queues' });
  };

  return async function admin(app: FastifyInstance): Promise<void> {
    await app.register(fastifyCookie);
    // Strict CSP for the page and the API: only this origin's scripts and styles, no inline code, no framing.
    await app.register(async (strict) => {
      await strict.register(fastifyHelmet, {
        contentSecurityPolicy: { useDefaults: false, directives: STRICT_CSP },
        crossOriginEmbedderPolicy: true,
      });
      strict.addHook('onSend', async (_req, res, payload) => {
        res.header('cache-control', 'no-store');
        return payload;
      });
      await strict.register(page);
      await strict.register(api, { prefix: '/api' });
    });
    // bull-board's page sets inline styles; it gets the same policy with inline styles allowed.
    await app.register(async (board) => {
      await board.register(fastifyHelmet, {
        contentSecurityPolicy: {
          useDefaults: false,
          directives: { ...STRICT_CSP, styleSrc: ["'self'", "'unsafe-inline'"] },
        },
      });
      await board.register(queues);
    });
  };
}
