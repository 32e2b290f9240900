/**
 * The pickup's shell as the runtime composes it (stores, the effect executor with its timer loop, the pickup
 * engine registered as the deadline handler), on real Redis under a key prefix, against an in-memory amoCRM.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createEffects } from '../../src/effects/index.js';
import { createPickupEngine, PICKUP_RULE } from '../../src/jobs/handlers/pickup.js';
import type { Clock } from '../../src/lib/clock.js';
import { createMetrics } from '../../src/lib/metrics.js';
import type { CompiledRules, RuleContext } from '../../src/rules/types.js';
import { createDistributionStore } from '../../src/store/distribution-store.js';
import { createKeys } from '../../src/store/keys.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createPickupStore } from '../../src/store/pickup-store.js';
import { createRecordStore } from '../../src/store/record-store.js';
import type { createFakeAmo } from './fake-amo.js';

export function wirePickup(deps: {
  redis: Redis;
  prefix: string;
  rules: () => CompiledRules;
  fake: ReturnType<typeof createFakeAmo>;
  clock: Clock;
  logger: Logger;
  context?: (ctx: RuleContext) => Promise<RuleContext>;
}) {
  const { redis, fake, clock, logger } = deps;
  const keys = createKeys(deps.prefix);
  const metrics = createMetrics({ defaultMetrics: false });
  const records = createRecordStore(redis, keys);
  const outbox = createOutbox(redis, keys);
  const effects = createEffects({ redis, keys, amo: fake.amo, records, outbox, clock, logger, metrics });
  const leads = createLeadStore(redis, keys);
  const pickups = createPickupStore(redis, keys);
  const distribution = createDistributionStore(redis, keys);
  const engine = createPickupEngine({
    rules: deps.rules,
    amo: fake.amo,
    leads,
    pickups,
    distribution,
    effects,
    clock,
    logger,
    ...(deps.context ? { context: deps.context } : {}),
  });
  effects.registerDueHandler(PICKUP_RULE, (due) => engine.onDue(due));
  return { keys, metrics, records, outbox, effects, leads, pickups, distribution, engine };
}
