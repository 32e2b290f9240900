/**
 * The simulator's control API under `/__sim/`, on the simulator's own port: the fault controls, the audit log, the
 * account's state and simulated people, for a harness running in another process (the chaos suite). Never part of
 * amoCRM's API: no auth, no rate limit, not counted in the request statistics. Bodies are parsed with zod.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Account } from './account.js';
import type { AuditLog } from './audit.js';
import {
  FaultRuleInputSchema,
  KillHookInputSchema,
  LatencySchema,
  OutageSchema,
  type FaultController,
} from './faults.js';
import type { WebhookSender } from './webhooks.js';

export interface ControlDeps {
  faults: FaultController;
  audit: AuditLog;
  account: () => Account;
  stats: () => unknown;
  issueAuthCode: () => string;
  webhooks: WebhookSender;
}

const CreateLeadsSchema = z.object({
  count: z.number().int().min(1).max(1000).default(1),
  stage: z.string(),
  name: z.string().default('Заявка'),
  /** Who creates them: amoCRM's robot (0) by default, as a form or an ad integration does. */
  by: z.number().int().default(0),
  tags: z.array(z.string()).optional(),
});
const CallSchema = z.object({
  leadId: z.number().int(),
  userId: z.number().int(),
  durationSec: z.number().int().min(0).default(60),
});
const MoveSchema = z.object({ leadId: z.number().int(), userId: z.number().int(), stage: z.string() });
const ResponsibleSchema = z.object({ leadId: z.number().int(), userId: z.number().int(), toUserId: z.number().int() });

function parse<T>(schema: z.ZodType<T>, body: unknown, res: FastifyReply): T | undefined {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  void res
    .code(400)
    .send({ error: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') });
  return undefined;
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { faults, audit } = deps;

  app.get('/__sim/faults', async () => faults.state());
  app.post('/__sim/faults/rules', async (req, res) => {
    const input = parse(FaultRuleInputSchema, req.body, res);
    return input ? { id: faults.addRule(input) } : res;
  });
  app.delete<{ Params: { id: string } }>('/__sim/faults/rules/:id', async (req) => ({
    removed: faults.removeRule(req.params.id),
  }));
  app.post('/__sim/faults/latency', async (req, res) => {
    const input = parse(LatencySchema, req.body, res);
    if (!input) return res;
    faults.setLatency(input);
    return { ok: true };
  });
  app.post('/__sim/faults/outage', async (req, res) => {
    const input = parse(OutageSchema, req.body, res);
    if (!input) return res;
    faults.startOutage(input.seconds, input.action);
    return { ok: true, until: faults.state().outageUntil };
  });
  app.delete('/__sim/faults/outage', async () => {
    faults.endOutage();
    return { ok: true };
  });
  app.post('/__sim/faults/expire-tokens', async () => {
    faults.expireTokens();
    return { ok: true };
  });
  app.post('/__sim/faults/kill-hooks', async (req, res) => {
    const input = parse(KillHookInputSchema, req.body, res);
    return input ? { id: faults.addKillHook(input) } : res;
  });
  app.post('/__sim/faults/clear', async () => {
    faults.clear();
    return { ok: true };
  });

  app.get<{ Querystring: { since?: string } }>('/__sim/audit', async (req) => ({
    entries: audit.since(Number(req.query.since ?? 0) || 0),
  }));

  app.get<{ Querystring: { parts?: string } }>('/__sim/state', async (req) => {
    const account = deps.account();
    // `?parts=leads`: only the leads, for harnesses that poll often.
    if (req.query.parts === 'leads') return { leads: [...account.leads.values()] };
    return {
      leads: [...account.leads.values()],
      notes: [...account.notes.values()],
      tasks: [...account.tasks.values()],
      events: account.events,
      stats: deps.stats(),
    };
  });

  // Simulated people: what managers and lead sources do in amoCRM (never through the integration's API).
  app.post('/__sim/people/leads', async (req, res) => {
    const input = parse(CreateLeadsSchema, req.body, res);
    if (!input) return res;
    const account = deps.account();
    const statusId = account.statusByName(input.stage).id;
    const ids = Array.from(
      { length: input.count },
      (_, i) =>
        account.createLead({
          name: input.count > 1 ? `${input.name} ${i + 1}` : input.name,
          statusId,
          by: input.by,
          ...(input.tags ? { tags: input.tags } : {}),
        }).id,
    );
    return { ids };
  });
  app.post('/__sim/people/call', async (req, res) => {
    const input = parse(CallSchema, req.body, res);
    if (!input) return res;
    const note = deps.account().addNote({
      leadId: input.leadId,
      noteType: 'call_out',
      params: {
        uniq: `call-${input.leadId}-${input.userId}-${Date.now()}`,
        duration: input.durationSec,
        phone: '+7 999 000-00-00',
        source: 'chaos',
        call_status: 4,
      },
      by: input.userId,
    });
    return { noteId: note.id };
  });
  app.post('/__sim/people/move', async (req, res) => {
    const input = parse(MoveSchema, req.body, res);
    if (!input) return res;
    const account = deps.account();
    account.updateLead(input.leadId, { statusId: account.statusByName(input.stage).id }, input.userId);
    return { ok: true };
  });
  app.post('/__sim/people/responsible', async (req, res) => {
    const input = parse(ResponsibleSchema, req.body, res);
    if (!input) return res;
    deps.account().updateLead(input.leadId, { responsibleUserId: input.toUserId }, input.userId);
    return { ok: true };
  });
  app.post('/__sim/oauth/code', async () => ({ code: deps.issueAuthCode() }));
  app.post('/__sim/webhooks/flush', async () => {
    await deps.webhooks.flush();
    return { ok: true, stats: deps.webhooks.stats() };
  });
}
