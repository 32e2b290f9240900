/**
 * Incidents for the on-call chat (`telegram.operatorChat`): one Telegram message per incident, whichever process
 * notices it first; edited in place when what is wrong changes (amoCRM unreachable → blocking), and edited to
 * «Решено» with its duration when it ends. The state lives in Redis (`<prefix>:ops:incident:<kind>`), so every worker
 * process can open, update and resolve the same incident and a restarted one picks it up.
 *
 * A send that fails leaves nothing behind: the next check (every few seconds while the condition holds) sends
 * again. An incident resolved while its first message is still on the way is resolved by the sender right after.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Keys } from '../store/keys.js';
import type { TelegramSink } from '../telegram/sink.js';
import { resolvedHtml, type IncidentText } from './texts.js';

export interface OperatorIncidents {
  /** The condition holds: the incident's message is sent once, and edited when `text.signature` changes. */
  open(kind: string, text: IncidentText): Promise<void>;
  /** The condition ended: the message (if any) is edited to resolved. A no-op when no incident is open. */
  resolve(kind: string, note?: string): Promise<void>;
}

/** A claim older than this (a process died while sending) is taken over by the next check. */
const CLAIM_MS = 60_000;
/** An open incident nobody resolves (the condition's checker was removed) is forgotten after this. */
const INCIDENT_TTL_SEC = 30 * 24 * 3600;

const OPEN = `
local state = redis.call('hget', KEYS[1], 'state')
if not state then
  redis.call('hset', KEYS[1], 'state', 'sending', 'openedAt', ARGV[1], 'claimAt', ARGV[1], 'signature', ARGV[2], 'html', ARGV[3])
  redis.call('expire', KEYS[1], ARGV[5])
  return {'send', ARGV[1]}
end
if state == 'sending' then
  if tonumber(ARGV[1]) - tonumber(redis.call('hget', KEYS[1], 'claimAt')) > tonumber(ARGV[4]) then
    redis.call('hset', KEYS[1], 'claimAt', ARGV[1], 'signature', ARGV[2], 'html', ARGV[3])
    return {'send', redis.call('hget', KEYS[1], 'openedAt')}
  end
  return {'wait'}
end
if redis.call('hget', KEYS[1], 'signature') ~= ARGV[2] then
  redis.call('hset', KEYS[1], 'signature', ARGV[2], 'html', ARGV[3])
  return {'edit', redis.call('hget', KEYS[1], 'openedAt'), redis.call('hget', KEYS[1], 'messageId')}
end
return {'same'}`;

/** After the first message is out: the incident is open; returns the resolution that arrived meanwhile, if any. */
const SENT = `
if redis.call('hget', KEYS[1], 'claimAt') ~= ARGV[2] then return {'lost'} end
redis.call('hset', KEYS[1], 'state', 'open', 'messageId', ARGV[1])
local resolved = redis.call('hget', KEYS[1], 'resolved')
if resolved then return {'resolved', resolved} end
return {'open'}`;

const RESOLVE = `
local state = redis.call('hget', KEYS[1], 'state')
if not state then return {'none'} end
if state == 'sending' then
  redis.call('hset', KEYS[1], 'resolved', ARGV[1])
  return {'later'}
end
local r = redis.call('hmget', KEYS[1], 'messageId', 'openedAt', 'html')
redis.call('del', KEYS[1])
return {'edit', r[1], r[2], r[3]}`;

export function createOperatorIncidents(deps: {
  redis: Redis;
  keys: Keys;
  clock: Clock;
  logger: Logger;
  /** Undefined without a bot (the incidents are still logged by their checks). */
  sink: () => Pick<TelegramSink, 'sendMessage' | 'editMessage'> | undefined;
  /** The on-call chat from the rules in force; undefined: no Telegram incidents. */
  chat: () => string | undefined;
  timeZone: () => string;
}): OperatorIncidents {
  const log = deps.logger.child({ component: 'operator-incidents' });
  const key = (kind: string): string => deps.keys.of('ops', 'incident', kind);
  const now = (): number => deps.clock.now().getTime();
  const target = (): { chat: string; sink: Pick<TelegramSink, 'sendMessage' | 'editMessage'> } | undefined => {
    const chat = deps.chat();
    const sink = deps.sink();
    return chat && sink ? { chat, sink } : undefined;
  };

  const editResolved = async (
    t: NonNullable<ReturnType<typeof target>>,
    kind: string,
    stored: { messageId: number; openedAt: number; html: string },
    note: string,
  ): Promise<void> => {
    const html = resolvedHtml(stored.html, { openedAt: stored.openedAt, at: now(), note, zone: deps.timeZone() });
    try {
      await t.sink.editMessage(t.chat, stored.messageId, html);
      log.info({ kind, chatId: t.chat, messageId: stored.messageId }, 'operator incident resolved');
    } catch (err) {
      log.warn(
        { kind, chatId: t.chat, err: { message: (err as Error).message } },
        'operator incident resolved, but its message could not be edited',
      );
    }
  };

  return {
    async open(kind, text) {
      const t = target();
      if (!t) return;
      const at = now();
      const r = (await deps.redis.eval(
        OPEN,
        1,
        key(kind),
        String(at),
        text.signature,
        text.html,
        String(CLAIM_MS),
        String(INCIDENT_TTL_SEC),
      )) as string[];
      if (r[0] === 'send') {
        let messageId: number;
        try {
          messageId = await t.sink.sendMessage(t.chat, text.html, { silent: false });
        } catch (err) {
          // Nothing is left claimed: the next check sends again.
          await deps.redis.del(key(kind));
          log.warn(
            { kind, chatId: t.chat, err: { message: (err as Error).message } },
            'operator incident could not be sent; the next check tries again',
          );
          return;
        }
        const sent = (await deps.redis.eval(SENT, 1, key(kind), String(messageId), String(at))) as string[];
        log.info({ kind, chatId: t.chat, messageId }, 'operator incident opened');
        if (sent[0] === 'resolved') {
          await deps.redis.del(key(kind));
          await editResolved(t, kind, { messageId, openedAt: Number(r[1]), html: text.html }, sent[1] ?? '');
        }
        return;
      }
      if (r[0] === 'edit') {
        try {
          await t.sink.editMessage(t.chat, Number(r[2]), text.html);
          log.info({ kind, chatId: t.chat, messageId: Number(r[2]) }, 'operator incident updated');
        } catch (err) {
          log.warn(
            { kind, chatId: t.chat, err: { message: (err as Error).message } },
            'operator incident message could not be updated',
          );
        }
      }
    },

    async resolve(kind, note = '') {
      const t = target();
      if (!t) return;
      const r = (await deps.redis.eval(RESOLVE, 1, key(kind), note)) as Array<string | null>;
      if (r[0] !== 'edit') return;
      await editResolved(t, kind, { messageId: Number(r[1]), openedAt: Number(r[2]), html: r[3] ?? '' }, note);
    },
  };
}
