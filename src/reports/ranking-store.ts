/**
 * R11 weight factors (seed 001 «Правило распределения лидов»: the 3 worst get fewer new leads next month).
 *
 * One Redis hash per month the factors apply to, `<prefix>:ranking:<YYYY-MM>`:
 * - `meta`: `{ month, rankedMonth, validFromMs, validToMs }` (the local month as instants);
 * - `dept:<name>`: the department's ranking of `rankedMonth` as sent to the РОП;
 * - `factor:<userId>`: `{ factor, reason, department, setAt, revertedBy?, revertedAt? }`.
 * The first ranking saved for a month wins (HSETNX): a repeated job never re-applies a factor the РОП reverted.
 * Setting and reverting a factor are both in the record (`action` / `weight_factor_set`, `weight_factor_reverted`).
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../store/keys.js';
import type { RecordStore } from '../store/record-store.js';
import type { Ranking } from './compute.js';

export const WeightFactorSchema = z.object({
  factor: z.number().positive(),
  reason: z.string(),
  department: z.string(),
  setAt: z.string(),
  revertedBy: z.string().optional(),
  revertedAt: z.string().optional(),
});
export type WeightFactor = z.infer<typeof WeightFactorSchema>;

const MetaSchema = z.object({
  month: z.string(),
  rankedMonth: z.string(),
  validFromMs: z.number(),
  validToMs: z.number(),
});
type Meta = z.infer<typeof MetaSchema>;

const RankingSchema = z.object({
  department: z.string(),
  minLeads: z.number(),
  worst: z.array(z.number()),
  recordsUpTo: z.string().optional(),
  rows: z.array(
    z.object({
      userId: z.number(),
      name: z.string(),
      received: z.number(),
      meetingsHeld: z.number(),
      conversion: z.number().optional(),
      position: z.number().optional(),
      factor: z.number().optional(),
      violations: z.object({ counted: z.number(), disputed: z.number(), withdrawn: z.number() }).optional(),
    }),
  ),
});

const rankingKey = (keys: Keys, month: string): string => keys.of('ranking', month);

const parseJson = <T>(schema: z.ZodType<T>, raw: string | null | undefined): T | undefined => {
  if (raw === null || raw === undefined) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
};

const utcMonth = (ms: number): string => new Date(ms).toISOString().slice(0, 7);
/** No zone is more than 14 hours from UTC, so the local month of `now` is one of these UTC months. */
const candidateMonths = (now: number): string[] => [
  ...new Set([utcMonth(now - 14 * 3600_000), utcMonth(now), utcMonth(now + 14 * 3600_000)]),
];

/** The factors in force at `now`, by user id, for `RuleContext.weightFactors`. Reverted ones are left out. */
export async function loadWeightFactors(
  redis: Redis,
  keys: Keys,
  now: number,
): Promise<Map<number, { factor: number; reason: string }>> {
  const out = new Map<number, { factor: number; reason: string }>();
  for (const month of candidateMonths(now)) {
    const all = await redis.hgetall(rankingKey(keys, month));
    const meta = parseJson(MetaSchema, all.meta);
    if (meta === undefined || now < meta.validFromMs || now >= meta.validToMs) continue;
    for (const [field, raw] of Object.entries(all)) {
      if (!field.startsWith('factor:')) continue;
      const f = parseJson(WeightFactorSchema, raw);
      if (f !== undefined && f.revertedBy === undefined)
        out.set(Number(field.slice('factor:'.length)), { factor: f.factor, reason: f.reason });
    }
  }
  return out;
}

export interface RankingStore {
  /**
   * Saves a department's ranking of `meta.rankedMonth` and the factors of its worst for `meta.month`; returns
   * the ranking and factors in force (the first saved ones when this month was already ranked).
   */
  save(
    meta: Meta,
    ranking: Ranking,
    factors: Map<number, string>,
    at: string,
  ): Promise<{ ranking: Ranking; factors: Array<{ userId: number } & WeightFactor> }>;
  factors(month: string, department?: string): Promise<Array<{ userId: number } & WeightFactor>>;
  /** The department's ranking saved for `month` (the month its factors apply to), if it was ranked. */
  ranking(month: string, department: string): Promise<Ranking | undefined>;
  /** РОП's undo: the factor of `userId` in `month` stops applying; who did it is kept and recorded. */
  revertWeightFactor(month: string, userId: number, by: string): Promise<{ reverted: boolean; reason: string }>;
}

export function createRankingStore(redis: Redis, keys: Keys, records: RecordStore, clock: () => Date): RankingStore {
  const factors = async (month: string, department?: string): Promise<Array<{ userId: number } & WeightFactor>> => {
    const all = await redis.hgetall(rankingKey(keys, month));
    return Object.entries(all)
      .filter(([field]) => field.startsWith('factor:'))
      .flatMap(([field, raw]) => {
        const f = parseJson(WeightFactorSchema, raw);
        return f !== undefined && (department === undefined || f.department === department)
          ? [{ userId: Number(field.slice('factor:'.length)), ...f }]
          : [];
      })
      .sort((a, b) => a.userId - b.userId);
  };

  return {
    factors,
    async ranking(month, department) {
      return parseJson(RankingSchema, await redis.hget(rankingKey(keys, month), `dept:${department}`));
    },
    async save(meta, ranking, reasons, at) {
      const key = rankingKey(keys, meta.month);
      const pipeline = redis
        .multi()
        .hsetnx(key, 'meta', JSON.stringify(meta))
        .hsetnx(key, `dept:${ranking.department}`, JSON.stringify(ranking));
      for (const userId of ranking.worst) {
        const row = ranking.rows.find((r) => r.userId === userId);
        const value: WeightFactor = {
          factor: row?.factor ?? 1,
          reason: reasons.get(userId) ?? '',
          department: ranking.department,
          setAt: at,
        };
        pipeline.hsetnx(key, `factor:${userId}`, JSON.stringify(value));
      }
      // Kept a year: the РОП may look back at last year's rankings.
      await pipeline.expire(key, 400 * 24 * 3600).exec();
      const saved = parseJson(RankingSchema, await redis.hget(key, `dept:${ranking.department}`)) ?? ranking;
      const inForce = await factors(meta.month, ranking.department);
      for (const f of inForce) {
        await records.append(
          {
            kind: 'action',
            type: 'weight_factor_set',
            at,
            leadId: 0,
            userId: f.userId,
            rule: 'R11',
            seed: 'seed 001 «Правило распределения лидов»',
            department: ranking.department,
            reason: `distribution weight ×${f.factor} for ${meta.month}: ${f.reason}`,
          },
          `ranking:factor:${meta.month}:${f.userId}`,
        );
      }
      return { ranking: saved, factors: inForce };
    },
    async revertWeightFactor(month, userId, by) {
      const key = rankingKey(keys, month);
      const current = parseJson(WeightFactorSchema, await redis.hget(key, `factor:${userId}`));
      if (current === undefined) return { reverted: false, reason: `no weight factor for user ${userId} in ${month}` };
      if (current.revertedBy !== undefined)
        return { reverted: false, reason: `already reverted by ${current.revertedBy} at ${current.revertedAt ?? '?'}` };
      const at = clock().toISOString();
      await redis.hset(key, `factor:${userId}`, JSON.stringify({ ...current, revertedBy: by, revertedAt: at }));
      await records.append(
        {
          kind: 'action',
          type: 'weight_factor_reverted',
          at,
          leadId: 0,
          userId,
          rule: 'R11',
          department: current.department,
          reason: `distribution weight factor ×${current.factor} for ${month} reverted by ${by}`,
        },
        `ranking:revert:${month}:${userId}`,
      );
      return { reverted: true, reason: `reverted by ${by}` };
    },
  };
}
