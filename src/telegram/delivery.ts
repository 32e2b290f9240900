/**
 * The outbox becomes Telegram messages, driven by BullMQ:
 *
 * 1. route (`telegram-route`): drains `<prefix>:{outbox}:route`; finds the chat of each message (a manager's linked
 *    chat, a department's chat), applies the alert window and quiet hours, the escalation ladder, and appends the
 *    message to that chat's queue. Routing twice queues twice; delivery sends each delivery id once.
 * 2. deliver (`telegram-chat`): one job at a time per chat (a Redis lock) sends the chat's queue in order: a new
 *    message, or an edit of the incident's message; bursts as one digest. Each part's Telegram message id is stored
 *    under its delivery id before the item leaves the queue, so a retried job never sends it twice.
 * 3. sweep (`telegram-sweep`): releases chats whose quiet hours ended (one digest), sends escalations that came due,
 *    and restarts a chat whose drain job was lost.
 *
 * A chat that blocked the bot or no longer exists is marked dead, alerted once in the operator log and skipped.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { CompiledRules, CompiledTelegram } from '../rules/types.js';
import type { Keys } from '../store/keys.js';
import { OutboxEntrySchema, outboxKeys, type OutboxEntry } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import { createViolationLedger } from '../store/violation-ledger.js';
import { ruDuration } from '../lib/ru-duration.js';
import { splitMessage, TELEGRAM_CAPTION_LIMIT } from './html.js';
import {
  alertKey,
  DEFAULT_TELEGRAM,
  groupBurst,
  incidentFamily,
  isReport,
  isSilent,
  quietHoursFor,
  quietUntil,
  suppressedByWindow,
  type ChatOwner,
  type Queued,
  type Unit,
} from './hygiene.js';
import type { LinkStore } from './links.js';
import { classifyFailure, type Failure, type TelegramSink } from './sink.js';
import {
  digestHeader,
  digestLine,
  incidentText,
  renderEvent,
  reportCaption,
  unfactorButtons,
  type RenderContext,
  type TimelineEntry,
} from './templates/index.js';
import type { Metrics } from '../lib/metrics.js';
import { RetryLaterError } from '../lib/retry-later.js';
import type { TelegramQueue } from './jobs.js';

const BATCH = 50;
const LOCK_MS = 60_000;
const FLAG_MS = 10 * 60_000;
const DONE_TTL_SEC = 14 * 24 * 3600;
/** Attempts of one item on transient errors before it is given up and recorded as undeliverable. */
export const MAX_ITEM_ATTEMPTS = 8;

export interface ChatItem extends Queued {
  chatId: string;
  owner: ChatOwner;
  routedAt: number;
  lead?: { name?: string; source?: string };
}

export interface DeliveryDeps {
  redis: Redis;
  keys: Keys;
  queues: Pick<TelegramQueue, 'add'>;
  /** Deliveries sent, retried and given up, by reason (amo_telegram_deliveries_total). */
  metrics?: Pick<Metrics, 'telegramDeliveries'>;
  clock: Clock;
  logger: Logger;
  /** The compiled rules (departments, names, time zone, the telegram section); undefined before they compile. */
  rules: () => CompiledRules | undefined;
  sink: TelegramSink;
  links: LinkStore;
  records?: RecordStore;
  leadUrl: (leadId: number) => string;
  /** The client's name and source for a new-lead message (amoCRM); failures are ignored. */
  leadInfo?: (leadId: number) => Promise<{ name?: string; source?: string } | undefined>;
  /** Delay before retrying an item after its n-th transient failure. */
  retryDelayMs?: (attempt: number) => number;
}

export interface UndeliverableRecord {
  at: string;
  chatId: string;
  deliveryId?: string;
  template?: string;
  leadId?: number;
  reason: string;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

export function telegramKeys(keys: Keys) {
  return {
    chats: keys.tagged('tg', 'chats'),
    queue: (chatId: string) => keys.tagged('tg', 'chat', chatId, 'queue'),
    held: (chatId: string) => keys.tagged('tg', 'chat', chatId, 'held'),
    heldIndex: keys.tagged('tg', 'held'),
    flag: (chatId: string) => keys.tagged('tg', 'chat', chatId, 'scheduled'),
    lock: (chatId: string) => keys.tagged('tg', 'chat', chatId, 'lock'),
    seq: keys.tagged('tg', 'seq'),
    routerLock: keys.tagged('tg', 'router', 'lock'),
    done: (deliveryId: string) => keys.tagged('tg', 'done', hash(deliveryId)),
    part: (deliveryId: string, part: number) => keys.tagged('tg', 'part', hash(deliveryId), part),
    sending: (deliveryId: string) => keys.tagged('tg', 'sending', hash(deliveryId)),
    attempts: (deliveryId: string) => keys.tagged('tg', 'attempts', hash(deliveryId)),
    incident: (chatId: string, leadId: number, family: string) => keys.tagged('tg', 'incident', chatId, leadId, family),
    alerted: (chatId: string) => keys.tagged('tg', 'chat', chatId, 'alerted'),
    escalations: keys.tagged('tg', 'escalations'),
    resolved: (violationId: string) => keys.tagged('tg', 'resolved', violationId),
    dead: (chatId: string) => keys.tagged('tg', 'dead', chatId),
    deadAlerted: (chatId: string) => keys.tagged('tg', 'dead', chatId, 'alerted'),
    undeliverable: keys.tagged('tg', 'undeliverable'),
  };
}

/** Deletes the chat's "scheduled" flag and releases the lock only when its queue is empty (one atomic step). */
const FINISH = `
if redis.call('llen', KEYS[1]) > 0 then return 1 end
redis.call('del', KEYS[2])
if redis.call('get', KEYS[3]) == ARGV[1] then redis.call('del', KEYS[3]) end
return 0`;
/** Returns the last alert time when it is within the window (suppress); otherwise marks now and returns nil. */
const CLAIM_ALERT = `
local last = redis.call('hget', KEYS[1], ARGV[1])
if last and tonumber(ARGV[2]) - tonumber(last) < tonumber(ARGV[3]) then return last end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
return false`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
/** What the steps below share: their dependencies, stores and keys, built once per instance. */
function createDeliveryEnv(deps: DeliveryDeps) {
  const k = telegramKeys(deps.keys);
  const ledger = createViolationLedger(deps.redis, deps.keys);
  const ok = outboxKeys(deps.keys);
  const log = deps.logger.child({ component: 'telegram' });
  const settings = (): CompiledTelegram => deps.rules()?.telegram ?? DEFAULT_TELEGRAM;
  const zone = (): string => deps.rules()?.timeZone ?? 'Europe/Moscow';
  const now = (): number => deps.clock.now().getTime();
  const retryDelay = deps.retryDelayMs ?? ((n: number) => Math.min(60_000, 1000 * 2 ** (n - 1)));

  const userIdByName = (name: string): number | undefined => {
    for (const [id, n] of deps.rules()?.userNames ?? []) if (n === name) return id;
    return undefined;
  };
  const renderContext = (item: Pick<ChatItem, 'owner' | 'lead'>): RenderContext => ({
    leadUrl: deps.leadUrl,
    userName: (id) => deps.rules()?.userNames.get(id) ?? `пользователь ${id}`,
    userIdByName,
    timeZone: zone(),
    rules: deps.rules(),
    audience: item.owner.kind,
    ...(item.lead ? { lead: item.lead } : {}),
  });

  const hasIncident = async (chatId: string, leadId: number, family: string): Promise<boolean> =>
    (await deps.redis.exists(k.incident(chatId, leadId, family))) === 1;

  const silentFor = (item: ChatItem): boolean =>
    item.message.priority === 'low' || isSilent(settings(), item.message.template);
  return {
    deps,
    k,
    ledger,
    ok,
    log,
    settings,
    zone,
    now,
    retryDelay,
    userIdByName,
    renderContext,
    hasIncident,
    silentFor,
  };
}

type DeliveryEnv = ReturnType<typeof createDeliveryEnv>;

export function createDelivery(deps: DeliveryDeps) {
  const env = createDeliveryEnv(deps);
  return {
    route: () => route(env),
    routeEntry: (entry: OutboxEntry) => routeEntry(env, entry),
    drainChat: (chatId: string) => drainChat(env, chatId),
    sweep: () => sweep(env),
    scheduleChat: (chatId: string) => scheduleChat(env, chatId),
    keys: env.k,
  };
}

// ---- routing ---------------------------------------------------------------------------------------------------

/** The chat of an audience, or undefined (logged) when there is none to send to. */
async function chatFor(
  env: DeliveryEnv,
  audience: OutboxEntry['audience'],
): Promise<{ chatId: string; owner: ChatOwner } | undefined> {
  const { deps } = env;
  if (audience.kind === 'manager') {
    const chatId = await deps.links.chatOf(audience.userId);
    if (chatId !== undefined) return { chatId, owner: { kind: 'manager', userId: audience.userId } };
    if (deps.sink.dryRun)
      return { chatId: `manager-${audience.userId}`, owner: { kind: 'manager', userId: audience.userId } };
    return undefined;
  }
  const chatId = audience.chatId ?? deps.rules()?.departments.find((d) => d.name === audience.department)?.telegramChat;
  if (chatId !== undefined && chatId !== '')
    return { chatId, owner: { kind: 'department', department: audience.department } };
  if (deps.sink.dryRun)
    return {
      chatId: `department-${audience.department}`,
      owner: { kind: 'department', department: audience.department },
    };
  return undefined;
}

async function scheduleChat(env: DeliveryEnv, chatId: string): Promise<void> {
  const { deps, k } = env;
  const fresh = await deps.redis.set(k.flag(chatId), '1', 'PX', FLAG_MS, 'NX');
  if (fresh !== 'OK') return;
  const seq = await deps.redis.incr(k.seq);
  await deps.queues.add('telegram-chat', { chatId, seq });
}

async function enqueue(env: DeliveryEnv, item: ChatItem): Promise<void> {
  const { deps, k, log, settings, zone, now } = env;
  const t = settings();
  const until = quietUntil(quietHoursFor(t, item.chatId, item.owner), now(), zone());
  if (until !== undefined && !isReport(item.message.template)) {
    // Quiet hours (SPEC "Alerts"): held, then delivered as one digest when they end.
    await deps.redis
      .multi()
      .rpush(k.held(item.chatId), JSON.stringify(item))
      .zadd(k.heldIndex, 'NX', until, item.chatId)
      .exec();
    log.info(
      {
        chatId: item.chatId,
        template: item.message.template,
        leadId: item.message.leadId,
        until: new Date(until).toISOString(),
      },
      'telegram: quiet hours, message held',
    );
    return;
  }
  await deps.redis.multi().rpush(k.queue(item.chatId), JSON.stringify(item)).sadd(k.chats, item.chatId).exec();
  await scheduleChat(env, item.chatId);
}

async function toChat(
  env: DeliveryEnv,
  entry: OutboxEntry,
  target: { chatId: string; owner: ChatOwner },
  lead: ChatItem['lead'],
): Promise<void> {
  const { deps, k, log, settings, now } = env;
  const key = alertKey(entry);
  if (key !== undefined) {
    // One alert per lead per violation type per window, per chat; checked and marked in one step, so two routers
    // handling the same alert at once let one through.
    const last = (await deps.redis.eval(
      CLAIM_ALERT,
      1,
      k.alerted(target.chatId),
      key,
      String(now()),
      String(settings().alertWindowMs),
    )) as string | null;
    if (suppressedByWindow(last === null ? undefined : Number(last), now(), settings().alertWindowMs)) {
      log.info(
        { chatId: target.chatId, leadId: entry.leadId, key, id: entry.id },
        'telegram: same alert within its window, not sent again',
      );
      return;
    }
  }
  const family = incidentFamily(entry);
  const edits =
    family !== undefined &&
    entry.leadId !== undefined &&
    (await deps.redis.hexists(k.incident(target.chatId, entry.leadId, family), 'messageId')) === 1;
  if (family !== undefined && entry.leadId !== undefined && !edits) {
    // The chat knows of the incident from now on, before its first message is out: an update routed meanwhile
    // ("taken" a moment after "new lead") joins it instead of being dropped as news of an unknown incident.
    const key = k.incident(target.chatId, entry.leadId, family);
    await deps.redis
      .multi()
      .hset(key, 'routed', '1')
      .expire(key, 30 * 24 * 3600)
      .exec();
  }
  await enqueue(env, {
    deliveryId: `${entry.id}@${target.chatId}`,
    chatId: target.chatId,
    owner: target.owner,
    message: entry,
    edits,
    routedAt: now(),
    ...(lead ? { lead } : {}),
  });
}

async function routeEntry(env: DeliveryEnv, entry: OutboxEntry): Promise<void> {
  const { deps, k, log, settings, now, userIdByName, hasIncident } = env;
  const t = settings();
  const leadId = entry.leadId ?? (typeof entry.params.leadId === 'number' ? entry.params.leadId : undefined);
  const e: OutboxEntry = leadId !== undefined ? { ...entry, leadId } : entry;
  let lead: ChatItem['lead'];
  if (e.template === 'lead_assigned' && leadId !== undefined && deps.leadInfo) {
    lead = await deps.leadInfo(leadId).catch(() => undefined);
  }

  // Escalation ladder: a violation goes to the manager first, to the РОП if still open after `escalateAfter`.
  if (
    e.template === 'violation' &&
    e.audience.kind === 'department' &&
    e.params.escalated !== true &&
    !t.escalateAtOnce.has(String(e.params.type))
  ) {
    const userId = typeof e.params.userId === 'number' ? e.params.userId : undefined;
    const manager = userId !== undefined ? await chatFor(env, { kind: 'manager', userId }) : undefined;
    if (manager) {
      await toChat(env, e, manager, lead);
      await deps.redis.zadd(k.escalations, now() + t.escalateAfterMs, JSON.stringify(e));
      return;
    }
  }
  if (e.template === 'violation_resolved') {
    const violationId = String(e.params.violationId ?? '');
    if (violationId) await deps.redis.set(k.resolved(violationId), '1', 'EX', 30 * 24 * 3600);
    const userId = typeof e.params.userId === 'number' ? e.params.userId : undefined;
    const family = incidentFamily(e);
    const targets = [
      await chatFor(env, e.audience),
      userId !== undefined ? await chatFor(env, { kind: 'manager', userId }) : undefined,
    ];
    for (const target of targets) {
      if (target && family && leadId !== undefined && (await hasIncident(target.chatId, leadId, family)))
        await toChat(env, e, target, lead);
    }
    return;
  }
  const target = await chatFor(env, e.audience);
  // "Taken" and the РОП's hand-over only update a message about the lead the chat already has; they start none.
  const editOnly = e.template === 'pickup_taken' || e.template === 'pickup_reassigned_by_head';
  const known = target !== undefined && leadId !== undefined && (await hasIncident(target.chatId, leadId, 'pickup'));
  if (!target && !editOnly) {
    log.warn(
      { id: e.id, template: e.template, audience: e.audience, leadId },
      'telegram: no chat for this audience (manager not linked, or department without telegramChat); not sent',
    );
    return;
  }
  if (target && (!editOnly || known)) await toChat(env, e, target, lead);
  // The manager who lost the lead sees their own message change too, when they had one.
  const lostBy =
    e.template === 'pickup_missed'
      ? e.params.missed
      : e.template === 'pickup_reassigned_by_head'
        ? e.params.previous
        : e.template === 'pickup_fallback'
          ? e.params.lastMissed
          : undefined;
  if (lostBy !== undefined && leadId !== undefined) {
    const missedId = userIdByName(String(lostBy));
    const missedChat = missedId !== undefined ? await chatFor(env, { kind: 'manager', userId: missedId }) : undefined;
    if (missedChat && (await hasIncident(missedChat.chatId, leadId, 'pickup'))) {
      await toChat(
        env,
        {
          ...e,
          id: `${e.id}:away`,
          template: 'pickup_reassigned_away',
          audience: { kind: 'manager', userId: missedId! },
        },
        missedChat,
        undefined,
      );
    }
  }
}

/**
 * Drains the outbox's route list. One router at a time (a Redis lock), so messages reach each chat's queue in the
 * order they were pushed. Entries are moved aside while routed, so a crash re-routes (never loses) them.
 */
async function route(env: DeliveryEnv): Promise<number> {
  const { deps, k, ok, log } = env;
  let n = 0;
  for (;;) {
    const token = randomBytes(8).toString('hex');
    if ((await deps.redis.set(k.routerLock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return n;
    try {
      for (;;) {
        const raw = await deps.redis.lmove(ok.route, ok.routing, 'LEFT', 'RIGHT');
        if (raw === null) break;
        await deps.redis.pexpire(k.routerLock, LOCK_MS);
        const parsed = OutboxEntrySchema.safeParse(JSON.parse(raw));
        if (!parsed.success) {
          log.error(
            { problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
            'telegram: outbox entry does not fit the schema; dropped (a bug in its producer)',
          );
        } else {
          await routeEntry(env, parsed.data as OutboxEntry);
          n += 1;
        }
        await deps.redis.lrem(ok.routing, 1, raw);
      }
    } finally {
      await deps.redis.eval(RELEASE, 1, k.routerLock, token);
    }
    // A push that came while the lock was held, and whose own job found it held, is routed here.
    if ((await deps.redis.llen(ok.route)) === 0) return n;
  }
}

// ---- delivery --------------------------------------------------------------------------------------------------

async function undeliverable(env: DeliveryEnv, chatId: string, reason: string, item?: ChatItem): Promise<void> {
  const { deps, k, now } = env;
  const rec: UndeliverableRecord = {
    at: new Date(now()).toISOString(),
    chatId,
    reason,
    ...(item ? { deliveryId: item.deliveryId, template: item.message.template } : {}),
    ...(item?.message.leadId !== undefined ? { leadId: item.message.leadId } : {}),
  };
  await deps.redis.multi().rpush(k.undeliverable, JSON.stringify(rec)).ltrim(k.undeliverable, -10_000, -1).exec();
}

async function chatGone(env: DeliveryEnv, chatId: string, reason: string, items: ChatItem[]): Promise<void> {
  const { deps, k, log, now } = env;
  await deps.redis.set(k.dead(chatId), JSON.stringify({ reason, at: new Date(now()).toISOString() }));
  if ((await deps.redis.set(k.deadAlerted(chatId), '1', 'NX')) === 'OK') {
    log.error(
      { alert: 'telegram_chat_gone', chatId, reason, dropped: items.length },
      `ACTION NEEDED: Telegram chat ${chatId} cannot receive messages (${reason}); its messages are recorded as undeliverable and not retried`,
    );
  }
  for (const item of items) await undeliverable(env, chatId, reason, item);
}

/** A part sent before (its message id stored) is not sent again. */
async function sendPart(
  env: DeliveryEnv,
  deliveryId: string,
  part: number,
  send: () => Promise<number>,
): Promise<number> {
  const { deps, k, log, now } = env;
  const stored = await deps.redis.get(k.part(deliveryId, part));
  if (stored !== null) return Number(stored);
  const marker = k.sending(`${deliveryId}#${part}`);
  if ((await deps.redis.set(marker, String(now()), 'EX', DONE_TTL_SEC, 'NX')) !== 'OK') {
    log.warn(
      { deliveryId, part },
      'telegram: an earlier attempt of this message ended without an answer; it may have been delivered, sending again',
    );
  }
  const messageId = await send();
  deps.metrics?.telegramDeliveries.inc({ outcome: 'sent', reason: 'ok' });
  await deps.redis.multi().set(k.part(deliveryId, part), String(messageId), 'EX', DONE_TTL_SEC).del(marker).exec();
  return messageId;
}

async function markDone(env: DeliveryEnv, deliveryIds: string[]): Promise<void> {
  const { deps, k } = env;
  const tx = deps.redis.multi();
  for (const id of deliveryIds) tx.set(k.done(id), '1', 'EX', DONE_TTL_SEC).del(k.attempts(id));
  await tx.exec();
}

async function sendReport(env: DeliveryEnv, item: ChatItem): Promise<void> {
  const { deps, silentFor } = env;
  const html = String(item.message.params.html ?? '');
  const chart = typeof item.message.params.chartPngBase64 === 'string' ? item.message.params.chartPngBase64 : undefined;
  const silent = silentFor(item);
  let part = 0;
  if (chart) {
    const caption = (reportCaption[item.message.template] ?? '📊').slice(0, TELEGRAM_CAPTION_LIMIT);
    await sendPart(env, item.deliveryId, part, () =>
      deps.sink.sendPhoto(item.chatId, Buffer.from(chart, 'base64'), caption, { silent }),
    );
    part += 1;
  }
  const texts = splitMessage(html);
  // R11: the РОП's undo buttons, when this part lists lowered weights, go under its last text.
  const undo = unfactorButtons(item.message.params.factorsMonth, item.message.params.revertable);
  for (const [i, text] of texts.entries()) {
    const index = part++;
    if (text.trim() === '') continue;
    const withButtons = i === texts.length - 1 && undo.length > 0 ? { buttons: undo } : {};
    await sendPart(env, item.deliveryId, index, () =>
      deps.sink.sendMessage(item.chatId, text, { silent, ...withButtons }),
    );
  }
}

async function sendIncident(env: DeliveryEnv, item: ChatItem, family: string): Promise<void> {
  const { deps, k, log, renderContext, silentFor } = env;
  const leadId = item.message.leadId!;
  const ctx = renderContext(item);
  const rendered = renderEvent(item.message.template, item.message.params, ctx);
  if (!rendered) return sendPlain(env, item);
  const key = k.incident(item.chatId, leadId, family);
  const stored = await deps.redis.hgetall(key);
  const timeline: Array<TimelineEntry & { id: string }> = stored.timeline ? JSON.parse(stored.timeline) : [];
  const lead = stored.lead ? (JSON.parse(stored.lead) as ChatItem['lead']) : item.lead;
  if (!timeline.some((t) => t.id === item.deliveryId))
    timeline.push({ id: item.deliveryId, at: Date.parse(item.message.at) || item.routedAt, line: rendered.line });
  const text = incidentText(rendered, leadId, timeline, { ...ctx, ...(lead ? { lead } : {}) });
  await deps.redis.hset(key, {
    timeline: JSON.stringify(timeline),
    status: rendered.status,
    ...(lead ? { lead: JSON.stringify(lead) } : {}),
  });
  await deps.redis.expire(key, 30 * 24 * 3600);
  const messageId = stored.messageId !== undefined ? Number(stored.messageId) : undefined;
  if (messageId !== undefined) {
    try {
      await deps.sink.editMessage(item.chatId, messageId, text, rendered.buttons);
      return;
    } catch (err) {
      const f = classifyFailure(err);
      if (f.kind === 'not_modified') return;
      if (f.kind !== 'edit_target_missing') throw err;
      log.warn({ chatId: item.chatId, leadId, messageId }, 'telegram: the incident message is gone; sending a new one');
    }
  }
  const sent = await sendPart(env, item.deliveryId, 0, () =>
    deps.sink.sendMessage(item.chatId, text, { silent: silentFor(item), buttons: rendered.buttons }),
  );
  await deps.redis.hset(key, 'messageId', String(sent));
}

async function sendPlain(env: DeliveryEnv, item: ChatItem): Promise<void> {
  const { deps, renderContext, silentFor } = env;
  const ctx = renderContext(item);
  const text = digestLine(item.message.template, item.message.params, ctx).replace(/^• /, '');
  const parts = splitMessage(text);
  for (const [i, p] of parts.entries())
    await sendPart(env, item.deliveryId, i, () => deps.sink.sendMessage(item.chatId, p, { silent: silentFor(item) }));
}

async function sendDigest(env: DeliveryEnv, items: ChatItem[], header: (n: number) => string): Promise<void> {
  const { deps, k, renderContext, silentFor } = env;
  const first = items[0]!;
  const id = `digest:${hash(items.map((i) => i.deliveryId).join('|'))}@${first.chatId}`;
  const lines = items.map((i) => digestLine(i.message.template, i.message.params, renderContext(i)));
  const parts = splitMessage([header(items.length), '', ...lines].join('\n'));
  const silent = items.every((i) => silentFor(i));
  for (const [i, p] of parts.entries())
    await sendPart(env, id, i, () => deps.sink.sendMessage(first.chatId, p, { silent }));
  // What the digest said joins each incident's timeline, so a later update edits a message that tells the story.
  for (const item of items) {
    const family = incidentFamily(item.message);
    const rendered = renderEvent(item.message.template, item.message.params, renderContext(item));
    if (!family || item.message.leadId === undefined || !rendered) continue;
    const key = k.incident(item.chatId, item.message.leadId, family);
    const stored = await deps.redis.hget(key, 'timeline');
    const timeline: Array<TimelineEntry & { id: string }> = stored ? JSON.parse(stored) : [];
    if (!timeline.some((t) => t.id === item.deliveryId))
      timeline.push({ id: item.deliveryId, at: Date.parse(item.message.at) || item.routedAt, line: rendered.line });
    await deps.redis.hset(key, { timeline: JSON.stringify(timeline), status: rendered.status });
  }
}

async function sendSingle(env: DeliveryEnv, item: ChatItem): Promise<void> {
  const family = incidentFamily(item.message);
  if (item.message.template === 'digest_held') {
    const held = (item.message.params.items as ChatItem[] | undefined) ?? [];
    return sendDigest(env, held, digestHeader.quiet);
  }
  if (isReport(item.message.template)) return sendReport(env, item);
  if (family !== undefined && item.message.leadId !== undefined) return sendIncident(env, item, family);
  return sendPlain(env, item);
}

/** What to do with an item that failed: Retry (throws), drop this chat, or give the item up. */
async function onFailure(
  env: DeliveryEnv,
  unitItems: ChatItem[],
  f: Failure,
  chatId: string,
  rest: ChatItem[],
): Promise<'gone' | 'skip'> {
  const { deps, k, log, retryDelay } = env;
  const counted = (outcome: string, reason: string, n = unitItems.length): void =>
    deps.metrics?.telegramDeliveries.inc({ outcome, reason }, n);
  if (f.kind === 'chat_gone') {
    counted('undeliverable', 'chat_gone', rest.length);
    await chatGone(env, chatId, f.reason, rest);
    return 'gone';
  }
  if (f.kind === 'rejected') {
    counted('undeliverable', 'rejected');
    log.error(
      { chatId, deliveryIds: unitItems.map((i) => i.deliveryId), reason: f.reason },
      'telegram: message rejected by Telegram; recorded as undeliverable',
    );
    for (const item of unitItems) await undeliverable(env, chatId, f.reason, item);
    await markDone(
      env,
      unitItems.map((i) => i.deliveryId),
    );
    return 'skip';
  }
  if (f.kind === 'rate_limited') counted('retried', 'rate_limited');
  if (f.kind === 'rate_limited') throw new RetryLaterError(`telegram asked to wait: ${f.reason}`, f.retryAfterMs);
  const first = unitItems[0]!;
  const attempts = await deps.redis.incr(k.attempts(first.deliveryId));
  await deps.redis.expire(k.attempts(first.deliveryId), DONE_TTL_SEC);
  if (attempts >= MAX_ITEM_ATTEMPTS) {
    counted('undeliverable', 'gave_up');
    log.error(
      { chatId, deliveryId: first.deliveryId, attempts, reason: 'reason' in f ? f.reason : f.kind },
      'telegram: message failed too often; recorded as undeliverable',
    );
    for (const item of unitItems)
      await undeliverable(
        env,
        chatId,
        `gave up after ${attempts} attempts: ${'reason' in f ? f.reason : f.kind}`,
        item,
      );
    await markDone(
      env,
      unitItems.map((i) => i.deliveryId),
    );
    return 'skip';
  }
  counted('retried', f.kind);
  log.warn(
    { chatId, deliveryId: first.deliveryId, attempts, reason: 'reason' in f ? f.reason : f.kind },
    'telegram: send failed, will retry',
  );
  throw new RetryLaterError(`telegram send failed (${'reason' in f ? f.reason : f.kind})`, retryDelay(attempts));
}

/** Sends everything queued for one chat, in order. Returns how many items left the queue. */
async function drainChat(env: DeliveryEnv, chatId: string): Promise<{ sent: number; busy?: boolean }> {
  const { deps, k, log, settings } = env;
  const token = randomBytes(8).toString('hex');
  if ((await deps.redis.set(k.lock(chatId), token, 'PX', LOCK_MS, 'NX')) !== 'OK') return { sent: 0, busy: true };
  let sent = 0;
  try {
    for (;;) {
      await deps.redis.multi().pexpire(k.lock(chatId), LOCK_MS).pexpire(k.flag(chatId), FLAG_MS).exec();
      const raw = await deps.redis.lrange(k.queue(chatId), 0, BATCH - 1);
      if (raw.length === 0) {
        const more = await deps.redis.eval(FINISH, 3, k.queue(chatId), k.flag(chatId), k.lock(chatId), token);
        if (more === 0) return { sent };
        continue;
      }
      // A message routed twice (a router's crash, or the sweep re-routing) is queued twice; it goes out once.
      const all = [...new Map(raw.map((r) => JSON.parse(r) as ChatItem).map((i) => [i.deliveryId, i])).values()];
      const done = await Promise.all(all.map((i) => deps.redis.exists(k.done(i.deliveryId))));
      const items = all.filter((_, i) => done[i] === 0);
      if (items.length > 0 && (await deps.redis.exists(k.dead(chatId))) === 1) {
        for (const item of items) await undeliverable(env, chatId, 'chat is gone (blocked the bot or deleted)', item);
        await markDone(
          env,
          items.map((i) => i.deliveryId),
        );
      } else {
        // Whether each item edits an existing incident message is decided now (an earlier item may have created it).
        for (const item of items) {
          const family = incidentFamily(item.message);
          item.edits =
            family !== undefined &&
            item.message.leadId !== undefined &&
            (await deps.redis.hexists(k.incident(chatId, item.message.leadId, family), 'messageId')) === 1;
        }
        const units: Array<Unit<ChatItem>> = groupBurst(items, settings().burstThreshold);
        let gone = false;
        for (const [u, unit] of units.entries()) {
          const unitItems = unit.kind === 'single' ? [unit.item] : unit.items;
          try {
            if (unit.kind === 'single') await sendSingle(env, unit.item);
            else await sendDigest(env, unit.items, digestHeader.burst);
            await markDone(
              env,
              unitItems.map((i) => i.deliveryId),
            );
            sent += unitItems.length;
          } catch (err) {
            if (err instanceof RetryLaterError) throw err;
            const rest = units.slice(u).flatMap((x) => (x.kind === 'single' ? [x.item] : x.items));
            const outcome = await onFailure(env, unitItems, classifyFailure(err), chatId, rest);
            if (outcome === 'gone') {
              await markDone(
                env,
                rest.map((i) => i.deliveryId),
              );
              gone = true;
              break;
            }
          }
        }
        if (gone) log.warn({ chatId }, 'telegram: chat is gone; the rest of its queue was recorded as undeliverable');
      }
      await deps.redis.ltrim(k.queue(chatId), raw.length, -1);
    }
  } finally {
    await deps.redis.eval(RELEASE, 1, k.lock(chatId), token);
  }
}

// ---- sweep -----------------------------------------------------------------------------------------------------

/** Moves a chat's held messages into its queue as one digest ("while quiet hours lasted: N"). */
async function releaseHeld(env: DeliveryEnv, chatId: string): Promise<number> {
  const { deps, k, now } = env;
  const raw = await deps.redis.lrange(k.held(chatId), 0, -1);
  if (raw.length > 0) {
    const items = raw.map((r) => JSON.parse(r) as ChatItem);
    const first = items[0]!;
    const reports = items.filter((i) => isReport(i.message.template));
    const alerts = items.filter((i) => !isReport(i.message.template));
    const queued: ChatItem[] = [...reports];
    if (alerts.length === 1) queued.push(alerts[0]!);
    else if (alerts.length > 1) {
      const id = `held:${hash(alerts.map((i) => i.deliveryId).join('|'))}`;
      queued.push({
        deliveryId: `${id}@${chatId}`,
        chatId,
        owner: first.owner,
        edits: false,
        routedAt: now(),
        message: {
          id,
          at: new Date(now()).toISOString(),
          audience: alerts[0]!.message.audience,
          template: 'digest_held',
          params: { items: alerts },
          reason: 'quiet hours ended',
          priority: 'normal',
        },
      });
      // The held items themselves are settled by the digest.
      await markDone(
        env,
        alerts.map((i) => i.deliveryId),
      );
    }
    const tx = deps.redis.multi();
    for (const q of queued) tx.rpush(k.queue(chatId), JSON.stringify(q));
    tx.sadd(k.chats, chatId).ltrim(k.held(chatId), raw.length, -1);
    await tx.exec();
  }
  // Atomic with the router's RPUSH+ZADD: a message held meanwhile keeps its chat in the index.
  await deps.redis.eval(
    `if redis.call('llen', KEYS[1]) == 0 then return redis.call('zrem', KEYS[2], ARGV[1]) end return 0`,
    2,
    k.held(chatId),
    k.heldIndex,
    chatId,
  );
  await scheduleChat(env, chatId);
  return raw.length;
}

async function sweep(
  env: DeliveryEnv,
): Promise<{ released: number; escalated: number; restarted: number; routed: number }> {
  const { deps, k, ledger, ok, log, settings, now } = env;
  const at = now();
  // Entries a crashed router left aside go back to the route list (no router holds the lock, so none is live).
  if ((await deps.redis.exists(k.routerLock)) === 0) {
    for (;;) {
      const back = await deps.redis.lmove(ok.routing, ok.route, 'RIGHT', 'LEFT'); // back to the head, in their order
      if (back === null) break;
    }
  }
  const routed = await route(env);
  let released = 0;
  for (const chatId of await deps.redis.zrangebyscore(k.heldIndex, '-inf', at))
    released += await releaseHeld(env, chatId);
  let escalated = 0;
  for (const raw of await deps.redis.zrangebyscore(k.escalations, '-inf', at, 'LIMIT', 0, 250)) {
    const entry = OutboxEntrySchema.parse(JSON.parse(raw)) as OutboxEntry;
    const violationId = String(entry.params.violationId ?? entry.id);
    // A violation its manager contested (or that was decided or cured) is with the РОП already, or over.
    const state = entry.params.violationId !== undefined ? (await ledger.byId(violationId))?.state : undefined;
    if ((await deps.redis.exists(k.resolved(violationId))) === 0 && (state === undefined || state === 'open')) {
      const after = ruDuration(settings().escalateAfterMs);
      await routeEntry(env, {
        ...entry,
        id: `${entry.id}:escalated`,
        params: { ...entry.params, escalated: true, escalatedAfter: after },
      });
      escalated += 1;
      log.info({ leadId: entry.leadId, violationId }, 'telegram: violation still open; escalated to the РОП');
    }
    await deps.redis.zrem(k.escalations, raw);
  }
  let restarted = 0;
  for (const chatId of await deps.redis.smembers(k.chats)) {
    if ((await deps.redis.llen(k.queue(chatId))) === 0) {
      await deps.redis.srem(k.chats, chatId);
      continue;
    }
    if ((await deps.redis.exists(k.flag(chatId))) === 0) {
      restarted += 1;
      await scheduleChat(env, chatId);
    }
  }
  return { released, escalated, restarted, routed };
}

export type Delivery = ReturnType<typeof createDelivery>;
