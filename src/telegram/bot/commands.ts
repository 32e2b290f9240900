/** The commands: `/start <code>` links a person, `/today`, `/violations` and `/report` answer linked people. */
import type { StoredRecord } from '../../store/record-store.js';
import { escapeHtml } from '../html.js';
import { botText, formatWhen, violationText } from '../templates/index.js';
import type { BotContext } from './context.js';

export function installCommands(c: BotContext): void {
  const { deps, bot, log, zone, name, who, recordRefusal, refuseOnce, dayBounds, replyHtml } = c;
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
}
