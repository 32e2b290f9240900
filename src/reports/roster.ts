/**
 * Who the reports are about: departments, their managers' names, the time zone and the report settings, taken
 * from the compiled rules. The service saves it to Redis (`<prefix>:reports:roster`) whenever it runs a report,
 * so `npm run report` computes from the record with the same departments and names without reaching amoCRM.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { CompiledRules } from '../rules/types.js';
import type { Keys } from '../store/keys.js';
import type { ReportRecord } from './records.js';

export const RosterSchema = z.object({
  timeZone: z.string().min(1),
  departments: z.array(
    z.object({
      name: z.string().min(1),
      headUserId: z.number().int().optional(),
      chatId: z.string().optional(),
      managers: z.array(z.object({ userId: z.number().int(), name: z.string() })),
    }),
  ),
  sources: z.array(z.string()),
  dailyAtMin: z.number().int().min(0).max(1439),
  monthlyAtMin: z.number().int().min(0).max(1439),
  unansweredCallsNormal: z.number().min(0).max(1),
  contactedToMeetingMin: z.number().min(0).max(1),
  ranking: z.object({
    minLeads: z.number().int().nonnegative(),
    worst: z.number().int().positive(),
    weightFactor: z.number().positive().max(1),
  }),
});
export type Roster = z.infer<typeof RosterSchema>;
export type RosterDepartment = Roster['departments'][number];

/** The shipped defaults of the `rules.reports` section (seed 004 rules 7.4-7.5, seed 001 ranking). */
export const DEFAULT_REPORT_SETTINGS = {
  sources: ['Авито', 'Циан', 'Яндекс', 'Домклик', 'Сайт'],
  dailyAtMin: 20 * 60,
  monthlyAtMin: 10 * 60,
  unansweredCallsNormal: 0.19,
  contactedToMeetingMin: 0.3,
  ranking: { minLeads: 10, worst: 3, weightFactor: 0.5 },
} as const;

export function rosterFromRules(rules: CompiledRules): Roster {
  const r = rules.reports;
  return {
    timeZone: rules.timeZone,
    departments: rules.departments.map((d) => ({
      name: d.name,
      headUserId: d.headUserId,
      ...(d.telegramChat !== undefined && d.telegramChat !== '' ? { chatId: d.telegramChat } : {}),
      managers: d.managers.map((m) => ({ userId: m.userId, name: rules.userNames.get(m.userId) ?? m.name })),
    })),
    sources: r ? r.sources.map((s) => s.name) : [...DEFAULT_REPORT_SETTINGS.sources],
    dailyAtMin: r?.dailyAtMin ?? DEFAULT_REPORT_SETTINGS.dailyAtMin,
    monthlyAtMin: r?.monthlyAtMin ?? DEFAULT_REPORT_SETTINGS.monthlyAtMin,
    unansweredCallsNormal: r?.unansweredCallsNormal ?? DEFAULT_REPORT_SETTINGS.unansweredCallsNormal,
    contactedToMeetingMin: r?.contactedToMeetingMin ?? DEFAULT_REPORT_SETTINGS.contactedToMeetingMin,
    ranking: r ? { ...r.ranking } : { ...DEFAULT_REPORT_SETTINGS.ranking },
  };
}

/**
 * A roster from the record alone, when the service never saved one: departments named in assignment
 * explanations and activity records, managers by id. Numbers are the same; only names are missing.
 */
export function rosterFromRecords(records: ReportRecord[], timeZone: string): Roster {
  const byDept = new Map<string, Set<number>>();
  const add = (dept: string | undefined, userId: number | undefined): void => {
    // 0 is amoCRM's robot: never a manager.
    if (dept === undefined || userId === undefined || userId <= 0) return;
    const set = byDept.get(dept) ?? new Set<number>();
    set.add(userId);
    byDept.set(dept, set);
  };
  for (const r of records) {
    const e = r.explanation as { department?: unknown } | undefined;
    const dept = r.department ?? (typeof e?.department === 'string' ? e.department : undefined);
    if (r.kind === 'assignment' || r.kind === 'reassignment' || r.kind === 'action') add(dept, r.userId);
  }
  return {
    ...DEFAULT_REPORT_SETTINGS,
    sources: [...DEFAULT_REPORT_SETTINGS.sources],
    ranking: { ...DEFAULT_REPORT_SETTINGS.ranking },
    timeZone,
    departments: [...byDept].map(([name, ids]) => ({
      name,
      managers: [...ids].sort((a, b) => a - b).map((userId) => ({ userId, name: `#${userId}` })),
    })),
  };
}

export function createRosterStore(redis: Redis, keys: Keys) {
  const key = keys.of('reports', 'roster');
  return {
    async save(roster: Roster): Promise<void> {
      await redis.set(key, JSON.stringify(roster));
    },
    async load(): Promise<Roster | undefined> {
      const raw = await redis.get(key);
      if (raw === null) return undefined;
      const parsed = RosterSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    },
  };
}
