/** The audit log: every write made through the admin API (who, what, when, outcome), one Redis stream. */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../store/keys.js';

export const AUDIT_MAXLEN = 100_000;

export const AuditEntrySchema = z.object({
  at: z.string(),
  /** The named admin, `token` (the shared bearer) or `session:<first 8 chars>` of a token session; never a secret. */
  actor: z.string(),
  /** The client address (the proxy's X-Forwarded-For with TRUST_PROXY). */
  address: z.string().optional(),
  action: z.string(),
  outcome: z.enum(['ok', 'refused', 'invalid', 'unchanged']),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export interface AuditLog {
  write(entry: AuditEntry): Promise<void>;
  list(limit?: number): Promise<Array<AuditEntry & { id: string }>>;
}

export function createAuditLog(redis: Redis, keys: Keys): AuditLog {
  const stream = keys.of('admin', 'audit');
  return {
    async write(entry) {
      await redis.xadd(stream, 'MAXLEN', '~', String(AUDIT_MAXLEN), '*', 'data', JSON.stringify(entry));
    },
    async list(limit = 100) {
      const rows = (await redis.xrevrange(stream, '+', '-', 'COUNT', limit)) as Array<[string, string[]]>;
      return rows.map(([id, fields]) => ({
        id,
        ...AuditEntrySchema.parse(JSON.parse(fields[fields.indexOf('data') + 1] ?? '{}')),
      }));
    },
  };
}
