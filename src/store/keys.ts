/**
 * Every Redis key the service writes, in one place. All keys start with the install's prefix (so one Redis can
 * hold several installs and `SCAN MATCH <prefix>*` finds them all), and carry a Redis Cluster hash tag that
 * decides which keys must share a slot:
 *
 * - `{<prefix>}`: the queues and the intake. BullMQ keeps a queue in one slot, and the webhook path writes the
 *   raw body and the dead letters in the same pipeline as its jobs, so they share the tag.
 * - `{<prefix>:dist}`: the distribution state one Lua script touches at once (pool weights, per-manager loads,
 *   per-lead owner and answer).
 * - `{<id>}` in `<prefix>:lead:{<id>}…`: everything of one lead, so a lead's keys move together and leads spread
 *   across the cluster.
 * - `<prefix>:{<group>}:…` (`tagged`): a module whose scripts and transactions touch several of its keys at once:
 *   `timers`, `tg` (Telegram delivery and links), `outbox`, `rules` (the stored rules versions), `record-late`
 *   (the record's late index, read for a range of days in one pipeline).
 * - every other key (the record stream and its daily archive, marks, sessions) is touched alone, one per command.
 */
/** The modules whose keys share one slot each (see `Keys.tagged`). */
export type KeyGroup = 'timers' | 'tg' | 'outbox' | 'rules' | 'record-late' | 'ledger';

export interface Keys {
  prefix: string;
  /** BullMQ's `prefix` option: `<prefix>:{<prefix>}`, so every queue key carries the intake tag. */
  bullPrefix: string;
  raw(deliveryId: string): string;
  deadLetter(): string;
  /**
   * The lead's hash (`<prefix>:lead:{<id>}`): its state, every rule's state, the effect intents and task refs, all in
   * one key so one atomic step commits them. The `{id}` hash tag keeps a lead's keys in one Redis Cluster slot.
   */
  lead(leadId: number): string;
  leadLock(leadId: number): string;
  /** A key of one lead: `<prefix>:lead:{<id>}:<parts>`. */
  leadPart(leadId: number, ...parts: Array<string | number>): string;
  /** A distribution key: `<prefix>:dist:{<prefix>:dist}:<parts>`. */
  dist(...parts: Array<string | number>): string;
  /** A key of a group touched together: `<prefix>:{<group>}:<parts>`; the group is the Redis Cluster hash tag. */
  tagged(group: KeyGroup, ...parts: Array<string | number>): string;
  of(...parts: Array<string | number>): string;
}

export function createKeys(prefix: string): Keys {
  if (/[{}]/.test(prefix))
    throw new Error(`REDIS_PREFIX must not contain braces (they are Redis Cluster hash tags): ${prefix}`);
  const k = (...parts: Array<string | number>): string => [prefix, ...parts].join(':');
  const queueTag = `{${prefix}}`;
  const distTag = `{${prefix}:dist}`;
  const leadKey = (leadId: number): string => `${prefix}:lead:{${leadId}}`;
  return {
    prefix,
    bullPrefix: k(queueTag),
    raw: (deliveryId) => k(queueTag, 'webhook', 'raw', deliveryId),
    deadLetter: () => k(queueTag, 'webhook', 'dead-letter'),
    lead: leadKey,
    leadLock: (leadId) => `${leadKey(leadId)}:lock`,
    leadPart: (leadId, ...parts) => [leadKey(leadId), ...parts].join(':'),
    dist: (...parts) => k('dist', distTag, ...parts),
    tagged: (group, ...parts) => k(`{${group}}`, ...parts),
    of: k,
  };
}
