/**
 * What a process reports about its dependencies beyond Redis, for /health/ready and the operator: amoCRM (reachable,
 * the shared back-off, the token), the timers (how long the oldest due one waits) and, in workers, webhooks (no
 * webhook event for `webhookStaleMs` of working time, the departments' shifts, means amoCRM stopped sending). A
 * monitor runs the same checks every few seconds: a check that turns degraded is logged once as ACTION NEEDED and
 * counted in amo_api_alerts_total; its recovery is logged as resolved. Workers also check the rules (parts switched
 * off by names amoCRM no longer has) and the dead letters (new ones in the last hour); with an operator chat each
 * degraded check is one incident message there, edited to resolved on recovery (src/ops/incidents.ts).
 */
import type { AmoClient } from './amocrm/api/client.js';
import type { TimerStore } from './effects/timers.js';
import type { ReadinessCheck } from './http/routes/health.js';
import type { Clock } from './lib/clock.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './lib/metrics.js';
import type { OperatorIncidents } from './ops/incidents.js';
import { checkIncident, RESOLVED_NOTES } from './ops/texts.js';
import { addWorkingTime, departmentIntervals, mergeIntervals } from './rules/schedule/shifts.js';
import type { CompiledRules } from './rules/types.js';

/** The oldest due timer waiting longer than this is a degraded worker (R1's 15 minutes are counted in seconds). */
export const TIMER_LAG_DEGRADED_MS = 60_000;
/** No webhook event for this much working time: amoCRM may have disabled the webhook. */
export const WEBHOOK_STALE_MS = 30 * 60_000;
/** A dead letter added within this window keeps the dead-letter check degraded. */
export const DEAD_LETTER_WINDOW_MS = 60 * 60_000;
const AMO_STATES = ['ok', 'unknown', 'unreachable', 'backoff', 'auth_revoked'] as const;

export interface Readiness {
  checks(): Promise<ReadinessCheck[]>;
  /** Runs the checks every `everyMs` and alerts on changes. */
  start(everyMs?: number): void;
  stop(): void;
}

export function createReadiness(deps: {
  amo: Pick<AmoClient, 'health'>;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** Workers: the compiled rules (for working hours) and their timer set. */
  rules?: () => CompiledRules | undefined;
  timers?: () => Pick<TimerStore, 'backlog'> | undefined;
  /** Workers: when amoCRM received the last webhook event this process handled. */
  lastWebhookAt?: () => number | undefined;
  /** Workers: the rules' warnings (parts switched off by names that no longer resolve). */
  ruleWarnings?: () => Array<{ path: string; message: string; disabled: string }>;
  /** Workers: dead letters added at or after the given time. */
  deadLettersSince?: (sinceMs: number) => Promise<number>;
  /** Workers: the on-call chat's incidents. */
  incidents?: OperatorIncidents;
  timerLagMs?: number;
  webhookStaleMs?: number;
  deadLetterWindowMs?: number;
}): Readiness {
  const startedAt = deps.clock.now().getTime();
  const log = deps.logger.child({ component: 'health' });
  const lagLimit = deps.timerLagMs ?? TIMER_LAG_DEGRADED_MS;
  const staleLimit = deps.webhookStaleMs ?? WEBHOOK_STALE_MS;
  const deadLetterWindow = deps.deadLetterWindowMs ?? DEAD_LETTER_WINDOW_MS;

  const amoCheck = async (): Promise<ReadinessCheck> => {
    const h = await deps.amo.health();
    for (const s of AMO_STATES) deps.metrics.amoUp.set({ state: s }, s === h.state ? 1 : 0);
    const degraded = h.state === 'unreachable' || h.state === 'backoff' || h.state === 'auth_revoked';
    return {
      name: 'amocrm',
      status: degraded ? 'degraded' : h.state === 'unknown' ? 'unknown' : 'ok',
      state: h.state,
      ...(h.reason ? { reason: h.reason } : {}),
      ...(h.lastOkAt !== undefined ? { lastOkAt: new Date(h.lastOkAt).toISOString() } : {}),
      ...(h.backoff ? { backoffUntil: new Date(h.backoff.until).toISOString() } : {}),
    };
  };

  const timerCheck = async (timers: Pick<TimerStore, 'backlog'>, now: number): Promise<ReadinessCheck> => {
    const { due, oldestDueAt } = await timers.backlog(now);
    const lagMs = oldestDueAt !== undefined && oldestDueAt < now ? now - oldestDueAt : 0;
    deps.metrics.timerLag.set(lagMs / 1000);
    return {
      name: 'timers',
      status: lagMs > lagLimit ? 'degraded' : 'ok',
      due,
      lagSeconds: Math.round(lagMs / 1000),
      ...(lagMs > lagLimit
        ? { reason: `the oldest due timer has waited ${Math.round(lagMs / 1000)} s (limit ${lagLimit / 1000} s)` }
        : {}),
    };
  };

  const webhookCheck = (rules: CompiledRules, now: number): ReadinessCheck => {
    const last = deps.lastWebhookAt?.();
    const since = last ?? startedAt;
    // Working time since the last event: the departments' shifts merged (nights and weekends do not count).
    const shifts = mergeIntervals(
      rules.departments.flatMap((d) =>
        departmentIntervals(d, since, now, rules.calendar, rules.timeZone, rules.activeUserIds),
      ),
    );
    const staleAt = addWorkingTime(since, staleLimit, shifts);
    const stale = staleAt !== undefined && staleAt <= now;
    return {
      name: 'webhooks',
      status: stale ? 'degraded' : 'ok',
      ...(last !== undefined ? { lastEventAt: new Date(last).toISOString() } : { lastEventAt: null }),
      ...(stale
        ? {
            reason: `no webhook event for ${Math.round(staleLimit / 60_000)} min of working time since ${new Date(since).toISOString()}: is the amoCRM webhook still on?`,
          }
        : {}),
    };
  };

  const rulesCheck = (warnings: Array<{ path: string; message: string; disabled: string }>): ReadinessCheck => ({
    name: 'rules',
    status: warnings.length > 0 ? 'degraded' : 'ok',
    warnings,
    ...(warnings.length > 0
      ? { reason: `${warnings.length} part(s) of the rules switched off: names amoCRM does not have` }
      : {}),
  });

  const deadLetterCheck = async (since: (ms: number) => Promise<number>, now: number): Promise<ReadinessCheck> => {
    const recent = await since(now - deadLetterWindow);
    return {
      name: 'dead_letters',
      status: recent > 0 ? 'degraded' : 'ok',
      recent,
      windowSeconds: Math.round(deadLetterWindow / 1000),
      ...(recent > 0
        ? { reason: `${recent} dead letter(s) in the last ${Math.round(deadLetterWindow / 60_000)} min` }
        : {}),
    };
  };

  const checks = async (): Promise<ReadinessCheck[]> => {
    const now = deps.clock.now().getTime();
    const out = [await amoCheck()];
    const timers = deps.timers?.();
    if (timers) out.push(await timerCheck(timers, now));
    const rules = deps.rules?.();
    if (rules && deps.lastWebhookAt) out.push(webhookCheck(rules, now));
    if (rules && deps.ruleWarnings) out.push(rulesCheck(deps.ruleWarnings()));
    if (deps.deadLettersSince) out.push(await deadLetterCheck(deps.deadLettersSince, now));
    return out;
  };

  const previous = new Map<string, ReadinessCheck['status']>();
  const watch = async (): Promise<void> => {
    for (const c of await checks()) {
      const was = previous.get(c.name);
      previous.set(c.name, c.status);
      if (c.status === 'degraded' && was !== 'degraded') {
        deps.metrics.amoAlerts.inc({ kind: `${c.name}_degraded` });
        log.error({ alert: `${c.name}_degraded`, check: c }, `ACTION NEEDED: ${c.name} degraded: ${c.reason ?? ''}`);
      } else if (was === 'degraded' && c.status !== 'degraded') {
        log.info({ alert: `${c.name}_degraded`, resolved: true, check: c }, `resolved: ${c.name} is ${c.status} again`);
      }
      await tellOperators(c, was).catch((err: unknown) =>
        log.warn({ check: c.name, err: { message: (err as Error).message } }, 'could not tell the operator chat'),
      );
    }
  };

  // Asked on every check while degraded (a send that failed is tried again; a changed state edits the message), and
  // resolved on the first ok after anything else (a restarted process closes what an earlier one opened).
  const tellOperators = async (c: ReadinessCheck, was: ReadinessCheck['status'] | undefined): Promise<void> => {
    if (!deps.incidents) return;
    if (c.status === 'degraded') {
      const text = checkIncident(c);
      if (text) await deps.incidents.open(c.name, text);
    } else if (c.status === 'ok' && was !== 'ok') {
      await deps.incidents.resolve(c.name, RESOLVED_NOTES[c.name] ?? '');
    }
  };

  let timer: NodeJS.Timeout | undefined;
  return {
    checks,
    start(everyMs = 10_000) {
      timer = setInterval(
        () =>
          void watch().catch((err: unknown) =>
            log.warn({ err: { message: (err as Error).message } }, 'health check failed'),
          ),
        everyMs,
      );
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
