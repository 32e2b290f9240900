/**
 * The buttons under a lead's alerts: «Взял в работу», «Переназначить», «Приостановить приём заявок» / «Возобновить».
 */
import { botText, buttons } from '../templates/index.js';
import { type IntakeTarget } from './types.js';
import type { BotContext } from './context.js';

export function installLeadButtons(c: BotContext): void {
  const { deps, bot, log, name, who, recordRefusal, record, presser, unavailable, evidence } = c;
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
}
