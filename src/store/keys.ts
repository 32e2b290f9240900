/**
 * Every Redis key the service writes, in one place. All keys live under the install's prefix;
 * BullMQ queues use the same prefix through their own `prefix` option.
 */
export interface Keys {
  prefix: string;
  raw(deliveryId: string): string;
  dedupe(dedupeKey: string): string;
  deadLetter(): string;
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
    lead: (leadId) => k('lead', leadId),
    leadLock: (leadId) => k('lead', leadId, 'lock'),
    of: k,
  };
}
