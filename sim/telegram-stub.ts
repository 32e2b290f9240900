/**
 * A Telegram Bot API on loopback, reachable by TELEGRAM_API_ROOT (`<root>/bot<token>/<method>`): the methods the
 * service uses (getMe, sendMessage, editMessageText, sendPhoto, answerCallbackQuery, getUpdates, setWebhook,
 * deleteWebhook), Telegram's error shapes, and controls to make it misbehave: fail a share of calls with 500 (before
 * acting, as Telegram's 5xx means "not done"), answer 429 with `retry_after`, "bot was blocked by the user" (403) and
 * "chat not found" (400) for chosen chats. Every call is logged with its arrival time, so tests assert on what was
 * sent and when. It backs the demo and the tests; it is never used by `npm start`.
 */
import Fastify, { type FastifyInstance } from 'fastify';

export interface StubMessage {
  chatId: string;
  messageId: number;
  text: string;
  /** Photo messages: the caption; `text` holds it too. */
  photo?: boolean;
  replyMarkup?: unknown;
  disableNotification: boolean;
  parseMode?: string;
  edits: number;
}

export interface StubCall {
  method: string;
  at: number;
  /** What the stub answered: 200, or the error code. */
  status: number;
  chatId?: string;
  params: Record<string, unknown>;
}

export interface TelegramStub {
  app: FastifyInstance;
  /** e.g. `http://127.0.0.1:40123`; pass as TELEGRAM_API_ROOT. */
  readonly apiRoot: string | undefined;
  readonly botUsername: string;
  calls: StubCall[];
  /** Current content of every message, by chat then message id. */
  messages: Map<string, StubMessage>;
  /** Messages of one chat in the order they were sent. */
  chat(chatId: string | number): StubMessage[];
  /** Fails this share (0..1) of calls with 500 "Internal Server Error" before acting. */
  failRate(share: number): void;
  /** The next `count` calls (optionally of one method) answer 429 with `retry_after` seconds. */
  rateLimitNext(count: number, retryAfterSec: number, method?: string): void;
  /** Calls to this chat answer 403 "Forbidden: bot was blocked by the user". */
  block(chatId: string | number): void;
  /** Calls to this chat answer 400 "Bad Request: chat not found". */
  forget(chatId: string | number): void;
  /** Queues an update for getUpdates (or posts it to the registered webhook). Returns its update_id. */
  pushUpdate(update: Record<string, unknown>): Promise<number>;
  /** A private-chat text message from a user, as Telegram would deliver it. */
  userMessage(
    chatId: number,
    text: string,
    from?: { id?: number; first_name?: string; username?: string },
  ): Promise<number>;
  /** A press of an inline button under a message the bot sent. */
  pressButton(chatId: number, messageId: number, data: string, fromId?: number): Promise<number>;
  answeredCallbacks: Array<{ id: string; text?: string }>;
  webhook: { url?: string; secretToken?: string };
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

interface TgError {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number };
}

export function createTelegramStub(
  options: { token?: string; botUsername?: string; random?: () => number; now?: () => number } = {},
): TelegramStub {
  const token = options.token ?? 'stub-token';
  const botUsername = options.botUsername ?? 'amo_discipline_bot';
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const app = Fastify({ logger: false, bodyLimit: 20 * 1024 * 1024 });
  const calls: StubCall[] = [];
  const messages = new Map<string, StubMessage>();
  const byChat = new Map<string, StubMessage[]>();
  const nextMessageId = new Map<string, number>();
  const updates: Array<{ update_id: number } & Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const blocked = new Set<string>();
  const forgotten = new Set<string>();
  const answeredCallbacks: Array<{ id: string; text?: string }> = [];
  const webhook: { url?: string; secretToken?: string } = {};
  let failShare = 0;
  let limited: { count: number; retryAfter: number; method?: string } | undefined;
  let updateId = 1000;
  let callbackId = 1;
  let apiRoot: string | undefined;

  const key = (chatId: string, messageId: number): string => `${chatId}/${messageId}`;
  const fail = (e: TgError): { ok: false } & TgError => ({ ok: false, ...e });

  const act = (method: string, p: Record<string, unknown>): { status: number; body: unknown } => {
    const chatId = p.chat_id !== undefined ? String(p.chat_id) : undefined;
    if (limited && limited.count > 0 && (limited.method === undefined || limited.method === method)) {
      limited.count -= 1;
      return {
        status: 429,
        body: fail({
          error_code: 429,
          description: `Too Many Requests: retry after ${limited.retryAfter}`,
          parameters: { retry_after: limited.retryAfter },
        }),
      };
    }
    if (failShare > 0 && method !== 'getUpdates' && random() < failShare)
      return { status: 500, body: fail({ error_code: 500, description: 'Internal Server Error' }) };
    if (chatId !== undefined && blocked.has(chatId))
      return { status: 403, body: fail({ error_code: 403, description: 'Forbidden: bot was blocked by the user' }) };
    if (chatId !== undefined && forgotten.has(chatId))
      return { status: 400, body: fail({ error_code: 400, description: 'Bad Request: chat not found' }) };
    const chat = { id: Number(chatId), type: Number(chatId) < 0 ? 'group' : 'private' };
    switch (method) {
      case 'getMe':
        return {
          status: 200,
          body: {
            ok: true,
            result: {
              id: 777000,
              is_bot: true,
              first_name: 'Дисциплина',
              username: botUsername,
              can_join_groups: true,
              can_read_all_group_messages: false,
              supports_inline_queries: false,
            },
          },
        };
      case 'sendMessage':
      case 'sendPhoto': {
        if (chatId === undefined)
          return { status: 400, body: fail({ error_code: 400, description: 'Bad Request: chat_id is empty' }) };
        const text = String(method === 'sendPhoto' ? (p.caption ?? '') : (p.text ?? ''));
        if (method === 'sendMessage' && text.length === 0)
          return { status: 400, body: fail({ error_code: 400, description: 'Bad Request: message text is empty' }) };
        const limit = method === 'sendPhoto' ? 1024 : 4096;
        if (text.length > limit)
          return {
            status: 400,
            body: fail({
              error_code: 400,
              description:
                method === 'sendPhoto'
                  ? 'Bad Request: message caption is too long'
                  : 'Bad Request: message is too long',
            }),
          };
        const id = (nextMessageId.get(chatId) ?? 0) + 1;
        nextMessageId.set(chatId, id);
        const m: StubMessage = {
          chatId,
          messageId: id,
          text,
          ...(method === 'sendPhoto' ? { photo: true } : {}),
          ...(p.reply_markup !== undefined
            ? { replyMarkup: typeof p.reply_markup === 'string' ? JSON.parse(p.reply_markup) : p.reply_markup }
            : {}),
          disableNotification: p.disable_notification === true || p.disable_notification === 'true',
          ...(p.parse_mode !== undefined ? { parseMode: String(p.parse_mode) } : {}),
          edits: 0,
        };
        messages.set(key(chatId, id), m);
        byChat.set(chatId, [...(byChat.get(chatId) ?? []), m]);
        return {
          status: 200,
          body: { ok: true, result: { message_id: id, date: Math.floor(now() / 1000), chat, text } },
        };
      }
      case 'editMessageText': {
        const m = chatId !== undefined ? messages.get(key(chatId, Number(p.message_id))) : undefined;
        if (!m)
          return {
            status: 400,
            body: fail({ error_code: 400, description: 'Bad Request: message to edit not found' }),
          };
        const text = String(p.text ?? '');
        if (text.length > 4096)
          return { status: 400, body: fail({ error_code: 400, description: 'Bad Request: message is too long' }) };
        const markup =
          p.reply_markup !== undefined
            ? typeof p.reply_markup === 'string'
              ? JSON.parse(p.reply_markup)
              : p.reply_markup
            : undefined;
        if (text === m.text && JSON.stringify(markup) === JSON.stringify(m.replyMarkup)) {
          return {
            status: 400,
            body: fail({
              error_code: 400,
              description:
                'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
            }),
          };
        }
        m.text = text;
        if (markup !== undefined) m.replyMarkup = markup;
        else delete m.replyMarkup;
        m.edits += 1;
        return {
          status: 200,
          body: { ok: true, result: { message_id: m.messageId, date: Math.floor(now() / 1000), chat, text } },
        };
      }
      case 'answerCallbackQuery':
        answeredCallbacks.push({
          id: String(p.callback_query_id),
          ...(p.text !== undefined ? { text: String(p.text) } : {}),
        });
        return { status: 200, body: { ok: true, result: true } };
      case 'setWebhook':
        webhook.url = String(p.url);
        if (p.secret_token !== undefined) webhook.secretToken = String(p.secret_token);
        return { status: 200, body: { ok: true, result: true } };
      case 'deleteWebhook':
        delete webhook.url;
        delete webhook.secretToken;
        return { status: 200, body: { ok: true, result: true } };
      default:
        return { status: 404, body: fail({ error_code: 404, description: 'Not Found' }) };
    }
  };

  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post<{ Params: { token: string; method: string } }>('/bot:token/:method', async (req, res) => {
    if (req.params.token !== token) return res.code(401).send(fail({ error_code: 401, description: 'Unauthorized' }));
    const method = req.params.method;
    const params = parseParams(req.headers['content-type'], req.body);
    if (method === 'getUpdates') {
      calls.push({ method, at: now(), status: 200, params });
      const offset = Number(params.offset ?? 0);
      const timeoutSec = Math.min(Number(params.timeout ?? 0), 2);
      const pick = (): unknown[] => updates.filter((u) => u.update_id >= offset);
      let found = pick();
      if (found.length === 0 && timeoutSec > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, timeoutSec * 1000);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
        found = pick();
      }
      return res.send({ ok: true, result: found });
    }
    const out = act(method, params);
    calls.push({
      method,
      at: now(),
      status: out.status,
      ...(params.chat_id !== undefined ? { chatId: String(params.chat_id) } : {}),
      params,
    });
    return res.code(out.status).send(out.body);
  });

  const pushUpdate = async (update: Record<string, unknown>): Promise<number> => {
    const id = ++updateId;
    const full = { update_id: id, ...update };
    if (webhook.url) {
      await fetch(webhook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(webhook.secretToken ? { 'x-telegram-bot-api-secret-token': webhook.secretToken } : {}),
        },
        body: JSON.stringify(full),
      });
      return id;
    }
    updates.push(full);
    for (const w of waiters.splice(0)) w();
    return id;
  };

  const stub: TelegramStub = {
    app,
    get apiRoot() {
      return apiRoot;
    },
    botUsername,
    calls,
    messages,
    chat: (chatId) => byChat.get(String(chatId)) ?? [],
    failRate: (share) => {
      failShare = share;
    },
    rateLimitNext: (count, retryAfterSec, method) => {
      limited = { count, retryAfter: retryAfterSec, ...(method !== undefined ? { method } : {}) };
    },
    block: (chatId) => void blocked.add(String(chatId)),
    forget: (chatId) => void forgotten.add(String(chatId)),
    pushUpdate,
    userMessage: (chatId, text, from = {}) => {
      const user = {
        id: from.id ?? chatId,
        is_bot: false,
        first_name: from.first_name ?? 'Менеджер',
        ...(from.username ? { username: from.username } : {}),
      };
      const entities = text.startsWith('/')
        ? [{ type: 'bot_command', offset: 0, length: text.split(' ')[0]!.length }]
        : undefined;
      return pushUpdate({
        message: {
          message_id: 1,
          date: Math.floor(now() / 1000),
          chat: { id: chatId, type: chatId < 0 ? 'group' : 'private', first_name: user.first_name },
          from: user,
          text,
          ...(entities ? { entities } : {}),
        },
      });
    },
    pressButton: (chatId, messageId, data, fromId) => {
      const m = messages.get(key(String(chatId), messageId));
      return pushUpdate({
        callback_query: {
          id: String(callbackId++),
          from: { id: fromId ?? chatId, is_bot: false, first_name: 'Пользователь' },
          chat_instance: String(chatId),
          data,
          message: {
            message_id: messageId,
            date: Math.floor(now() / 1000),
            chat: { id: chatId, type: chatId < 0 ? 'group' : 'private' },
            text: m?.text ?? '',
          },
        },
      });
    },
    answeredCallbacks,
    webhook,
    async listen(port = 0, host = '127.0.0.1') {
      apiRoot = await app.listen({ port, host });
      return apiRoot;
    },
    async close() {
      for (const w of waiters.splice(0)) w();
      await app.close();
    },
  };
  return stub;
}

/** grammY sends JSON, or multipart/form-data when a file is attached (sendPhoto). */
function parseParams(contentType: string | undefined, body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (Buffer.isBuffer(body)) {
    const boundary = /boundary=("?)([^";]+)\1/.exec(contentType ?? '')?.[2];
    if (!boundary) return {};
    const out: Record<string, unknown> = {};
    for (const part of body.toString('latin1').split(`--${boundary}`)) {
      const name = /name="([^"]+)"/.exec(part)?.[1];
      if (!name) continue;
      const start = part.indexOf('\r\n\r\n');
      if (start < 0) continue;
      const value = part.slice(start + 4).replace(/\r\n$/, '');
      out[name] = /filename="/.test(part)
        ? `<file ${value.length} bytes>`
        : Buffer.from(value, 'latin1').toString('utf8');
    }
    return out;
  }
  if (typeof body === 'object') return body as Record<string, unknown>;
  return {};
}
