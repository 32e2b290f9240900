/**
 * The API of the amoCRM widget (widget/, `npm run widget:build`): the robot's state of one lead for the card, and a
 * manager's dispute or a РОП's decision from it. amoCRM's widget calls carry its one-time token for the current user
 * (`X-Auth-Token`, a JWT signed HS256 with the integration's secret key, Kommo "One-time tokens"); every route checks
 * it with WIDGET_SECRET (default AMO_CLIENT_SECRET): signature, expiry, the account (`iss` or `subdomain` is this
 * account's amoCRM address) and, when AMO_CLIENT_ID is set, the integration (`client_uuid`). A bad, expired or
 * foreign token gets 401 with a Russian message, and the refusal is logged and recorded. CORS answers only the
 * account's own amoCRM origin.
 */
import fastifyCors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Disputes } from '../../ledger/disputes.js';
import { DEFAULT_DISPUTES } from '../../rules/disputes/config.js';
import { checkDecision, checkDispute, type LedgerEntry } from '../../rules/disputes/policy.js';
import { stateText } from '../../rules/disputes/texts.js';
import { CadenceStateSchema } from '../../rules/cadence/types.js';
import { SKIP_TEXT, explainChoice } from '../../rules/pickup/templates.js';
import type { CompiledRules, DistributionExplanation } from '../../rules/types.js';
import type { Keys } from '../../store/keys.js';
import { decodeLeadField } from '../../store/lead-fields.js';
import { createPickupStore } from '../../store/pickup-store.js';
import type { RecordStore } from '../../store/record-store.js';
import { violationText } from '../../telegram/templates/index.js';

export interface WidgetConfig {
  /** The integration's secret key: amoCRM signs the widget's tokens with it. */
  secret: string;
  /** The integration's id (`client_uuid` in the token); checked when set. */
  clientId?: string | undefined;
  /** The account's amoCRM origins (`https://<subdomain>.amocrm.ru`): the only origins CORS answers. */
  origins: string[];
}

export interface WidgetRouteDeps {
  widget: WidgetConfig;
  redis: Redis;
  keys: Keys;
  records: Pick<RecordStore, 'forLead' | 'append'>;
  disputes: () => Disputes | undefined;
  rules: () => CompiledRules | undefined;
  clock: Clock;
  logger: Logger;
}

/** The claims of amoCRM's widget token this service reads. */
const ClaimsSchema = z
  .object({
    user_id: z.coerce.number().int().positive(),
    account_id: z.coerce.number().int().positive().optional(),
    subdomain: z.string().optional(),
    iss: z.string().optional(),
    client_uuid: z.string().optional(),
  })
  .passthrough();

export const WIDGET_UNAUTHORIZED = 'Токен виджета недействителен или истёк: обновите страницу amoCRM.';

const LeadParams = z.object({ leadId: z.coerce.number().int().positive() });
const RefParams = z.object({ ref: z.string().regex(/^[0-9a-f]{16}$/) });
const DisputeBody = z.object({ reason: z.string().max(5000) });
const DecideBody = z.object({ withdraw: z.boolean() });

declare module 'fastify' {
  interface FastifyRequest {
    widgetUserId?: number;
  }
}

export function widgetRoutes(deps: WidgetRouteDeps) {
  const log = deps.logger.child({ component: 'widget' });
  const secret = new TextEncoder().encode(deps.widget.secret);
  const hosts = new Set(deps.widget.origins.map((o) => new URL(o).host));
  const name = (id: number | undefined): string =>
    id === undefined ? '' : (deps.rules()?.userNames.get(id) ?? `пользователь ${id}`);
  const zone = (): string => deps.rules()?.timeZone ?? 'Europe/Moscow';

  /** The token's account: `iss` (the account's address) or `subdomain`, against this account's origins. */
  const ownAccount = (claims: z.infer<typeof ClaimsSchema>): boolean => {
    if (claims.iss !== undefined) {
      try {
        return hosts.has(new URL(claims.iss).host);
      } catch {
        return false;
      }
    }
    if (claims.subdomain !== undefined) return [...hosts].some((h) => h.split('.')[0] === claims.subdomain);
    return false;
  };

  const refuse = async (req: FastifyRequest, res: FastifyReply, why: string): Promise<FastifyReply> => {
    const at = deps.clock.now().toISOString();
    const lead = LeadParams.safeParse(req.params);
    log.warn({ why, url: req.url, ip: req.ip }, 'widget: call refused');
    await deps.records
      .append(
        {
          kind: 'action',
          at,
          leadId: lead.success ? lead.data.leadId : 0,
          type: 'widget_refused',
          rule: 'widget',
          reason: `widget call ${req.method} ${req.routeOptions.url ?? req.url} refused: ${why} (from ${req.ip})`,
        },
        `widget:refused:${req.id}:${at}`,
      )
      .catch(() => undefined);
    return res.code(401).send({ error: { code: 'unauthorized', message: WIDGET_UNAUTHORIZED } });
  };

  const authenticate = async (req: FastifyRequest, res: FastifyReply): Promise<FastifyReply | undefined> => {
    const token = req.headers['x-auth-token'];
    if (typeof token !== 'string' || token === '') return refuse(req, res, 'no X-Auth-Token');
    try {
      const { payload } = await jwtVerify(token, secret, {
        algorithms: ['HS256'],
        clockTolerance: 30,
        currentDate: deps.clock.now(),
      });
      const claims = ClaimsSchema.safeParse(payload);
      if (!claims.success) return refuse(req, res, 'the token names no user');
      if (!ownAccount(claims.data))
        return refuse(req, res, `the token is of another account (${claims.data.iss ?? claims.data.subdomain ?? '?'})`);
      if (deps.widget.clientId !== undefined && claims.data.client_uuid !== deps.widget.clientId)
        return refuse(req, res, 'the token is of another integration');
      req.widgetUserId = claims.data.user_id;
      return undefined;
    } catch (err) {
      const why =
        err instanceof joseErrors.JWTExpired
          ? 'the token expired'
          : err instanceof joseErrors.JWSSignatureVerificationFailed
            ? 'the token signature does not verify'
            : `the token does not verify (${(err as Error).message})`;
      return refuse(req, res, why);
    }
  };

  const violationView = (e: LedgerEntry, userId: number, nowMs: number) => {
    const rules = deps.rules();
    const cfg = rules?.disputes ?? DEFAULT_DISPUTES;
    const heads = (rules?.departments ?? [])
      .filter((d) => d.headUserId === userId || d.fallbackUserId === userId)
      .map((d) => d.name);
    const dispute = checkDispute(e, userId, cfg, nowMs);
    return {
      ref: e.ref,
      id: e.id,
      rule: e.rule,
      type: e.type,
      text: violationText(e.type, rules),
      state: e.state,
      stateText: stateText[e.state],
      atMs: Date.parse(e.at),
      userId: e.userId,
      userName: name(e.userId),
      canDispute: dispute.ok,
      disputeDeadlineMs: dispute.deadlineMs,
      canDecide: checkDecision(e, userId, heads).ok,
      history: e.history,
    };
  };

  const cardOf = async (leadId: number, userId: number) => {
    const nowMs = deps.clock.now().getTime();
    const [pickup, records, cadenceRaw, violations] = await Promise.all([
      createPickupStore(deps.redis, deps.keys).get(leadId),
      deps.records.forLead(leadId),
      deps.redis.hgetBuffer(deps.keys.lead(leadId), 'cadence'),
      deps.disputes()?.forLead(leadId) ?? Promise.resolve([]),
    ]);
    const given = records.filter((r) => r.kind === 'assignment' || r.kind === 'reassignment').pop();
    const explanation = given?.explanation as DistributionExplanation | undefined;
    const cadence = CadenceStateSchema.safeParse(decodeLeadField(cadenceRaw));
    const window = (dueAt: number | undefined): string | undefined => {
      if (dueAt === undefined) return undefined;
      return new Intl.DateTimeFormat('ru-RU', { timeZone: zone(), hour: '2-digit', minute: '2-digit' }).format(dueAt);
    };
    return {
      leadId,
      now: nowMs,
      user: { id: userId, name: name(userId) },
      pickup:
        pickup.phase === 'idle'
          ? null
          : {
              phase: pickup.phase,
              assignedUserId: pickup.assignedUserId,
              assignedName: name(pickup.assignedUserId),
              assignedAt: pickup.assignedAt,
              deadlineAt: pickup.deadlineAt,
              misses: pickup.misses,
              takenAt: pickup.takenAt,
            },
      why:
        explanation && Array.isArray(explanation.candidates)
          ? {
              department: explanation.department,
              winner: explanation.winner,
              text: explainChoice(explanation, name),
              candidates: explanation.candidates.map((c) => ({
                userId: c.userId,
                name: name(c.userId),
                weight: c.weight,
              })),
              skipped: explanation.skipped.map((s) => ({
                userId: s.userId,
                name: name(s.userId),
                reason: `${SKIP_TEXT[s.reason] ?? s.reason}${s.detail !== undefined ? ` (${s.detail})` : ''}`,
                code: s.reason,
              })),
            }
          : null,
      cadence: cadence.success
        ? {
            profile: cadence.data.profile,
            status: cadence.data.status,
            step: cadence.data.step,
            attempts: cadence.data.attempts.length,
            nextDueAt: cadence.data.openTask?.dueAt,
            window: window(cadence.data.openTask?.dueAt),
          }
        : null,
      violations: violations.map((v) => violationView(v, userId, nowMs)),
    };
  };

  const actor = (userId: number) => ({ userId, by: `${name(userId)} (виджет amoCRM)`, via: 'widget' as const });

  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      await scope.register(fastifyCors, {
        origin: deps.widget.origins,
        methods: ['GET', 'POST'],
        allowedHeaders: ['X-Auth-Token', 'Content-Type'],
        maxAge: 600,
      });
      scope.addHook('preHandler', async (req, res) => {
        if (req.method === 'OPTIONS') return;
        const refused = await authenticate(req, res);
        if (refused) return refused;
      });

      scope.get('/widget/api/leads/:leadId', async (req, res) => {
        const p = LeadParams.safeParse(req.params);
        if (!p.success)
          return res.code(400).send({ error: { code: 'bad_request', message: 'Неверный номер сделки.' } });
        return cardOf(p.data.leadId, req.widgetUserId!);
      });

      const change = async (
        req: FastifyRequest,
        res: FastifyReply,
        act: (d: Disputes, ref: string) => ReturnType<Disputes['dispute']>,
      ): Promise<FastifyReply> => {
        const p = RefParams.safeParse(req.params);
        if (!p.success) return res.code(404).send({ error: { code: 'not_found', message: 'Нарушение не найдено.' } });
        const d = deps.disputes();
        if (!d)
          return res.code(503).send({ error: { code: 'not_ready', message: 'Сервис запускается, повторите позже.' } });
        const out = await act(d, p.data.ref);
        if (!out.ok) return res.code(out.status).send({ error: { code: 'refused', message: out.text } });
        return res.send({
          ok: true,
          text: out.text,
          violation: violationView(out.entry, req.widgetUserId!, deps.clock.now().getTime()),
        });
      };

      scope.post('/widget/api/violations/:ref/dispute', async (req, res) => {
        const body = DisputeBody.safeParse(req.body);
        if (!body.success)
          return res.code(400).send({ error: { code: 'bad_request', message: 'Напишите причину текстом.' } });
        return change(req, res, (d, ref) => d.dispute(ref, actor(req.widgetUserId!), body.data.reason));
      });

      scope.post('/widget/api/violations/:ref/decide', async (req, res) => {
        const body = DecideBody.safeParse(req.body);
        if (!body.success)
          return res.code(400).send({ error: { code: 'bad_request', message: 'Выберите «Снять» или «Оставить».' } });
        return change(req, res, (d, ref) => d.decide(ref, actor(req.widgetUserId!), body.data.withdraw));
      });
    });
  };
}
