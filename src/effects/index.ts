/**
 * The effects runtime of a worker process: the executor, the timer set, the rules' due handlers and the loop that
 * feeds them. The loop runs in every worker process; claims are atomic in Redis, so the processes share the work
 * without a leader, and a process that dies mid-batch leaves its timers and intents to the others after a lease.
 */
import type { Redis } from 'ioredis';
import type { AmoClient } from '../amocrm/api/client.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Keys } from '../store/keys.js';
import type { Outbox } from '../store/outbox.js';
import type { RecordStore } from '../store/record-store.js';
import { backoffMs, createExecutor, WRITES_IN_FLIGHT_RETRY_MS, type Executor } from './executor.js';
import { createLoopGuard } from './loop-guard.js';
import { createTimerStore, type TimerStore } from './timers.js';
import type { DueHandler, DueTimer } from './types.js';

export * from './types.js';
export { timerMember } from './timers.js';

/** Timers handed to a rule in one batch: amoCRM reads and writes take up to 250 items per request. */
export const DUE_BATCH = 250;
/**
 * Fewer due timers than this wait for more, up to the batch window: a batch costs about four amoCRM requests
 * (a leads read, an events read, a PATCH, a notes POST) however many leads it holds, so deadlines falling close
 * together are checked together (at 50 leads a batch, 0.08 requests per lead) instead of one small batch per poll.
 */
export const MIN_DUE_BATCH = 50;
/** A claimed timer returns to the set after this if its worker died; a live worker renews it while it works. */
export const TIMER_LEASE_MS = 20_000;
/** A whole batch that failed (amoCRM down) is retried this soon at most, so an outage's end is noticed quickly. */
const BATCH_RETRY_CAP_MS = 5_000;

export interface Effects {
  executor: Executor;
  timers: TimerStore;
  registerDueHandler(rule: string, handler: DueHandler): void;
  /** One pass: recover due intents, then hand due timers to their rules until none is due. */
  tick(): Promise<{ timers: number; resumed: number }>;
  start(pollMs: number): void;
  /** Stops the loop and waits for the pass in hand. */
  stop(): Promise<void>;
}

export function createEffects(deps: {
  redis: Redis;
  keys: Keys;
  amo: AmoClient;
  records: RecordStore;
  outbox: Outbox;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  isShadow?: (rule: string) => boolean;
  /**
   * How long a due timer may wait for others to join its batch (the pickup rule's `batchWindow`); read at each
   * poll, so a rules reload applies at once. 0 (the default): every due timer is claimed at the next poll.
   */
  batchWindowMs?: () => number;
}): Effects {
  const timers = createTimerStore(deps.redis, deps.keys);
  const executor = createExecutor({ ...deps, timers });
  const guard = createLoopGuard(deps);
  const handlers = new Map<string, DueHandler>();
  const log = deps.logger.child({ component: 'timers' });
  const now = (): number => deps.clock.now().getTime();
  let loop: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  const runRule = async (rule: string, due: DueTimer[], held: { lease: number }): Promise<void> => {
    const lease = (): number => held.lease;
    const handler = handlers.get(rule);
    if (!handler) {
      // A rule switched off (or not wired in this process): its timers wait, they are not dropped.
      await timers.retry(lease(), due, now() + 60_000);
      return;
    }
    // A lead whose previous decision is still being written is not handed to its rule now: amoCRM may not show
    // that write yet, and a rule reading it would take the robot's own write in flight for a person's change (or
    // a stale stage for the current one). Its timers come back shortly; the rules test again under the lead's
    // lock (throwIfWritesInFlight) for a write that starts after this.
    const busy = await executor.store.inFlight([...new Set(due.map((d) => d.leadId))]);
    if (busy.size > 0) {
      const waiting = due.filter((d) => busy.has(d.leadId));
      await timers.retry(lease(), waiting, now() + WRITES_IN_FLIGHT_RETRY_MS);
      deps.metrics.timersFired.inc({ rule, outcome: 'retried' }, waiting.length);
      due = due.filter((d) => !busy.has(d.leadId));
      if (due.length === 0) return;
    }
    for (const t of due) deps.metrics.timerLateness.observe({ rule }, Math.max(0, now() - t.dueAt) / 1000);
    let result;
    try {
      result = await handler(due);
    } catch (err) {
      const attempts = Math.max(...due.map((d) => d.attempts));
      const at = now() + Math.min(BATCH_RETRY_CAP_MS, backoffMs(attempts, err));
      log.warn(
        { rule, timers: due.length, err: { message: (err as Error).message }, retryAt: new Date(at).toISOString() },
        'due timers could not be handled; retrying the batch',
      );
      deps.metrics.timersFired.inc({ rule, outcome: 'retried' }, due.length);
      await timers.retry(lease(), due, at);
      return;
    }
    // A plan that puts its own timer back at or before now twice in a row is a loop: refused, never run again.
    const refused = await guard.check(
      due,
      [...(result.plans ?? []), ...(result.committed ?? []).map((c) => c.plan)],
      now(),
    );
    const plans = (result.plans ?? []).filter((p) => !refused.has(p));
    if (plans.length > 0) await executor.execute(plans);
    if (result.committed && result.committed.length > 0) await executor.drain(result.committed);
    const loops = [...refused].flatMap((p) =>
      p.effects.flatMap((e) => (e.kind === 'schedule_timer' ? [{ rule: e.rule, leadId: e.leadId, key: e.key }] : [])),
    );
    if (loops.length > 0) await timers.cancel(loops);
    const failed = result.failed ?? [];
    const failedSet = new Set(failed.map((f) => f.timer));
    for (const f of failed) {
      const at = now() + backoffMs(f.timer.attempts, f.error);
      await timers.retry(lease(), [f.timer], at);
      log.warn(
        {
          rule,
          leadId: f.timer.leadId,
          key: f.timer.key,
          attempts: f.timer.attempts + 1,
          err: { message: (f.error as Error)?.message },
        },
        'timer of one lead failed; the others proceed',
      );
    }
    const settled = due.filter((d) => !failedSet.has(d));
    await timers.settle(lease(), settled);
    deps.metrics.timersFired.inc({ rule, outcome: 'settled' }, settled.length);
    if (failed.length > 0) deps.metrics.timersFired.inc({ rule, outcome: 'retried' }, failed.length);
  };

  const tick = async (): Promise<{ timers: number; resumed: number }> => {
    let resumed = 0;
    let handled = 0;
    const report = await executor.resumeDue();
    resumed += report.outcomes.length;
    for (;;) {
      if (stopped) break;
      const windowMs = deps.batchWindowMs?.() ?? 0;
      if (windowMs > 0) {
        // A small backlog waits until its oldest timer has waited the window; a full batch goes at once.
        const { due, oldestDueAt } = await timers.backlog(now());
        if (due === 0 || (due < MIN_DUE_BATCH && (oldestDueAt ?? now()) > now() - windowMs)) break;
      }
      const { timers: due, lease } = await timers.claim(now(), DUE_BATCH, TIMER_LEASE_MS);
      if (due.length === 0) break;
      handled += due.length;
      const held = { lease };
      // Renewed while the batch is handled (amoCRM retries can take long); a dead worker's lease just ends.
      const renewal = setInterval(
        () => {
          const next = now() + TIMER_LEASE_MS;
          void timers
            .renew(held.lease, next, due)
            .then(() => {
              held.lease = next;
            })
            .catch(() => undefined);
        },
        Math.floor(TIMER_LEASE_MS / 4),
      );
      renewal.unref();
      const byRule = new Map<string, DueTimer[]>();
      for (const t of due) byRule.set(t.rule, [...(byRule.get(t.rule) ?? []), t]);
      try {
        await Promise.all([...byRule].map(([rule, list]) => runRule(rule, list, held)));
      } finally {
        clearInterval(renewal);
      }
      if (due.length < DUE_BATCH) break;
    }
    return { timers: handled, resumed };
  };

  return {
    executor,
    timers,
    registerDueHandler(rule, handler) {
      handlers.set(rule, handler);
    },
    tick,
    start(pollMs) {
      stopped = false;
      const schedule = (): void => {
        if (stopped) return;
        loop = setTimeout(() => {
          running = tick()
            .catch((err: unknown) =>
              log.error({ err: { message: (err as Error).message } }, 'timer pass failed; next pass soon'),
            )
            .finally(() => {
              running = undefined;
              schedule();
            });
        }, pollMs);
      };
      schedule();
    },
    async stop() {
      stopped = true;
      if (loop) clearTimeout(loop);
      await running;
    },
  };
}
