/**
 * A due handler must move time forward: a plan that puts the timer it was handed back at or before now would be
 * handed to its rule again at once, and every pass could write to amoCRM (a task, a note) for nothing. Once may be
 * a deliberate re-check; twice in a row for the same timer, with no pass in between that moved it forward, is a
 * loop. The second such plan is refused: it is not carried out (a plan its handler already committed finishes, but
 * its timer is cancelled), it goes to the effects' dead letter with its plan, and the operator gets one
 * `ACTION NEEDED` log line per lead and rule a day.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { DueTimer, Plan } from '../rules/plan.js';
import type { Keys } from '../store/keys.js';
import { DEAD_LETTER_LIMIT } from './executor.js';
import { timerMember } from './timers.js';

/** Stalls in a row that make a loop. */
export const STALLS_TO_REFUSE = 2;
/** A stall count outlives any retry backoff of its timer, and no more. */
const STALL_TTL_SECONDS = 24 * 3600;

/** Pure: the due timers a plan reschedules at or before `now`, with that plan. */
export function stalls(
  due: DueTimer[],
  plans: Plan[],
  now: number,
): Array<{ timer: DueTimer; plan: Plan; dueAt: number }> {
  const byMember = new Map(due.map((t) => [timerMember(t.rule, t.leadId, t.key), t]));
  const out: Array<{ timer: DueTimer; plan: Plan; dueAt: number }> = [];
  for (const plan of plans) {
    for (const e of plan.effects) {
      if (e.kind !== 'schedule_timer' || e.dueAt > now) continue;
      const timer = byMember.get(timerMember(e.rule, e.leadId, e.key));
      if (timer) out.push({ timer, plan, dueAt: e.dueAt });
    }
  }
  return out;
}

export interface LoopGuard {
  /**
   * Counts this pass's stalls and forgets the timers that moved forward; returns the plans to refuse (their second
   * stall in a row), already dead-lettered and logged.
   */
  check(due: DueTimer[], plans: Plan[], now: number): Promise<Set<Plan>>;
}

export function createLoopGuard(deps: { redis: Redis; keys: Keys; logger: Logger; metrics: Metrics }): LoopGuard {
  const counts = deps.keys.tagged('timers', 'stalls');
  const deadLetterKey = deps.keys.of('effects', 'dead-letter');
  const log = deps.logger.child({ component: 'timers' });
  return {
    async check(due, plans, now) {
      const found = stalls(due, plans, now);
      const stalled = new Set(found.map((s) => s.timer));
      const pipeline = deps.redis.pipeline();
      const moved = due.filter((t) => !stalled.has(t));
      if (moved.length > 0) pipeline.hdel(counts, ...moved.map((t) => timerMember(t.rule, t.leadId, t.key)));
      for (const s of found) pipeline.hincrby(counts, timerMember(s.timer.rule, s.timer.leadId, s.timer.key), 1);
      if (found.length > 0) pipeline.expire(counts, STALL_TTL_SECONDS);
      if (moved.length === 0 && found.length === 0) return new Set();
      const replies = (await pipeline.exec()) ?? [];
      const offset = moved.length > 0 ? 1 : 0;
      const refused = new Set<Plan>();
      for (const [i, s] of found.entries()) {
        const count = Number(replies[offset + i]?.[1] ?? 0);
        if (count < STALLS_TO_REFUSE || refused.has(s.plan)) continue;
        refused.add(s.plan);
        const entry = {
          at: new Date(now).toISOString(),
          planId: s.plan.id,
          rule: s.plan.rule,
          leadId: s.plan.leadId,
          reason: s.plan.reason,
          notDone: s.plan.effects,
          error: {
            class: 'TimerLoop',
            message: `the ${s.timer.rule} due handler put timer "${s.timer.key}" back at ${new Date(s.dueAt).toISOString()}, not after now (${new Date(now).toISOString()}), ${count} times in a row`,
          },
          attempts: count,
        };
        // Two slots on a Redis Cluster: the dead letter with its trim in one step, the stall count apart.
        await deps.redis
          .multi()
          .lpush(deadLetterKey, JSON.stringify(entry))
          .ltrim(deadLetterKey, 0, DEAD_LETTER_LIMIT - 1)
          .exec();
        await deps.redis.hdel(counts, timerMember(s.timer.rule, s.timer.leadId, s.timer.key));
        deps.metrics.effectsDeadLettered.inc({ rule: s.plan.rule });
        const alertKey = deps.keys.of('effects', 'alerted', s.plan.leadId, s.plan.rule);
        if ((await deps.redis.set(alertKey, '1', 'EX', 24 * 3600, 'NX')) === 'OK') {
          deps.metrics.amoAlerts.inc({ kind: 'timer_loop' });
          log.error(
            { alert: 'timer_loop', ...entry },
            `ACTION NEEDED: the ${s.plan.rule} rule keeps rescheduling lead ${s.plan.leadId} at or before now; its plan was refused and is in ${deadLetterKey}`,
          );
        } else {
          log.warn(entry, 'timer loop refused (operator already alerted for this lead and rule)');
        }
      }
      return refused;
    },
  };
}
