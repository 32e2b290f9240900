/**
 * What every handler of the bot shares: who is acting (linked manager or РОП, by the Telegram user, never the chat
 * alone), the refusal and the record of every press, names and days in the account's zone, R1's evidence check.
 */
import type { Context } from 'grammy';
import { DateTime } from 'luxon';
import type { CompiledDepartment } from '../../rules/types.js';
import { splitMessage } from '../html.js';
import { botText, formatWhen } from '../templates/index.js';
import { EVIDENCE, type BotDeps, type Who } from './types.js';

export type BotContext = ReturnType<typeof createBotContext>;

export function createBotContext(deps: BotDeps) {
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

  return {
    deps,
    bot,
    log,
    zone,
    name,
    departments,
    deptOfManager,
    who,
    recordRefusal,
    refuseOnce,
    record,
    presser,
    dayBounds,
    replyHtml,
    unavailable,
    evidence,
  };
}
