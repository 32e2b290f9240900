/** The simulator's seed account as the rules see it (AccountDirectory), for tests and offline rule checks. */
import type { AccountDirectory } from '../src/rules/directory.js';
import { ACCOUNT, ADMIN_ID, SEED_GROUPS, SEED_USERS, seedPipeline } from './account.js';

export function seedDirectory(): AccountDirectory {
  const p = seedPipeline();
  return {
    accountId: ACCOUNT.id,
    subdomain: ACCOUNT.subdomain,
    timeZone: ACCOUNT.timeZone,
    currentUserId: ADMIN_ID,
    pipelines: [
      {
        id: p.id,
        name: p.name,
        isMain: true,
        statuses: p.statuses.map((s) => ({ id: s.id, name: s.name, type: s.type, sort: s.sort })),
      },
    ],
    users: SEED_USERS.map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      isActive: u.isActive,
      isAdmin: u.isAdmin,
      groupId: u.groupId,
    })),
    groups: SEED_GROUPS.map((g) => ({ ...g })),
  };
}
