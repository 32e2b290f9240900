/**
 * R2 distribution (seed 001 "робот назначает ответственного"; seed 002 §1.1): who may get a lead now, and the
 * reference strategies. The atomic pick across workers runs in Redis (src/store/distribution-store.ts) and
 * mirrors `smoothWeightedRoundRobin` exactly; unit tests hold the two to the same sequence.
 */
import { isAbsentAt, isOnShift } from '../schedule/shifts.js';
import type { Candidate, CompiledDepartment, RuleContext, Skipped, SkipReason } from '../types.js';

export interface Eligibility {
  eligible: Candidate[];
  skipped: Skipped[];
}

/** Eligible = in the department, active in amoCRM, not paused (in config or at run time, R2 seed 002 §2.13), not absent, on shift now, under the cap, not excluded. */
export function eligibleCandidates(
  dept: CompiledDepartment,
  ctx: RuleContext,
  excluded: ReadonlySet<number>,
): Eligibility {
  const { rules, now, loads } = ctx;
  const out: Eligibility = { eligible: [], skipped: [] };
  for (const m of dept.managers) {
    let reason: SkipReason | undefined;
    // The pause's own reason goes into the explanation: "paused" alone does not tell the РОП why.
    const pause =
      m.paused ??
      ctx.paused?.get(`manager:${m.userId}`)?.reason ??
      dept.paused ??
      ctx.paused?.get(`department:${dept.name}`)?.reason;
    if (!rules.activeUserIds.has(m.userId)) reason = 'inactive';
    else if (excluded.has(m.userId)) reason = 'missed_this_lead';
    else if (pause !== undefined) reason = 'paused';
    else if (isAbsentAt(m, now, rules.timeZone)) reason = 'absent';
    else if (!isOnShift(m, now, rules.calendar, rules.timeZone)) reason = 'off_shift';
    else if ((loads.get(m.userId) ?? 0) >= m.cap) reason = 'at_cap';
    if (reason) {
      out.skipped.push(
        reason === 'paused' && pause !== undefined
          ? { userId: m.userId, reason, detail: pause }
          : { userId: m.userId, reason },
      );
      continue;
    }
    // R11, seed 001 «Правило распределения лидов»: the month's 3 worst get fewer new leads.
    const f = ctx.weightFactors?.get(m.userId);
    if (f !== undefined && f.factor !== 1) {
      out.eligible.push({
        userId: m.userId,
        weight: m.weight * f.factor,
        cap: m.cap,
        factor: { baseWeight: m.weight, factor: f.factor, reason: f.reason },
      });
    } else out.eligible.push({ userId: m.userId, weight: m.weight, cap: m.cap });
  }
  return out;
}

/**
 * nginx's smooth weighted round-robin: every candidate's current weight grows by its weight, the largest wins
 * and gives back the total. Shares match the weights and a heavy manager's turns are spread, not bunched.
 */
export function smoothWeightedRoundRobin(
  current: Readonly<Record<string, number>>,
  candidates: Candidate[],
): { winner: number | undefined; next: Record<string, number> } {
  const next: Record<string, number> = { ...current };
  let total = 0;
  let best: number | undefined;
  for (const c of candidates) {
    const key = String(c.userId);
    next[key] = (next[key] ?? 0) + c.weight;
    total += c.weight;
    if (best === undefined || (next[key] ?? 0) > (next[String(best)] ?? 0)) best = c.userId;
  }
  if (best !== undefined) next[String(best)] = (next[String(best)] ?? 0) - total;
  return { winner: best, next };
}

/** The candidate with the fewest untaken leads for their weight; ties go to the lower id for determinism. */
export function leastLoaded(loads: ReadonlyMap<number, number>, candidates: Candidate[]): number | undefined {
  let best: Candidate | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = (loads.get(c.userId) ?? 0) / c.weight;
    if (score < bestScore || (score === bestScore && best !== undefined && c.userId < best.userId)) {
      best = c;
      bestScore = score;
    }
  }
  return best?.userId;
}
