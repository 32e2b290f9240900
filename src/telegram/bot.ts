/**
 * The bot people talk to: linking by a one-time deep link (`/start <code>`), the inline buttons under alerts
 * ("Взял в работу", "Переназначить", "Приостановить приём заявок" / "Возобновить") and the commands `/today`,
 * `/violations`, `/report`. Only linked users and the departments' configured chats get answers; anyone else gets
 * one polite refusal. Every button acts through the injected rule interfaces and is recorded with who pressed it.
 */
import { Bot, type Context } from 'grammy';
import type { Redis } from 'ioredis';
import { DateTime } from 'luxon';
import type { AmoClient } from '../amocrm/api/client.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { CompiledDepartment, CompiledRules } from '../rules/types.js';
import type { Keys } from '../store/keys.js';
import type { Outbox } from '../store/outbox.js';
import type { RecordStore, StoredRecord } from '../store/record-store.js';
import { MIN_REASON_CHARS } from '../rules/disputes/policy.js';
import { escapeHtml, splitMessage } from './html.js';
import type { LinkStore } from './links.js';
import { botText, buttons, formatWhen, unfactorButtons, violationText } from './templates/index.js';

/** Why a «Переназначить» changed nothing (the pickup rule's answer, or the lead is gone from amoCRM). */
export type ReassignRefusal =
  'disabled' | 'not_in_stage' | 'pinned' | 'taken' | 'no_clock' | 'not_found' | 'not_your_department';
export type ReassignOutcome = { changed: true; toUserId?: number } | { changed: false; why: ReassignRefusal };

/** What the pickup rule offers the bot (the lead wires it to R1). */
export interface PickupActions {
  /** Whether the pickup rule now counts the lead as taken (its clock stopped, now or before). */
  takenByButton(leadId: number, userId: number): Promise<boolean>;
  reassign(leadId: number, byUserId: number | undefined): Promise<ReassignOutcome>;
}

export type IntakeTarget = { kind: 'manager'; userId: number } | { kind: 'department'; department: string };

/** Pausing and resuming a manager's (or a department's) intake of leads (R2, seed 002 §2.13). */
export interface IntakeActions {
  pause(target: IntakeTarget, options: { by: number | undefined; reason: string }): Promise<void>;
  resume(target: IntakeTarget, options: { by: number | undefined }): Promise<void>;
}

/** R11's weight factors as the РОП's undo button needs them (the reports module wires it). */
export interface RankingActions {
  /** The factors of the month they apply to (YYYY-MM), reverted ones included. */
  factors(month: string, department: string): Promise<Array<{ userId: number; revertedBy?: string | undefined }>>;
  revert(month: string, userId: number, by: string): Promise<{ reverted: boolean; reason: string }>;
  /** The ranking message's part with the undo buttons, as it reads now. */
  tail(
    department: string,
    month: string,
  ): Promise<{ html: string; month: string; revertable: Array<{ userId: number; name: string }> } | undefined>;
}

/** Reports in HTML (R12); the reports module provides it, a default from the record stands in without it. */
export interface ReportsPort {
  report(input: { department?: string; from: Date; to: Date }): Promise<string>;
  ranking?: RankingActions;
}

/** Contesting violations (src/ledger/disputes.ts wires it): the answers are Russian texts for the person. */
export interface DisputeActions {
  canDispute(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
  ): Promise<{ ok: boolean; text: string }>;
  dispute(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
    reason: string,
  ): Promise<{ ok: boolean; text: string }>;
  decide(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
    withdraw: boolean,
  ): Promise<{ ok: boolean; text: string }>;
}

/** How long the bot waits for the reason after «Оспорить». */
export const DISPUTE_REASON_TTL_SECONDS = 3600;

export interface BotDeps {
  bot: Bot;
  redis: Redis;
  keys: Keys;
  links: LinkStore;
  rules: () => CompiledRules | undefined;
  clock: Clock;
  logger: Logger;
  records: RecordStore;
  outbox?: Outbox;
  leadUrl: (leadId: number) => string;
  amo?: Pick<AmoClient, 'getLead' | 'listEvents'>;
  pickup?: PickupActions;
  intake?: IntakeActions;
  disputes?: DisputeActions;
  reports: ReportsPort;
}

/** amoCRM event types that show a lead was taken, per the R1 `takenBy` setting. */
const EVIDENCE: Record<string, string> = {
  outgoing_call: 'outgoing_call',
  note: 'common_note_added',
  task_completed: 'task_completed',
};

type Who =
  | { kind: 'manager'; userId: number; department?: CompiledDepartment }
  | { kind: 'head'; userId: number; department: CompiledDepartment };

export function installBot(deps: BotDeps): Bot {
  const { bot } = deps;
  const log = deps.logger.child({ component: 'telegram-bot' });
  const zone = (): string => deps.rules()?.timeZone ?? 'Europe/Moscow';
  const name = (id: number): string => deps.rules()?.userNames.get(id) ?? `пользователь ${id}`;
  const departments = (): CompiledDepartment[] => deps.rules()?.departments ?? [];
  const deptOfManager = (userId: number): CompiledDepartment | undefined =>
    departments().find((d) => d.managers.some((m) => m.userId === userId));

  /**
   * Who is acting, by the Telegram user who wrote or pressed (never by the chat alone): the linked head or fallback of
   * a department is its РОП, a linked manager is a manager. In a department's chat, a member who is neither is
   * nobody we serve: they get one polite refusal, and their presses change nothing.
   */
  const who = async (ctx: Context): Promise<Who | undefined> => {
    const chatId = ctx.chat?.id !== undefined ? String(ctx.chat.id) : undefined;
    if (chatId === undefined) return undefined;
    const isPrivate = ctx.chat?.type === 'private';
    // In a private chat the chat is the person (linked by /start <code>); in a group, the sender's own private link.
    const userId =
      ctx.from?.id !== undefined
        ? await deps.links.userOf(String(ctx.from.id))
        : isPrivate
          ? await deps.links.userOf(chatId)
          : undefined;
    if (userId === undefined) return undefined;
    const deptChat = departments().find((d) => d.telegramChat === chatId);
    const headOf =
      (deptChat && (deptChat.headUserId === userId || deptChat.fallbackUserId === userId) ? deptChat : undefined) ??
      departments().find((d) => d.headUserId === userId || d.fallbackUserId === userId);
    if (headOf) return { kind: 'head', userId, department: headOf };
    const dept = deptOfManager(userId);
    if (dept || isPrivate) return { kind: 'manager', userId, ...(dept ? { department: dept } : {}) };
    return undefined;
  };

  /** A refused press or message, in the record with the person: who tried what, where. */
  const recordRefusal = async (ctx: Context, what: string): Promise<void> => {
    const at = deps.clock.now().toISOString();
    const from = ctx.from
      ? `Telegram ${ctx.from.id}${ctx.from.username ? ` @${ctx.from.username}` : ''}`
      : 'Telegram (unknown sender)';
    await deps.records.append(
      {
        kind: 'action',
        at,
        leadId: 0,
        type: 'telegram_refused',
        rule: 'telegram',
        reason: `${what} refused: ${from} in chat ${ctx.chat?.id ?? '?'} is neither a linked manager nor the head of sales`,
      },
      `tg:refused:${ctx.chat?.id ?? ''}:${ctx.from?.id ?? ''}:${what}:${at}`,
    );
  };

  /** One polite refusal per person and chat (a group has many members; a stranger is told once, then left be). */
  const refuseOnce = async (ctx: Context): Promise<void> => {
    const chatId = ctx.chat?.id;
    if (chatId === undefined) return;
    const first = await deps.redis.set(deps.keys.tagged('tg', 'refused', chatId, ctx.from?.id ?? 'chat'), '1', 'NX');
    if (first === 'OK') {
      await ctx.reply(botText.refusal);
      await recordRefusal(ctx, 'message');
    }
    log.info({ chatId, fromId: ctx.from?.id }, 'telegram: message from someone who is not linked; refused');
  };

  const record = async (
    kind: 'action',
    leadId: number,
    type: string,
    userId: number | undefined,
    by: string,
    reason: string,
  ): Promise<void> => {
    const at = deps.clock.now().toISOString();
    await deps.records.append(
      {
        kind,
        at,
        leadId,
        type,
        rule: 'telegram',
        ...(userId !== undefined ? { userId } : {}),
        reason: `${reason} (pressed by ${by})`,
      },
      `tg:${type}:${leadId}:${userId ?? ''}:${at}`,
    );
  };

  const presser = (ctx: Context, w: Who): string => {
    const userId = w.userId;
    const tg = ctx.from ? `Telegram ${ctx.from.id}${ctx.from.username ? ` @${ctx.from.username}` : ''}` : 'Telegram';
    return userId !== undefined ? `${name(userId)} (${tg})` : tg;
  };

  const dayBounds = (): { from: Date; to: Date } => {
    const now = DateTime.fromJSDate(deps.clock.now(), { zone: zone() });
    return { from: now.startOf('day').toJSDate(), to: now.toJSDate() };
  };

  const replyHtml = async (ctx: Context, html: string): Promise<void> => {
    for (const part of splitMessage(html))
      await ctx.reply(part, { parse_mode: 'HTML', link_preview_options: { is_disabled: true } });
  };

  bot.command('start', async (ctx) => {
    const code = (ctx.match ?? '').trim();
    const chatId = String(ctx.chat.id);
    if (code !== '' && ctx.chat.type !== 'private') {
      // A link names one person: used in a group it would make every member that person. The code stays unused.
      await recordRefusal(ctx, 'linking in a group chat');
      await ctx.reply(botText.linkPrivateOnly);
      return;
    }
    if (code !== '') {
      const user = await deps.links.consume(code, chatId);
      if (user) {
        log.info({ chatId, userId: user.userId }, 'telegram: chat linked to an amoCRM user');
        await deps.records.append(
          {
            kind: 'action',
            at: deps.clock.now().toISOString(),
            leadId: 0,
            type: 'telegram_linked',
            rule: 'telegram',
            userId: user.userId,
            reason: `Telegram chat ${chatId} linked by a one-time link`,
          },
          `tg:linked:${user.userId}:${chatId}:${code}`,
        );
        await ctx.reply(botText.linked(user.name), { parse_mode: 'HTML' });
        return;
      }
      if ((await who(ctx)) === undefined) {
        await ctx.reply(botText.badCode);
        return;
      }
    }
    const w = await who(ctx);
    if (!w) return refuseOnce(ctx);
    await ctx.reply(botText.help);
  });

  bot.command('today', async (ctx) => {
    const w = await who(ctx);
    if (!w) return refuseOnce(ctx);
    const { from, to } = dayBounds();
    if (w.kind === 'head')
      return replyHtml(ctx, await deps.reports.report({ department: w.department.name, from, to }));
    const rules = deps.rules();
    const records = (await deps.records.range(from.toISOString(), to.toISOString())).filter((r) => r.leadId > 0);
    const mine = new Map<number, StoredRecord[]>();
    for (const r of records) mine.set(r.leadId, [...(mine.get(r.leadId) ?? []), r]);
    const lines: string[] = [];
    for (const [leadId, rs] of mine) {
      const given = rs
        .filter((r) => (r.kind === 'assignment' || r.kind === 'reassignment') && r.userId === w.userId)
        .pop();
      if (!given) continue;
      const later = rs.filter((r) => r.at > given.at || r === given);
      const away = later.some((r) => (r.kind === 'reassignment' || r.kind === 'fallback') && r.userId !== w.userId);
      const taken = later.some((r) => r.kind === 'pickup_taken');
      // The deadline the running rules give; a process without them (web only) says only that it waits.
      const deadline = rules ? Date.parse(given.at) + rules.pickup.timeoutMs : undefined;
      const state = away
        ? '↪️ передан другому'
        : taken
          ? '✅ взят в работу'
          : deadline !== undefined
            ? `⏳ взять до ${formatWhen(deadline, zone())}`
            : '⏳ ещё не взят';
      lines.push(
        `• <a href="${escapeHtml(deps.leadUrl(leadId))}">№${leadId}</a> — получен ${formatWhen(given.at, zone())}: ${state}`,
      );
    }
    await replyHtml(
      ctx,
      [botText.todayHeader(name(w.userId)), ...(lines.length ? lines : [botText.nothing])].join('\n'),
    );
  });

  bot.command('violations', async (ctx) => {
    const w = await who(ctx);
    if (!w) return refuseOnce(ctx);
    const { from, to } = dayBounds();
    const members = new Set(w.kind === 'head' ? w.department.managers.map((m) => m.userId) : [w.userId]);
    const rules = deps.rules();
    const list = (await deps.records.range(from.toISOString(), to.toISOString())).filter(
      (r) => r.kind === 'violation' && r.userId !== undefined && members.has(r.userId),
    );
    const lines = list.map(
      (r) =>
        `• ${formatWhen(r.at, zone())} — ${escapeHtml(violationText(r.type ?? '', rules))}: ${escapeHtml(name(r.userId!))}, <a href="${escapeHtml(deps.leadUrl(r.leadId))}">№${r.leadId}</a> (${escapeHtml(r.rule)}${r.seed ? `, ${escapeHtml(r.seed)}` : ''})`,
    );
    const title = w.kind === 'head' ? w.department.name : name(w.userId);
    await replyHtml(ctx, [botText.violationsHeader(title), ...(lines.length ? lines : [botText.nothing])].join('\n'));
  });

  bot.command('report', async (ctx) => {
    const w = await who(ctx);
    if (!w) return refuseOnce(ctx);
    const { from, to } = dayBounds();
    const department = w.kind === 'head' ? w.department.name : w.department?.name;
    await replyHtml(ctx, await deps.reports.report({ ...(department !== undefined ? { department } : {}), from, to }));
  });

  bot.callbackQuery(/^(take|reassign|pause|resume):(\d+)$/, async (ctx) => {
    const w = await who(ctx);
    if (!w) {
      await recordRefusal(ctx, `button ${ctx.match[0]}`);
      await ctx.answerCallbackQuery({ text: botText.refusal, show_alert: true });
      return;
    }
    const action = ctx.match[1] as 'take' | 'reassign' | 'pause' | 'resume';
    const id = Number(ctx.match[2]);
    // A button whose rule interface is not wired must not pretend it worked.
    if ((action === 'take' || action === 'reassign') && !deps.pickup) return unavailable(ctx, action);
    if ((action === 'pause' || action === 'resume') && !deps.intake) return unavailable(ctx, action);
    const by = presser(ctx, w);
    try {
      if (action === 'take') {
        if (w.kind !== 'manager') {
          await ctx.answerCallbackQuery({ text: botText.notYours, show_alert: true });
          return;
        }
        const verdict = await evidence(id, w.userId);
        if (verdict.kind === 'not_yours') {
          await ctx.answerCallbackQuery({ text: botText.notYours, show_alert: true });
          return;
        }
        if (verdict.kind === 'missing') {
          await record(
            'action',
            id,
            'telegram_take_refused',
            w.userId,
            by,
            'pressed "taken" without an outgoing call or note after the assignment',
          );
          await ctx.answerCallbackQuery({
            text: botText.takenMissing(verdict.since).replace(/<[^>]+>/g, ''),
            show_alert: true,
          });
          return;
        }
        // The pickup rule decides, with amoCRM's evidence read again; its "taken" edits the incident's messages.
        const taken = await deps.pickup!.takenByButton(id, w.userId);
        if (!taken) {
          await record(
            'action',
            id,
            'telegram_take_refused',
            w.userId,
            by,
            'pressed "taken"; the pickup rule has no running clock of this manager to stop',
          );
          await ctx.answerCallbackQuery({ text: botText.takenNoClock, show_alert: true });
          return;
        }
        await record('action', id, 'telegram_taken', w.userId, by, `taken into work (${verdict.evidence})`);
        await ctx.answerCallbackQuery({ text: botText.takenOk });
        return;
      }
      if (w.kind !== 'head') {
        await record(
          'action',
          id,
          `telegram_${action}_refused`,
          w.userId,
          by,
          'a head-of-sales button pressed by a manager',
        );
        await ctx.answerCallbackQuery({ text: botText.onlyHead, show_alert: true });
        return;
      }
      if ((action === 'pause' || action === 'resume') && !w.department.managers.some((m) => m.userId === id)) {
        await record(
          'action',
          0,
          `telegram_${action}_refused`,
          id,
          by,
          `the manager is not in ${w.department.name}, the presser's department`,
        );
        await ctx.answerCallbackQuery({ text: botText.notYourDepartment, show_alert: true });
        return;
      }
      if (action === 'reassign') {
        const outcome = await deps.pickup!.reassign(id, w.userId);
        if (!outcome.changed) {
          await record(
            'action',
            id,
            'telegram_reassign_refused',
            undefined,
            by,
            `reassignment requested by the head of sales; nothing changed (${outcome.why})`,
          );
          await ctx.answerCallbackQuery({ text: botText.reassignRefused(id, outcome.why), show_alert: true });
          return;
        }
        const to = outcome.toUserId;
        await record(
          'action',
          id,
          'telegram_reassign',
          to,
          by,
          `reassigned by the head of sales${to !== undefined ? ` to ${name(to)}` : ''}`,
        );
        await ctx.answerCallbackQuery({
          text: to !== undefined ? botText.reassigned(id, name(to)) : botText.reassignedNobody(id),
        });
        return;
      }
      const target: IntakeTarget = { kind: 'manager', userId: id };
      if (action === 'pause') {
        await deps.intake?.pause(target, { by: w.userId, reason: 'приостановлено РОПом через Telegram' });
        // The intake store records the pause itself (intake_paused); this is the record of the button press.
        await record('action', 0, 'telegram_pause', id, by, 'intake paused by the head of sales');
        await ctx.answerCallbackQuery({ text: botText.paused(name(id)) });
        await ctx.reply(botText.paused(name(id)), {
          parse_mode: 'HTML',
          reply_markup: {
            inline_keyboard: [
              [{ text: buttons.resume(id, name(id)).text, callback_data: buttons.resume(id, name(id)).data }],
            ],
          },
        });
        return;
      }
      await deps.intake?.resume(target, { by: w.userId });
      await record('action', 0, 'telegram_resume', id, by, 'intake resumed by the head of sales');
      await ctx.answerCallbackQuery({ text: botText.resumed(name(id)) });
      await ctx.reply(botText.resumed(name(id)), { parse_mode: 'HTML' });
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, action, id }, 'telegram: button action failed');
      await ctx.answerCallbackQuery({ text: botText.failed, show_alert: true }).catch(() => undefined);
    }
  });

  // R11: the РОП of the department undoes a manager's lowered weight; the ranking message shows it, in place.
  bot.callbackQuery(/^unfactor:(\d{4}-\d{2}):(\d+)$/, async (ctx) => {
    const w = await who(ctx);
    if (!w) {
      await recordRefusal(ctx, `button ${ctx.match[0]}`);
      await ctx.answerCallbackQuery({ text: botText.refusal, show_alert: true });
      return;
    }
    const ranking = deps.reports.ranking;
    if (!ranking) return unavailable(ctx, 'unfactor');
    const month = ctx.match[1]!;
    const userId = Number(ctx.match[2]);
    try {
      if (w.kind !== 'head') {
        await ctx.answerCallbackQuery({ text: botText.onlyHead, show_alert: true });
        return;
      }
      // Only the factors of the presser's own department: another РОП's press finds nothing to undo.
      const factor = (await ranking.factors(month, w.department.name)).find((f) => f.userId === userId);
      if (!factor) {
        await ctx.answerCallbackQuery({ text: botText.factorMissing, show_alert: true });
        return;
      }
      const result =
        factor.revertedBy === undefined
          ? await ranking.revert(month, userId, presser(ctx, w))
          : { reverted: false, reason: factor.revertedBy };
      log.info({ month, userId, reverted: result.reverted, by: w.userId }, 'telegram: weight factor undo pressed');
      await ctx.answerCallbackQuery({
        text: result.reverted
          ? botText.factorReverted(name(userId))
          : botText.factorAlreadyReverted(name(userId), factor.revertedBy ?? result.reason),
        show_alert: !result.reverted,
      });
      const tail = await ranking.tail(w.department.name, month);
      if (!tail) return;
      const keyboard = unfactorButtons(tail.month, tail.revertable).map((row) =>
        row.map((b) => ({ text: b.text, callback_data: b.data })),
      );
      await ctx
        .editMessageText(tail.html, {
          parse_mode: 'HTML',
          link_preview_options: { is_disabled: true },
          ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
        })
        .catch((err: unknown) => {
          if (!/message is not modified/i.test((err as Error).message)) throw err;
        });
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, month, userId }, 'telegram: weight factor undo failed');
      await ctx.answerCallbackQuery({ text: botText.failed, show_alert: true }).catch(() => undefined);
    }
  });

  // The ledger: a manager contests their violation (the reason comes as the next private message), the РОП decides.
  const pendingReason = (fromId: number): string => deps.keys.tagged('tg', 'dispute-reason', fromId);
  bot.callbackQuery(/^(dispute|withdraw|uphold):([0-9a-f]{16})$/, async (ctx) => {
    const w = await who(ctx);
    if (!w) {
      await recordRefusal(ctx, `button ${ctx.match[0]}`);
      await ctx.answerCallbackQuery({ text: botText.refusal, show_alert: true });
      return;
    }
    if (!deps.disputes) return unavailable(ctx, ctx.match[1]!);
    const action = ctx.match[1] as 'dispute' | 'withdraw' | 'uphold';
    const ref = ctx.match[2]!;
    const actor = { userId: w.userId, by: presser(ctx, w), via: 'telegram' as const };
    try {
      if (action === 'dispute') {
        const allowed = await deps.disputes.canDispute(ref, actor);
        if (!allowed.ok || ctx.from === undefined) {
          await ctx.answerCallbackQuery({ text: allowed.text.slice(0, 200), show_alert: true });
          return;
        }
        // The reason is asked for in the person's private chat: a group would show it to everyone.
        await deps.redis.set(pendingReason(ctx.from.id), ref, 'EX', DISPUTE_REASON_TTL_SECONDS);
        await ctx.answerCallbackQuery();
        await ctx.api.sendMessage(ctx.from.id, allowed.text, { reply_markup: { force_reply: true } });
        return;
      }
      const decided = await deps.disputes.decide(ref, actor, action === 'withdraw');
      await ctx.answerCallbackQuery({ text: decided.text.slice(0, 200), show_alert: !decided.ok });
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, action, ref }, 'telegram: dispute button failed');
      await ctx.answerCallbackQuery({ text: botText.failed, show_alert: true }).catch(() => undefined);
    }
  });

  const unavailable = async (ctx: Context, action: string): Promise<void> => {
    log.warn({ action }, 'telegram: a button was pressed whose rule interface is not wired; nothing done');
    await ctx.answerCallbackQuery({ text: botText.unavailable, show_alert: true });
  };

  /** R1: a press counts only with the evidence the rule accepts, by this manager, after the lead was given to them. */
  const evidence = async (
    leadId: number,
    userId: number,
  ): Promise<{ kind: 'ok'; evidence: string } | { kind: 'missing'; since: string } | { kind: 'not_yours' }> => {
    const lead = deps.amo ? await deps.amo.getLead(leadId, 'sla') : null;
    if (deps.amo && lead?.responsible_user_id !== userId) return { kind: 'not_yours' };
    const given = (await deps.records.forLead(leadId))
      .filter((r) => (r.kind === 'assignment' || r.kind === 'reassignment') && r.userId === userId)
      .pop();
    const since = given ? Date.parse(given.at) : 0;
    const takenBy = deps.rules()?.pickup.takenBy ?? new Set(['outgoing_call', 'note']);
    const types = [...takenBy].map((t) => EVIDENCE[t]).filter((t): t is string => t !== undefined);
    const events = deps.amo
      ? await deps.amo.listEvents(
          { entityType: 'lead', entityIds: [leadId], types, createdFrom: Math.floor(since / 1000) },
          'sla',
        )
      : [];
    const mine = events.find((e) => e.created_by === userId && e.created_at * 1000 >= since);
    if (mine) return { kind: 'ok', evidence: mine.type };
    return { kind: 'missing', since: formatWhen(since, zone()) };
  };

  // Anything else from an unknown chat gets the one refusal; from a known one, the list of commands.
  bot.on('message', async (ctx) => {
    const w = await who(ctx);
    if (!w) return refuseOnce(ctx);
    if (ctx.chat.type !== 'private') return;
    // The reason of a dispute started with «Оспорить»: the next text in the private chat.
    const text = ctx.message.text;
    if (deps.disputes && text !== undefined && !text.startsWith('/') && ctx.from !== undefined) {
      const ref = await deps.redis.getdel(pendingReason(ctx.from.id));
      if (ref !== null) {
        const result = await deps.disputes.dispute(
          ref,
          { userId: w.userId, by: presser(ctx, w), via: 'telegram' },
          text,
        );
        // A reason too short keeps the dispute open for another try.
        if (!result.ok && text.trim().length < MIN_REASON_CHARS)
          await deps.redis.set(pendingReason(ctx.from.id), ref, 'EX', DISPUTE_REASON_TTL_SECONDS);
        await ctx.reply(result.text);
        return;
      }
    }
    await ctx.reply(botText.help);
  });

  bot.catch((err) =>
    log.error({ err: { message: err.message }, update: err.ctx.update.update_id }, 'telegram: update handling failed'),
  );
  return bot;
}

/** The `/report` stand-in when no reports module is wired: counts per manager from the record. */
export function recordReports(deps: { records: RecordStore; rules: () => CompiledRules | undefined }): ReportsPort {
  return {
    async report({ department, from, to }) {
      const rules = deps.rules();
      const dept = rules?.departments.find((d) => d.name === department);
      const managers = dept
        ? dept.managers.map((m) => m.userId)
        : [...new Set((rules?.departments ?? []).flatMap((d) => d.managers.map((m) => m.userId)))];
      const records = await deps.records.range(from.toISOString(), to.toISOString());
      const row = (userId: number): string => {
        const rs = records.filter((r) => r.userId === userId);
        const received = rs.filter((r) => r.kind === 'assignment' || r.kind === 'reassignment').length;
        const taken = rs.filter((r) => r.kind === 'pickup_taken').length;
        const missed = rs.filter((r) => r.kind === 'violation' && r.type === 'pickup_missed').length;
        const violations = rs.filter((r) => r.kind === 'violation').length;
        return `• ${escapeHtml(rules?.userNames.get(userId) ?? String(userId))}: получено ${received}, взято ${taken}, пропущено ${missed}, нарушений ${violations}`;
      };
      return [botText.reportHeader(department ?? 'все отделы'), ...managers.map(row)].join('\n');
    },
  };
}
