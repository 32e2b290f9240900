/**
 * Prometheus metrics (prom-client). One registry per process, created by the composition root,
 * so tests can build several apps without "metric already registered" clashes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  webhooksReceived: Counter<'outcome'>;
  webhooksRejected: Counter<'reason'>;
  webhookItemsDeadLettered: Counter<never>;
  eventsEnqueued: Counter<'kind'>;
  eventsDuplicate: Counter<'kind'>;
  webhookDuration: Histogram<never>;
  jobDuration: Histogram<'job'>;
  jobFailures: Counter<'job' | 'final'>;
  queueDepth: Gauge<'queue' | 'state'>;
  amoRequests: Counter<'method' | 'status'>;
  amoAlerts: Counter<'kind'>;
  decisions: Counter<'rule' | 'kind'>;
  effectsDeadLettered: Counter<'rule'>;
  effectsParked: Counter<'rule'>;
  timersFired: Counter<'rule' | 'outcome'>;
  timerLateness: Histogram<'rule'>;
  timerLag: Gauge<never>;
  amoUp: Gauge<'state'>;
  pickups: Counter<'department' | 'outcome'>;
  timeToPickup: Histogram<'department'>;
  violations: Counter<'rule' | 'type'>;
  telegramDeliveries: Counter<'outcome' | 'reason'>;
  webhookLastEvent: Gauge<never>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    webhooksReceived: new Counter({
      name: 'amo_webhooks_received_total',
      help: 'amoCRM webhook deliveries received, by outcome (accepted or rejected)',
      labelNames: ['outcome'],
      registers,
    }),
    webhooksRejected: new Counter({
      name: 'amo_webhooks_rejected_total',
      help: 'amoCRM webhook deliveries rejected, by reason',
      labelNames: ['reason'],
      registers,
    }),
    webhookItemsDeadLettered: new Counter({
      name: 'amo_webhook_items_dead_lettered_total',
      help: 'Invalid items inside otherwise valid webhook bodies, kept in the dead-letter list',
      registers,
    }),
    eventsEnqueued: new Counter({
      name: 'amo_events_enqueued_total',
      help: 'Domain events put on the queue, by kind',
      labelNames: ['kind'],
      registers,
    }),
    eventsDuplicate: new Counter({
      name: 'amo_events_duplicate_total',
      help: 'Redelivered events dropped by deduplication, by kind',
      labelNames: ['kind'],
      registers,
    }),
    webhookDuration: new Histogram({
      name: 'amo_webhook_duration_seconds',
      help: 'Time to verify, parse, enqueue and acknowledge one webhook delivery',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers,
    }),
    jobDuration: new Histogram({
      name: 'amo_job_duration_seconds',
      help: 'Worker job duration, by job name',
      labelNames: ['job'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15],
      registers,
    }),
    jobFailures: new Counter({
      name: 'amo_job_failures_total',
      help: 'Worker job failures, by job name; final=true when no attempt is left',
      labelNames: ['job', 'final'],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'amo_queue_depth',
      help: 'Jobs in a queue, by state',
      labelNames: ['queue', 'state'],
      registers,
    }),
    amoRequests: new Counter({
      name: 'amo_api_requests_total',
      help: 'Requests sent to the amoCRM API, by method and status',
      labelNames: ['method', 'status'],
      registers,
    }),
    amoAlerts: new Counter({
      name: 'amo_api_alerts_total',
      help: 'Conditions an operator must act on (revoked token, account blocked), by kind',
      labelNames: ['kind'],
      registers,
    }),
    decisions: new Counter({
      name: 'amo_rule_decisions_total',
      help: 'Decisions taken by the rules, by rule and kind',
      labelNames: ['rule', 'kind'],
      registers,
    }),
    effectsDeadLettered: new Counter({
      name: 'amo_effects_dead_lettered_total',
      help: 'Plans amoCRM refused for good (dead-lettered with the request and the answer), by rule',
      labelNames: ['rule'],
      registers,
    }),
    effectsParked: new Counter({
      name: 'amo_effects_parked_total',
      help: 'Plans parked for a retry after a transient failure, by rule',
      labelNames: ['rule'],
      registers,
    }),
    timersFired: new Counter({
      name: 'amo_timers_fired_total',
      help: 'Due rule timers handed to their rule, by rule and outcome (settled, retried)',
      labelNames: ['rule', 'outcome'],
      registers,
    }),
    timerLateness: new Histogram({
      name: 'amo_timer_lateness_seconds',
      help: 'How long after its due time a rule timer was handed to its rule, by rule',
      labelNames: ['rule'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
      registers,
    }),
    timerLag: new Gauge({
      name: 'amo_timer_lag_seconds',
      help: 'How long the oldest due timer has waited (0 when none waits), at the last readiness check',
      registers,
    }),
    amoUp: new Gauge({
      name: 'amo_api_up',
      help: 'amoCRM as this process sees it: 1 for the current state (ok, unknown, unreachable, backoff, auth_revoked), 0 for the others',
      labelNames: ['state'],
      registers,
    }),
    pickups: new Counter({
      name: 'amo_pickups_total',
      help: 'Leads taken into work in time or missed (R1), by department and outcome',
      labelNames: ['department', 'outcome'],
      registers,
    }),
    timeToPickup: new Histogram({
      name: 'amo_time_to_pickup_seconds',
      help: 'From the assignment to the evidence that the manager took the lead (R1), by department',
      labelNames: ['department'],
      buckets: [15, 30, 60, 120, 300, 600, 900, 1800, 3600],
      registers,
    }),
    violations: new Counter({
      name: 'amo_violations_total',
      help: 'Violations recorded, by rule and type',
      labelNames: ['rule', 'type'],
      registers,
    }),
    telegramDeliveries: new Counter({
      name: 'amo_telegram_deliveries_total',
      help: 'Telegram messages sent or not, by outcome (sent, retried, undeliverable) and reason',
      labelNames: ['outcome', 'reason'],
      registers,
    }),
    webhookLastEvent: new Gauge({
      name: 'amo_webhook_last_event_timestamp_seconds',
      help: 'When amoCRM received the last webhook event this worker handled (unix seconds)',
      registers,
    }),
  };
}
