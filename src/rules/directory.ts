/**
 * What the rules need to know about the amoCRM account: pipelines with their stages, users, user groups,
 * the account's time zone and the integration's own user. The amoCRM client fills it from the API (and keeps it
 * fresh); the rules config names stages and users as an admin sees them and is resolved against it.
 */
export interface DirectoryStatus {
  id: number;
  name: string;
  /** amoCRM status type: 0 regular, 1 "unsorted" (Неразобранное); 142 won and 143 lost are ids, not types. */
  type?: number;
  sort?: number;
}

export interface DirectoryPipeline {
  id: number;
  name: string;
  isMain?: boolean;
  statuses: DirectoryStatus[];
}

export interface DirectoryUser {
  id: number;
  name: string;
  email?: string;
  isActive: boolean;
  isAdmin: boolean;
  groupId?: number;
}

export interface DirectoryGroup {
  id: number;
  name: string;
}

export interface AccountDirectory {
  accountId?: number;
  subdomain?: string;
  /** IANA zone from the account's datetime settings, e.g. "Europe/Moscow". */
  timeZone: string;
  /** The user the integration acts as; its writes come back in webhooks with this modified_user_id. */
  currentUserId?: number;
  pipelines: DirectoryPipeline[];
  users: DirectoryUser[];
  groups: DirectoryGroup[];
}

/** Names in the rules file resolved against the account: case, «ё» and spacing do not matter. */
export type Resolved<T> = { ok: true; value: T } | { ok: false; error: string };

const norm = (s: string): string => s.trim().toLocaleLowerCase('ru').replace(/ё/g, 'е').replace(/\s+/g, ' ');

export function resolvePipeline(dir: AccountDirectory, name: string): Resolved<DirectoryPipeline> {
  const found = dir.pipelines.find((p) => norm(p.name) === norm(name));
  return found
    ? { ok: true, value: found }
    : {
        ok: false,
        error: `pipeline "${name}" does not exist; pipelines: ${dir.pipelines.map((p) => `"${p.name}"`).join(', ')}`,
      };
}

export function resolveStatus(
  dir: AccountDirectory,
  pipelineName: string,
  statusName: string,
): Resolved<{ pipelineId: number; statusId: number }> {
  const pipeline = resolvePipeline(dir, pipelineName);
  if (!pipeline.ok) return pipeline;
  const status = pipeline.value.statuses.find((s) => norm(s.name) === norm(statusName));
  return status
    ? { ok: true, value: { pipelineId: pipeline.value.id, statusId: status.id } }
    : {
        ok: false,
        error: `stage "${statusName}" does not exist in pipeline "${pipeline.value.name}"; stages: ${pipeline.value.statuses.map((s) => `"${s.name}"`).join(', ')}`,
      };
}

export function resolveUser(dir: AccountDirectory, name: string): Resolved<DirectoryUser> {
  const found = dir.users.filter(
    (u) => norm(u.name) === norm(name) || (u.email !== undefined && norm(u.email) === norm(name)),
  );
  if (found.length === 1) return { ok: true, value: found[0]! };
  if (found.length > 1)
    return {
      ok: false,
      error: `user "${name}" is ambiguous: ${found.length} users have that name; use the e-mail instead`,
    };
  return {
    ok: false,
    error: `user "${name}" does not exist; users: ${dir.users.map((u) => `"${u.name}"`).join(', ')}`,
  };
}

export function resolveGroup(dir: AccountDirectory, name: string): Resolved<{ id: number; name: string }> {
  const found = dir.groups.find((g) => norm(g.name) === norm(name));
  return found
    ? { ok: true, value: found }
    : {
        ok: false,
        error: `user group "${name}" does not exist; groups: ${dir.groups.map((g) => `"${g.name}"`).join(', ')}`,
      };
}
