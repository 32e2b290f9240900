/**
 * Contesting a violation and deciding the dispute, the same whichever way a person comes (a Telegram button, the
 * widget in the amoCRM card, the admin page): the ledger's rules (src/rules/disputes/policy.ts) decide who may, the
 * ledger (src/store/violation-ledger.ts) changes the state atomically, and every step leaves a record (so
 * `lead:explain` and the reports see it) and a message: the РОП gets the manager's reason with the evidence and the
 * two buttons, the manager gets the decision. A refusal is recorded with the person and answered in Russian.
 */
import { DateTime } from 'luxon';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { ruDuration } from '../lib/ru-duration.js';
import { DEFAULT_DISPUTES, type CompiledDisputes } from '../rules/disputes/config.js';
import {
  checkDecision,
  checkDispute,
  MAX_REASON_CHARS,
  MIN_REASON_CHARS,
  type LedgerEntry,
  type LedgerVia,
  type ViolationEvidence,
} from '../rules/disputes/policy.js';
import { disputeTexts } from '../rules/disputes/texts.js';
import type { CompiledRules } from '../rules/types.js';
import type { OutboxMessage } from '../rules/plan.js';
import type { Outbox } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import type { ViolationLedger } from '../store/violation-ledger.js';
import { violationText } from '../telegram/templates/index.js';

/** The person acting: their amoCRM user id and how they read in the record. */
export interface Actor {
  userId: number;
  /** e.g. «Борис Кузнецов (Telegram 1002)». */
  by: string;
  via: LedgerVia;
}

export type DisputeOutcome =
  | { ok: true; entry: LedgerEntry; text: string }
  | { ok: false; status: 403 | 404 | 409 | 422; text: string; entry?: LedgerEntry };

export interface Disputes {
  config(): CompiledDisputes;
  /** Checks that the actor may contest now, without changing anything (Telegram asks for the reason after). */
  canDispute(ref: string, actor: Actor): Promise<DisputeOutcome>;
  dispute(ref: string, actor: Actor, reason: string): Promise<DisputeOutcome>;
  decide(ref: string, actor: Actor, withdraw: boolean): Promise<DisputeOutcome>;
  /** The violations of one lead, newest first. */
  forLead(leadId: number): Promise<LedgerEntry[]>;
  /** The evidence as lines people read. */
  evidenceLines(entry: LedgerEntry): string[];
}

export function createDisputes(deps: {
  ledger: ViolationLedger;
  records: RecordStore;
  outbox: Outbox;
  rules: () => CompiledRules | undefined;
  clock: Clock;
  logger: Logger;
}): Disputes {
  const log = deps.logger.child({ component: 'disputes' });
  const cfg = (): CompiledDisputes => deps.rules()?.disputes ?? DEFAULT_DISPUTES;
  const zone = (): string => deps.rules()?.timeZone ?? 'Europe/Moscow';
  const when = (ms: number): string => DateTime.fromMillis(ms, { zone: zone() }).toFormat('dd.MM.yyyy HH:mm');
  const name = (id: number | undefined): string =>
    id === undefined ? 'без ответственного' : (deps.rules()?.userNames.get(id) ?? `пользователь ${id}`);
  const headsOf = (userId: number): string[] =>
    (deps.rules()?.departments ?? [])
      .filter((d) => d.headUserId === userId || d.fallbackUserId === userId)
      .map((d) => d.name);

  const refuse = async (
    entry: LedgerEntry | undefined,
    ref: string,
    actor: Actor,
    what: string,
    why: string,
    status: 403 | 404 | 409 | 422,
    text: string,
  ): Promise<DisputeOutcome> => {
    const at = deps.clock.now().toISOString();
    await deps.records.append(
      {
        kind: 'action',
        at,
        leadId: entry?.leadId ?? 0,
        type: `violation_${what}_refused`,
        rule: entry?.rule ?? 'ledger',
        userId: actor.userId,
        ...(entry ? { violationId: entry.id } : {}),
        reason: `${what} of violation ${entry?.id ?? ref} refused (${why}): ${actor.by} via ${actor.via}`,
      },
      `ledger:refused:${ref}:${actor.userId}:${what}:${at}`,
    );
    log.info({ ref, userId: actor.userId, what, why, via: actor.via }, 'ledger: change refused');
    return { ok: false, status, text, ...(entry ? { entry } : {}) };
  };

  const evidenceLines = (entry: LedgerEntry): string[] => {
    const ev: ViolationEvidence | undefined = entry.evidence;
    const lines: string[] = [`правило ${entry.rule}${entry.seed ? `, ${entry.seed}` : ''}`];
    if (ev?.since)
      lines.push(`отсчёт с ${when(Date.parse(ev.since))}, решение робота ${when(Date.parse(ev.decidedAt))}`);
    for (const e of ev?.events ?? []) lines.push(`${when(Date.parse(e.at))}: ${e.what}`);
    const config = Object.entries(ev?.config ?? {})
      .filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
      .map(([k, v]) =>
        typeof v === 'number' && /Ms$/.test(k) ? `${k.replace(/Ms$/, '')} = ${ruDuration(v)}` : `${k} = ${String(v)}`,
      );
    if (config.length > 0) lines.push(`настройки в силе: ${config.join(', ')}`);
    lines.push(`запись робота: ${entry.reason}`);
    return lines;
  };

  /** A department's chat as the outbox addresses it (its configured Telegram chat, when it has one). */
  const departmentAudience = (department: string): OutboxMessage['audience'] => {
    const chatId = deps.rules()?.departments.find((d) => d.name === department)?.telegramChat;
    return { kind: 'department', department, ...(chatId ? { chatId } : {}) };
  };

  const load = async (ref: string): Promise<LedgerEntry | undefined> => deps.ledger.get(ref);

  const disputes: Disputes = {
    config: cfg,
    evidenceLines,

    async canDispute(ref, actor) {
      const entry = await load(ref);
      if (!entry) return refuse(undefined, ref, actor, 'dispute', 'no such violation', 404, 'Нарушение не найдено.');
      const check = checkDispute(entry, actor.userId, cfg(), deps.clock.now().getTime());
      if (!check.ok)
        return refuse(
          entry,
          ref,
          actor,
          'dispute',
          check.why,
          check.why === 'not_open' ? 409 : 403,
          disputeTexts.refused(check.why, cfg(), when(check.deadlineMs), entry.state),
        );
      return {
        ok: true,
        entry,
        text: disputeTexts.ask(
          violationText(entry.type, deps.rules()),
          entry.leadId,
          entry.department,
          when(check.deadlineMs),
        ),
      };
    },

    async dispute(ref, actor, reason) {
      const text = reason.trim().slice(0, MAX_REASON_CHARS);
      const allowed = await disputes.canDispute(ref, actor);
      if (!allowed.ok) return allowed;
      const entry = allowed.entry;
      if (text.length < MIN_REASON_CHARS) return { ok: false, status: 422, text: disputeTexts.reasonTooShort, entry };
      const nowMs = deps.clock.now().getTime();
      const at = new Date(nowMs).toISOString();
      const changed = await deps.ledger.change(ref, ['open'], {
        state: 'disputed',
        at,
        by: actor.by,
        byUserId: actor.userId,
        via: actor.via,
        note: text,
      });
      if (!changed.ok)
        return refuse(
          changed.why === 'state' ? changed.entry : entry,
          ref,
          actor,
          'dispute',
          'changed meanwhile',
          409,
          disputeTexts.refused(
            'not_open',
            cfg(),
            when(nowMs),
            changed.why === 'state' ? changed.entry.state : undefined,
          ),
        );
      const decideBy = nowMs + cfg().decideWithinMs;
      await deps.records.append(
        {
          kind: 'action',
          type: 'violation_disputed',
          rule: entry.rule,
          at,
          leadId: entry.leadId,
          userId: actor.userId,
          violationId: entry.id,
          ...(entry.department !== undefined ? { department: entry.department } : {}),
          reason: `disputed by ${actor.by} via ${actor.via}: «${text}»; the РОП decides by ${new Date(decideBy).toISOString()}`,
        },
        `ledger:disputed:${ref}`,
      );
      if (entry.department !== undefined) {
        await deps.outbox.push(
          {
            at,
            audience: departmentAudience(entry.department),
            template: 'violation_disputed',
            params: {
              ref,
              violationId: entry.id,
              type: entry.type,
              leadId: entry.leadId,
              userId: entry.userId ?? 0,
              reason: text,
              evidence: evidenceLines(entry),
              decideBy: when(decideBy),
            },
            leadId: entry.leadId,
            reason: `violation ${entry.id} disputed by its manager; the РОП decides`,
          },
          `ledger:disputed:${ref}`,
        );
      }
      log.info({ ref, violationId: entry.id, userId: actor.userId, via: actor.via }, 'ledger: violation disputed');
      return { ok: true, entry: changed.entry, text: disputeTexts.sent(entry.leadId) };
    },

    async decide(ref, actor, withdraw) {
      const what = withdraw ? 'withdraw' : 'uphold';
      const entry = await load(ref);
      if (!entry) return refuse(undefined, ref, actor, what, 'no such violation', 404, 'Нарушение не найдено.');
      const check = checkDecision(entry, actor.userId, headsOf(actor.userId));
      if (!check.ok)
        return refuse(
          entry,
          ref,
          actor,
          what,
          check.why,
          check.why === 'not_disputed' ? 409 : 403,
          disputeTexts.decisionRefused(check.why, entry.state),
        );
      const nowMs = deps.clock.now().getTime();
      const at = new Date(nowMs).toISOString();
      const changed = await deps.ledger.change(ref, ['disputed'], {
        state: withdraw ? 'withdrawn' : 'upheld',
        at,
        by: actor.by,
        byUserId: actor.userId,
        via: actor.via,
      });
      if (!changed.ok) {
        const now = changed.why === 'state' ? changed.entry : entry;
        return refuse(
          now,
          ref,
          actor,
          what,
          'decided meanwhile',
          409,
          disputeTexts.decisionRefused('not_disputed', now.state),
        );
      }
      const head = name(actor.userId);
      await deps.records.append(
        {
          kind: 'action',
          type: withdraw ? 'violation_withdrawn' : 'violation_upheld',
          rule: entry.rule,
          at,
          leadId: entry.leadId,
          ...(entry.userId !== undefined ? { userId: entry.userId } : {}),
          violationId: entry.id,
          ...(entry.department !== undefined ? { department: entry.department } : {}),
          reason: `${withdraw ? 'withdrawn' : 'upheld'} by ${actor.by} via ${actor.via}`,
        },
        `ledger:decided:${ref}`,
      );
      const params = {
        ref,
        violationId: entry.id,
        type: entry.type,
        leadId: entry.leadId,
        userId: entry.userId ?? 0,
        withdrawn: withdraw,
        head,
        decidedAt: when(nowMs),
      };
      if (entry.department !== undefined)
        await deps.outbox.push(
          {
            at,
            audience: departmentAudience(entry.department),
            template: 'violation_decided',
            params,
            leadId: entry.leadId,
            reason: `dispute of ${entry.id} decided by the РОП`,
          },
          `ledger:decided:${ref}:department`,
        );
      if (entry.userId !== undefined)
        await deps.outbox.push(
          {
            at,
            audience: { kind: 'manager', userId: entry.userId },
            template: 'violation_decided',
            params,
            leadId: entry.leadId,
            reason: `the manager is told the decision on ${entry.id}`,
          },
          `ledger:decided:${ref}:manager`,
        );
      log.info({ ref, violationId: entry.id, by: actor.userId, withdrawn: withdraw }, 'ledger: dispute decided');
      return {
        ok: true,
        entry: changed.entry,
        text: disputeTexts.decidedLine(withdraw, head, when(nowMs)),
      };
    },

    async forLead(leadId) {
      const ids = [
        ...new Set(
          (await deps.records.forLead(leadId))
            .filter((r) => r.kind === 'violation' && r.violationId !== undefined)
            .map((r) => r.violationId!),
        ),
      ];
      const entries = await Promise.all(ids.map((id) => deps.ledger.byId(id)));
      return entries.filter((e): e is LedgerEntry => e !== undefined).sort((a, b) => b.at.localeCompare(a.at));
    },
  };
  return disputes;
}
