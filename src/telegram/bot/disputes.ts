/**
 * The ledger in Telegram: «Оспорить» (the reason comes as the next private message), «Снять» / «Оставить» for the
 * РОП; any other message gets the help.
 */
import { MIN_REASON_CHARS } from '../../rules/disputes/policy.js';
import { botText } from '../templates/index.js';
import { DISPUTE_REASON_TTL_SECONDS } from './types.js';
import type { BotContext } from './context.js';

export function installDisputes(c: BotContext): void {
  const { deps, bot, log, who, recordRefusal, refuseOnce, presser, unavailable } = c;
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
}
