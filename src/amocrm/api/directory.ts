/**
 * The account directory (pipelines with stages, users, groups, time zone, the integration's own user), read from
 * amoCRM and refreshed periodically; plus the lookups that resolve names as an admin sees them to ids.
 * Lead custom fields and tags are read separately (fetchLeadNames): only the admin editor lists them.
 */
import type { AccountDirectory, DirectoryPipeline, DirectoryUser } from '../../rules/directory.js';
import type { AmoClient } from './client.js';

/** The account's lead custom fields and lead tags, as the admin editor lists them. */
export interface LeadNames {
  fields: Array<{ id: number; name: string; type: string }>;
  tags: Array<{ id: number; name: string }>;
}

export async function fetchLeadNames(
  client: Pick<AmoClient, 'listLeadCustomFields' | 'listLeadTags'>,
): Promise<LeadNames> {
  const [fields, tags] = await Promise.all([client.listLeadCustomFields(), client.listLeadTags()]);
  return { fields, tags };
}

export async function fetchDirectory(
  client: Pick<AmoClient, 'getAccount' | 'listUsers' | 'listPipelines'>,
): Promise<AccountDirectory> {
  const [account, users, pipelines] = await Promise.all([
    client.getAccount(),
    client.listUsers(),
    client.listPipelines(),
  ]);
  const dir: AccountDirectory = {
    accountId: account.id,
    timeZone: account.datetime_settings?.timezone ?? account.timezone ?? 'Europe/Moscow',
    pipelines: pipelines.map((p) => {
      const pipeline: DirectoryPipeline = {
        id: p.id,
        name: p.name,
        statuses: p._embedded.statuses.map((s) => ({
          id: s.id,
          name: s.name,
          ...(s.type !== undefined ? { type: s.type } : {}),
          ...(s.sort !== undefined ? { sort: s.sort } : {}),
        })),
      };
      if (p.is_main !== undefined) pipeline.isMain = p.is_main;
      return pipeline;
    }),
    users: users.map((u) => {
      const user: DirectoryUser = {
        id: u.id,
        name: u.name,
        isActive: u.rights?.is_active ?? true,
        isAdmin: u.rights?.is_admin ?? false,
      };
      if (u.email) user.email = u.email;
      const groupId = u.rights?.group_id;
      if (typeof groupId === 'number') user.groupId = groupId;
      return user;
    }),
    groups: (account._embedded?.users_groups ?? []).map((g) => ({ id: g.id, name: g.name })),
  };
  if (account.subdomain) dir.subdomain = account.subdomain;
  if (account.current_user_id !== undefined) dir.currentUserId = account.current_user_id;
  return dir;
}

export interface DirectoryCache {
  get(): AccountDirectory;
  refresh(): Promise<AccountDirectory>;
  stop(): void;
}

/** Loads the directory once (the start fails if amoCRM cannot be read) and refreshes it in the background. */
export async function createDirectoryCache(options: {
  client: Pick<AmoClient, 'getAccount' | 'listUsers' | 'listPipelines'>;
  refreshMs?: number;
  onError?: (err: unknown) => void;
  onChange?: (dir: AccountDirectory) => void;
}): Promise<DirectoryCache> {
  let current = await fetchDirectory(options.client);
  const refresh = async (): Promise<AccountDirectory> => {
    const next = await fetchDirectory(options.client);
    const changed = JSON.stringify(next) !== JSON.stringify(current);
    current = next;
    if (changed) options.onChange?.(next);
    return next;
  };
  const timer = setInterval(
    () => {
      refresh().catch((err: unknown) => options.onError?.(err));
    },
    options.refreshMs ?? 10 * 60_000,
  );
  timer.unref();
  return { get: () => current, refresh, stop: () => clearInterval(timer) };
}
