/** R11: the РОП's undo of a lowered weight under the monthly ranking. */
import { botText, unfactorButtons } from '../templates/index.js';
import type { BotContext } from './context.js';

export function installRankingButtons(c: BotContext): void {
  const { deps, bot, log, name, who, recordRefusal, presser, unavailable } = c;
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
}
