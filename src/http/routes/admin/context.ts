/**
 * What the admin routes share: their dependencies, who is asking, the audit log, the refusal shape and the helpers
 * every route group uses. Built once per admin plugin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { stringify as toYaml } from 'yaml';
import { createAuditLog, type AuditEntry, type AuditLog } from '../../../admin/audit.js';
import type { AdminAccounts } from '../../../admin/accounts.js';
import type { AdminSession } from '../../../admin/auth.js';
import type { LeadNames } from '../../../amocrm/api/directory.js';
import type { Clock } from '../../../lib/clock.js';
import type { Logger } from '../../../lib/logger.js';
import type { AccountDirectory } from '../../../rules/directory.js';
import { createIntakeStore, type IntakeStore } from '../../../store/intake-store.js';
import type { Keys } from '../../../store/keys.js';
import type { RecordStore, StoredRecord } from '../../../store/record-store.js';
import type { RulesSource } from '../../../store/rules-source.js';
import type { WebhookInbox } from '../../../store/webhook-inbox.js';

/** The session cookie and the header a session sends its CSRF token in. */
export const SESSION_COOKIE = 'amo_admin';
export const CSRF_HEADER = 'x-csrf-token';

/** Which route wins when both are used: shown on the page and returned by GET /admin/api/config. */
export const SOURCE_RULE =
  'Действует последнее изменение, каким бы путём оно ни пришло: правка файла RULES_FILE становится новой версией, ' +
  'применение на этой странице — тоже. Файл сервис не переписывает; если после правки здесь файл изменят снова, победит файл.';

export interface AdminDeps {
  token: string;
  sessionMinutes: number;
  source: RulesSource;
  redis: Redis;
  keys: Keys;
  inbox: Pick<WebhookInbox, 'getRaw' | 'listDeadLetters'>;
  records: Pick<RecordStore, 'range' | 'forLead'>;
  /** The amoCRM directory for name lists, warnings and the dry run. */
  directory: () => Promise<AccountDirectory>;
  /** Lead custom fields and tags from amoCRM for the editor's lists; without it the directory lists none. */
  leadNames?: () => Promise<LeadNames>;
  /** Queues shown in the queue view. */
  queues?: Queue[];
  clock: Clock;
  logger: Logger;
  /** Sign-in attempts per minute, per account (or the token) and client address. */
  signInPerMinute?: number;
  /** Named admins (ADMINS_FILE); without them only the shared token signs in. */
  accounts?: AdminAccounts;
}

export type Actor = { kind: 'token' } | { kind: 'session'; session: AdminSession };

declare module 'fastify' {
  interface FastifyRequest {
    adminActor?: Actor;
  }
}

export const fail = (res: FastifyReply, status: number, code: string, message: string): FastifyReply =>
  res.code(status).send({ error: { code, message } });

/** Who did it, as the history shows it: the admin's name, or how the shared token was used. */
export const actorName = (a: Actor | undefined): string =>
  a === undefined
    ? 'anonymous'
    : a.kind === 'token'
      ? 'token'
      : (a.session.admin ?? `session:${a.session.id.slice(0, 8)}`);

export function recordsOf(rows: StoredRecord[], kinds: ReadonlyArray<string>): StoredRecord[] {
  return rows.filter((r) => kinds.includes(r.kind));
}

export const ASSIGNMENT_KINDS = ['assignment', 'reassignment', 'fallback'] as const;
export const INTAKE_KINDS = ['intake_paused', 'intake_resumed'] as const;
/** Intake records are kept under lead 0 (they are about people, not a lead); the listing shows the latest. */
export const INTAKE_HISTORY = 50;

export interface AdminContext {
  deps: AdminDeps;
  audit: AuditLog;
  intake: IntakeStore;
  log: Logger;
  now: () => string;
  /** Every admin write, refused or done, goes to the audit log and the log. */
  writeAudit: (
    req: FastifyRequest,
    action: string,
    outcome: AuditEntry['outcome'],
    detail?: Record<string, unknown>,
  ) => Promise<void>;
  /** A draft as text: the YAML given, or the config object written as YAML. */
  draftText: (d: { text?: string | undefined; config?: Record<string, unknown> | undefined }) => string;
  /** The amoCRM names of users, for exports. */
  userNames: () => Promise<(userId: number | undefined) => string>;
}

export function createAdminContext(deps: AdminDeps): AdminContext {
  const audit = createAuditLog(deps.redis, deps.keys);
  const intake = createIntakeStore(deps.redis, deps.keys);
  const log = deps.logger.child({ component: 'admin' });
  const now = (): string => deps.clock.now().toISOString();

  const writeAudit = async (
    req: FastifyRequest,
    action: string,
    outcome: AuditEntry['outcome'],
    detail?: Record<string, unknown>,
  ): Promise<void> => {
    const entry: AuditEntry = {
      at: now(),
      actor: actorName(req.adminActor),
      address: req.ip,
      action,
      outcome,
      ...(detail ? { detail } : {}),
    };
    log.info({ audit: entry }, `admin ${action}: ${outcome}`);
    await audit.write(entry);
  };

  const draftText = (d: { text?: string | undefined; config?: Record<string, unknown> | undefined }): string =>
    d.text ?? toYaml(d.config ?? {});

  const userNames = async (): Promise<(userId: number | undefined) => string> => {
    const names = new Map((await deps.directory()).users.map((u) => [u.id, u.name]));
    return (userId) => (userId === undefined ? '' : (names.get(userId) ?? ''));
  };
  return { deps, audit, intake, log, now, writeAudit, draftText, userNames };
}
