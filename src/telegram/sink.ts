/**
 * Where messages go: the Bot API through grammY (Telegram's limits held in Redis for every process, and auto-retry
 * for `retry_after`), or, without a bot token, a log of what would have been sent (the demo prints it).
 * Errors come back classified: may we retry, and when; is the chat gone for good.
 */
import { Api, GrammyError, HttpError, InputFile } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import { autoRetry } from '@grammyjs/auto-retry';
import type { Logger } from '../lib/logger.js';
import { sharedLimit, type SharedLimiter } from './shared-limit.js';
import type { Button } from './templates/index.js';

export interface SendOptions {
  silent: boolean;
  buttons?: Button[][];
}

export interface TelegramSink {
  readonly dryRun: boolean;
  sendMessage(chatId: string, html: string, options: SendOptions): Promise<number>;
  editMessage(chatId: string, messageId: number, html: string, buttons?: Button[][]): Promise<void>;
  sendPhoto(chatId: string, png: Buffer, captionHtml: string, options: SendOptions): Promise<number>;
}

export type Failure =
  /** The bot was blocked, kicked, or the chat no longer exists: stop sending there. */
  | { kind: 'chat_gone'; reason: string }
  /** Telegram asked to wait (429) longer than auto-retry waits in process. */
  | { kind: 'rate_limited'; retryAfterMs: number; reason: string }
  /** 5xx or a network error: try again later. A network error on a send means it may have been delivered. */
  | { kind: 'transient'; reason: string; mayHaveHappened: boolean }
  | { kind: 'not_modified' }
  | { kind: 'edit_target_missing'; reason: string }
  /** Telegram rejected the request itself (400): a retry would fail the same way. */
  | { kind: 'rejected'; reason: string };

const CHAT_GONE = [
  /bot was blocked by the user/i,
  /chat not found/i,
  /user is deactivated/i,
  /bot was kicked/i,
  /not enough rights to send/i,
  /group chat was upgraded/i,
  /have no rights to send/i,
  /bot is not a member/i,
];

export function classifyFailure(err: unknown): Failure {
  if (err instanceof GrammyError) {
    const d = err.description;
    if (err.error_code === 429)
      return { kind: 'rate_limited', retryAfterMs: (err.parameters.retry_after ?? 1) * 1000, reason: d };
    if (/message is not modified/i.test(d)) return { kind: 'not_modified' };
    if (/message to edit not found|message can't be edited/i.test(d)) return { kind: 'edit_target_missing', reason: d };
    if (err.error_code === 403 || CHAT_GONE.some((r) => r.test(d))) return { kind: 'chat_gone', reason: d };
    if (err.error_code >= 500) return { kind: 'transient', reason: d, mayHaveHappened: false };
    return { kind: 'rejected', reason: d };
  }
  if (err instanceof HttpError) return { kind: 'transient', reason: err.message, mayHaveHappened: true };
  return { kind: 'transient', reason: err instanceof Error ? err.message : String(err), mayHaveHappened: true };
}

const keyboard = (buttons: Button[][] | undefined): InlineKeyboardMarkup | undefined =>
  buttons && buttons.length > 0
    ? { inline_keyboard: buttons.map((row) => row.map((b) => ({ text: b.text, callback_data: b.data }))) }
    : undefined;

export interface ApiOptions {
  /** Longest `retry_after` waited in process; longer waits go back to the queue as a delayed job. */
  maxInlineRetrySec?: number;
  /** The limits shared by every process (src/telegram/shared-limit.ts): reserves a call's slot, returns the wait. */
  reserve?: SharedLimiter;
}

/**
 * The one transformer chain of the Bot API client (the bot's own `bot.api` is this client: delivery and the bot's
 * replies go through the same limits, holds and retries).
 */
export function configureApi(api: Api, options: ApiOptions): Api {
  // Installed first, so innermost: every attempt, retries included, takes a slot of the limits all processes share
  // (Telegram counts the bot, not a process); auto-retry wraps it, so a 429 wait does not hold a slot.
  if (options.reserve) api.config.use(sharedLimit(options.reserve));
  api.config.use(
    autoRetry({
      maxRetryAttempts: 3,
      maxDelaySeconds: options.maxInlineRetrySec ?? 30,
      // 5xx and network errors go back to the job, which knows whether a send may already have happened.
      rethrowInternalServerErrors: true,
      rethrowHttpErrors: true,
    }),
  );
  return api;
}

export function createGrammySink(api: Api): TelegramSink {
  return {
    dryRun: false,
    async sendMessage(chatId, html, options) {
      const markup = keyboard(options.buttons);
      const m = await api.sendMessage(chatId, html, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        disable_notification: options.silent,
        ...(markup ? { reply_markup: markup } : {}),
      });
      return m.message_id;
    },
    async editMessage(chatId, messageId, html, buttons) {
      const markup = keyboard(buttons);
      await api.editMessageText(chatId, messageId, html, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(markup ? { reply_markup: markup } : {}),
      });
    },
    async sendPhoto(chatId, png, captionHtml, options) {
      const m = await api.sendPhoto(chatId, new InputFile(png, 'chart.png'), {
        caption: captionHtml,
        parse_mode: 'HTML',
        disable_notification: options.silent,
      });
      return m.message_id;
    },
  };
}

export interface WouldSend {
  kind: 'send' | 'edit' | 'photo';
  chatId: string;
  messageId: number;
  text: string;
  silent: boolean;
  buttons: string[];
}

/** Without a bot token: every message is logged (and handed to listeners such as the demo), none is sent. */
export function createDrySink(logger: Logger, listeners: Set<(m: WouldSend) => void>): TelegramSink {
  let nextId = 1;
  const tell = (m: WouldSend): void => {
    logger.info(
      { telegram: { kind: m.kind, chatId: m.chatId, messageId: m.messageId, silent: m.silent } },
      `telegram (no bot token, not sent): ${m.text.replace(/<[^>]+>/g, '').replace(/\n/g, ' | ')}`,
    );
    for (const l of listeners) l(m);
  };
  const labels = (buttons: Button[][] | undefined): string[] => (buttons ?? []).flat().map((b) => b.text);
  return {
    dryRun: true,
    async sendMessage(chatId, html, options) {
      const messageId = nextId++;
      tell({ kind: 'send', chatId, messageId, text: html, silent: options.silent, buttons: labels(options.buttons) });
      return messageId;
    },
    async editMessage(chatId, messageId, html, buttons) {
      tell({ kind: 'edit', chatId, messageId, text: html, silent: true, buttons: labels(buttons) });
    },
    async sendPhoto(chatId, _png, captionHtml, options) {
      const messageId = nextId++;
      tell({ kind: 'photo', chatId, messageId, text: captionHtml, silent: options.silent, buttons: [] });
      return messageId;
    },
  };
}
