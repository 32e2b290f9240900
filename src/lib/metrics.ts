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
  };
}
