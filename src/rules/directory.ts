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
