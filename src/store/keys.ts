/**
 * Every Redis key the service writes, in one place. All keys live under the install's prefix;
 * BullMQ queues use the same prefix through their own `prefix` option.
 */
export interface Keys {
  prefix: string;
  raw(deliveryId: string): string;
  dedupe(dedupeKey: string): string;
  deadLetter(): string;
  /**
   * The lead's hash: its state, every rule's state, the effect intents and task refs, all in one key so one atomic
   * step commits them. The `{id}` hash tag keeps a lead's keys in one Redis Cluster slot.
   */
  lead(leadId: number): string;
  leadLock(leadId: number): string;
  of(...parts: Array<string | number>): string;
}

export function createKeys(prefix: string): Keys {
  const k = (...parts: Array<string | number>): string => [prefix, ...parts].join(':');
  return {
    prefix,
    raw: (deliveryId) => k('webhook', 'raw', deliveryId),
    dedupe: (dedupeKey) => k('webhook', 'seen', dedupeKey),
    deadLetter: () => k('webhook', 'dead-letter'),
    lead: (leadId) => k('lead', `{${leadId}}`),
    leadLock: (leadId) => k('lead', `{${leadId}}`, 'lock'),
    of: k,
  };
}
