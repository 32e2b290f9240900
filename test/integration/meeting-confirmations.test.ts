/**
 * R7 through the shell on fake time (seed 004 rule 3): amoCRM-shaped form bodies are expanded and parsed like the
 * receiver does, each event goes through the webhook handler with the stage rules, the effect executor writes to an
 * in-memory amoCRM, and R7's timers run from the executor's tick. Covers the moves of the meeting time (full
 * `leads[update]` bodies, a late redelivery), the Digital Pipeline short body that carries no fields (the lead is
 * re-read, batched), a time removed from the card, and the lead leaving the stage.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { expandFormBody } from '../../src/amocrm/form-body.js';
import { normalizeWebhook } from '../../src/amocrm/webhook-payload.js';
import { createEffects } from '../../src/effects/index.js';
import { createStageRulesEngine } from '../../src/jobs/handlers/stage-rules.js';
import { createWebhookEventHandler } from '../../src/jobs/handlers/webhook-event.js';
import { createManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createMetrics } from '../../src/lib/metrics.js';
import { WebhookEventSchema } from '../../src/rules/events.js';
import type { CompiledRules } from '../../src/rules/types.js';
import { createKeys } from '../../src/store/keys.js';
import { createLeadStore } from '../../src/store/lead-store.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createRecordStore } from '../../src/store/record-store.js';
import { createFakeAmo, type FakeLead } from '../helpers/fake-amo.js';
import { connectTestRedis, dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { PIPELINE } from '../helpers/rules.js';
import { ANNA, MEETING_FIELD, S, shippedStageRules } from '../unit/rules/stage-rules/helpers.js';

// Tuesday 24 November 2026, 13:00 in Moscow (UTC+3).
const T = '2026-11-24T10:00:00.000Z';
const sec = (iso: string): number => Date.parse(iso) / 1000;
const TOMORROW_15 = sec('2026-11-25T12:00:00.000Z'); // seed 004: that morning at 10:00 and 2 h before, 13:00
const TODAY_18 = sec('2026-11-24T15:00:00.000Z'); // the same day: one task 2 h before, 16:00
const DAY_AFTER_12 = sec('2026-11-26T09:00:00.000Z'); // 26 November 12:00: 09:00 (3 h before, earlier than 10:00) and 10:00

let redis: Redis;
let rules: CompiledRules;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = connectTestRedis();
  rules = await shippedStageRules();
});
afterAll(async () => {
  for (const p of prefixes) await dropPrefix(redis, p);
  redis.disconnect();
});

const php = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
const ACCOUNT = 'account%5Bsubdomain%5D=demo-realty&account%5Bid%5D=31000001';

/** A full lead body as account webhooks send it (samples 01, 10, 20): every filled custom field, a date field bare. */
function fullBody(
  action: 'update' | 'status',
  lead: { id: number; statusId: number; oldStatusId?: number; updatedAt: number; meeting?: number },
): string {
  const k = (key: string): string => php(`leads[${action}][0]${key}`);
  const pairs: Array<[string, string]> = [
    ['[id]', String(lead.id)],
    ['[name]', 'Заявка: 2-к квартира'],
    ['[status_id]', String(lead.statusId)],
    ...(lead.oldStatusId !== undefined
      ? ([['[old_status_id]', String(lead.oldStatusId)]] as Array<[string, string]>)
      : []),
    ['[price]', '0'],
    ['[responsible_user_id]', String(ANNA)],
    ['[last_modified]', String(lead.updatedAt)],
    ['[modified_user_id]', String(ANNA)],
    ['[created_user_id]', String(ANNA)],
    ['[date_create]', String(sec(T) - 86_400)],
    ['[pipeline_id]', String(PIPELINE)],
    ['[account_id]', '31000001'],
    ...(lead.meeting !== undefined
      ? ([
          ['[custom_fields][0][id]', String(MEETING_FIELD)],
          ['[custom_fields][0][name]', 'Дата и время встречи'],
          ['[custom_fields][0][values][0]', String(lead.meeting)],
        ] as Array<[string, string]>)
      : []),
    ['[created_at]', String(sec(T) - 86_400)],
    ['[updated_at]', String(lead.updatedAt)],
  ];
  return [...pairs.map(([key, v]) => `${k(key)}=${php(v)}`), ACCOUNT].join('&');
}

/** A Digital Pipeline "send webhook" body (real sample 06): only the ids and the stages. */
const shortStatusBody = (id: number, statusId: number, oldStatusId: number): string =>
  [
    `leads%5Bstatus%5D%5B0%5D%5Bid%5D=${id}`,
    `leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=${statusId}`,
    `leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=${PIPELINE}`,
    `leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=${oldStatusId}`,
    `leads%5Bstatus%5D%5B0%5D%5Bold_pipeline_id%5D=${PIPELINE}`,
    ACCOUNT,
  ].join('&');

function harness(leads: FakeLead[]) {
  const prefix = uniquePrefix('r7-shell');
  prefixes.push(prefix);
  const keys = createKeys(prefix);
  const clock = createManualClock(T);
  const fake = createFakeAmo(leads);
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const records = createRecordStore(redis, keys);
  const outbox = createOutbox(redis, keys);
  const effects = createEffects({
    redis,
    keys,
    amo: fake.amo,
    records,
    outbox,
    clock,
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const leadStore = createLeadStore(redis, keys);
  const stage = createStageRulesEngine({
    rules: () => rules,
    amo: fake.amo,
    redis,
    keys,
    leads: leadStore,
    effects,
    clock,
    logger,
  });
  for (const rule of ['R4', 'R5', 'R6', 'R7', 'R8', 'R9']) effects.registerDueHandler(rule, (due) => stage.onDue(due));
  const handle = createWebhookEventHandler({
    leads: leadStore,
    clock,
    logger,
    effects,
    onLeadEvent: (input) => stage.onLeadEvent(input),
  });
  let delivery = 0;
  /** One POST as the receiver takes it: expand, parse, validate each event again (the worker's boundary), handle. */
  const deliver = async (body: string): Promise<void> => {
    const parsed = normalizeWebhook(expandFormBody(body), {
      deliveryId: `delivery-${++delivery}`,
      receivedAt: clock.now().toISOString(),
      timeZone: 'Europe/Moscow',
    });
    expect(parsed.rejected).toEqual([]);
    for (const e of parsed.events) await handle({ event: WebhookEventSchema.parse(e) });
  };
  const confirmations = (leadId: number) =>
    fake.tasks.filter((t) => t.entity_id === leadId && t.text.startsWith('Подтвердите встречу'));
  const dueMsk = (t: { complete_till: number }): string =>
    new Date((t.complete_till + 3 * 3600) * 1000).toISOString().slice(0, 16).replace('T', ' ');
  const timersOf = async (leadId: number): Promise<string[]> =>
    (await redis.zrange(keys.of('{timers}', 'due'), 0, -1)).filter((m) => m.startsWith(`R7|${leadId}|`));
  return { fake, clock, effects, records, deliver, confirmations, dueMsk, timersOf, keys };
}

describe('R7 meeting confirmations through the webhook handler (seed 004 rule 3)', () => {
  it('when the meeting time is changed in the card, then the old confirmations are closed and new ones set at the new times, without a read; a late older body changes nothing; leaving the stage cancels the rest', async () => {
    const lead = 42;
    const h = harness([{ id: lead, responsible: ANNA, statusId: S.needs, pipelineId: PIPELINE }]);

    await h.deliver(
      fullBody('status', {
        id: lead,
        statusId: S.meetingSet,
        oldStatusId: S.needs,
        updatedAt: sec(T),
        meeting: TOMORROW_15,
      }),
    );
    expect(h.confirmations(lead).map((t) => [h.dueMsk(t), t.is_completed])).toEqual([
      ['2026-11-25 10:00', false],
      ['2026-11-25 13:00', false],
    ]);
    expect(h.confirmations(lead)[0]!.text).toContain('встрече в 15:00');

    // Two edits a minute apart; the first edit's webhook is late (a retry) and arrives after the second's.
    h.clock.advance(60_000);
    const firstEdit = fullBody('update', {
      id: lead,
      statusId: S.meetingSet,
      updatedAt: sec(T) + 30,
      meeting: DAY_AFTER_12,
    });
    await h.deliver(
      fullBody('update', { id: lead, statusId: S.meetingSet, updatedAt: sec(T) + 60, meeting: TODAY_18 }),
    );
    const afterMove = h.confirmations(lead);
    expect(afterMove.filter((t) => t.is_completed).map((t) => [h.dueMsk(t), t.result])).toEqual([
      [
        '2026-11-25 10:00',
        'Время встречи изменилось (теперь 24 ноября 18:00): робот поставил новые задачи на подтверждение',
      ],
      [
        '2026-11-25 13:00',
        'Время встречи изменилось (теперь 24 ноября 18:00): робот поставил новые задачи на подтверждение',
      ],
    ]);
    expect(afterMove.filter((t) => !t.is_completed).map((t) => [h.dueMsk(t), t.responsible_user_id])).toEqual([
      ['2026-11-24 16:00', ANNA],
    ]);
    expect(afterMove.find((t) => !t.is_completed)!.text).toContain('встрече в 18:00');
    expect(h.fake.notes.map((n) => n.params.text).at(-1)).toBe(
      'Время встречи изменилось: 24 ноября 18:00. Робот перенёс задачи на подтверждение: за 2–3 ч — 24 ноября 16:00.',
    );
    // The field came in the body: nothing was read from amoCRM.
    expect(h.fake.calls.leadsReads).toBe(0);

    h.clock.advance(60_000);
    await h.deliver(firstEdit);
    expect(h.confirmations(lead)).toHaveLength(3);
    expect(
      h
        .confirmations(lead)
        .filter((t) => !t.is_completed)
        .map(h.dueMsk),
    ).toEqual(['2026-11-24 16:00']);

    // Leaving for "Встреча состоялась": the open confirmation is closed with the reason, and no R7 timer is left.
    h.clock.advance(60_000);
    await h.deliver(
      fullBody('status', {
        id: lead,
        statusId: S.meetingHeld,
        oldStatusId: S.meetingSet,
        updatedAt: sec(T) + 180,
        meeting: TODAY_18,
      }),
    );
    expect(h.confirmations(lead).every((t) => t.is_completed)).toBe(true);
    expect(h.confirmations(lead).at(-1)!.result).toBe(
      'Сделка вышла из этапа «Встреча назначена»: подтверждение встречи больше не нужно',
    );
    expect(await h.timersOf(lead)).toEqual([]);
    const actions = (await h.records.forLead(lead)).filter((r) => r.rule === 'R7').map((r) => r.type);
    expect(actions).toEqual(['meeting_confirmation', 'meeting_moved', 'meeting_confirmations_cancelled']);
  });

  it('when leads enter "Встреча назначена" by Digital Pipeline bodies without fields, then R7 reads them in one request and sets the confirmations from amoCRM\'s time; a short body leaving the stage cancels them', async () => {
    // amoCRM already has the meeting times; the webhooks only say the stage changed.
    const h = harness([
      {
        id: 44,
        responsible: ANNA,
        statusId: S.meetingSet,
        pipelineId: PIPELINE,
        fields: { [MEETING_FIELD]: String(TOMORROW_15) },
        updatedAt: sec(T),
      },
      {
        id: 46,
        responsible: ANNA,
        statusId: S.meetingSet,
        pipelineId: PIPELINE,
        fields: { [MEETING_FIELD]: String(TODAY_18) },
        updatedAt: sec(T),
      },
    ]);
    await h.deliver(shortStatusBody(44, S.meetingSet, S.needs));
    await h.deliver(shortStatusBody(46, S.meetingSet, S.needs));
    // Nothing judged from an empty body: no task, no violation, a read due now and the fill check in 10 minutes.
    expect(h.confirmations(44)).toHaveLength(0);
    expect((await h.timersOf(44)).sort()).toEqual([`R7|44|read:${Date.parse(T)}`, `R7|44|time:${Date.parse(T)}`]);
    expect(h.fake.calls.leadsReads).toBe(0);

    await h.effects.tick();
    expect(h.fake.calls.leadIdsRead).toEqual([[44, 46]]);
    expect(h.confirmations(44).map(h.dueMsk)).toEqual(['2026-11-25 10:00', '2026-11-25 13:00']);
    expect(h.confirmations(46).map(h.dueMsk)).toEqual(['2026-11-24 16:00']);
    expect(await h.timersOf(44)).toEqual([]);

    // Ten minutes on, no "meeting without time": the read found it.
    h.clock.advance(10 * 60_000);
    await h.effects.tick();
    expect((await h.records.forLead(44)).filter((r) => r.kind === 'violation')).toEqual([]);

    // The lead moves on by another short body: both confirmations are closed.
    h.fake.state.get(44)!.statusId = S.meetingHeld;
    await h.deliver(shortStatusBody(44, S.meetingHeld, S.meetingSet));
    expect(h.confirmations(44).map((t) => t.is_completed)).toEqual([true, true]);
    // Positive control: the other lead's confirmation stays open.
    expect(h.confirmations(46).map((t) => t.is_completed)).toEqual([false]);
  });

  it('when the meeting time is removed from the card, then after a read confirms it the confirmations are cancelled, and without a new time it is a violation 10 minutes later', async () => {
    const lead = 48;
    const h = harness([
      {
        id: lead,
        responsible: ANNA,
        statusId: S.meetingSet,
        pipelineId: PIPELINE,
        fields: { [MEETING_FIELD]: String(TOMORROW_15) },
        updatedAt: sec(T),
      },
    ]);
    await h.deliver(
      fullBody('status', {
        id: lead,
        statusId: S.meetingSet,
        oldStatusId: S.needs,
        updatedAt: sec(T),
        meeting: TOMORROW_15,
      }),
    );
    expect(h.confirmations(lead)).toHaveLength(2);

    h.clock.advance(60_000);
    delete h.fake.state.get(lead)!.fields;
    await h.deliver(fullBody('update', { id: lead, statusId: S.meetingSet, updatedAt: sec(T) + 60 }));
    // Check, then act: nothing is cancelled on the body alone.
    expect(h.confirmations(lead).some((t) => t.is_completed)).toBe(false);
    await h.effects.tick();
    expect(h.fake.calls.leadIdsRead).toEqual([[lead]]);
    expect(h.confirmations(lead).map((t) => [t.is_completed, t.result])).toEqual([
      [true, 'Дата и время встречи удалены из карточки: подтверждение не нужно'],
      [true, 'Дата и время встречи удалены из карточки: подтверждение не нужно'],
    ]);
    expect(h.fake.notes.map((n) => n.params.text).at(-1)).toContain(
      'Дата и время встречи (25 ноября 15:00) удалены из карточки',
    );

    h.clock.advance(10 * 60_000);
    await h.effects.tick();
    const violation = (await h.records.forLead(lead)).find((r) => r.kind === 'violation');
    expect(violation).toMatchObject({ type: 'meeting_without_time', rule: 'R7', userId: ANNA });
  });

  it("when a stage rule's timer falls while the lead's previous decision is still being written, then the lead is not read until that write has landed", async () => {
    const lead = 77;
    const h = harness([{ id: lead, responsible: ANNA, statusId: S.meetingSet, pipelineId: PIPELINE }]);
    const now = h.clock.now().getTime();
    // A decision committed for the lead whose write to amoCRM has not been carried out yet.
    const [inFlight] = await h.effects.executor.commit([
      {
        id: 'stage-in-flight',
        rule: 'R7',
        leadId: lead,
        reason: 'a write on its way',
        effects: [{ kind: 'set_responsible', leadId: lead, toUserId: ANNA, fromUserId: 9001 }],
      },
    ]);
    await h.effects.timers.schedule([{ rule: 'R7', leadId: lead, key: `confirm:${now}`, dueAt: now }]);
    await h.effects.tick();
    expect(h.fake.calls.leadsReads).toBe(0);
    expect(await h.timersOf(lead)).toHaveLength(1); // kept, to be checked again shortly

    await h.effects.executor.drain([inFlight!]);
    h.clock.advance(3_000);
    await h.effects.tick();
    expect(h.fake.calls.leadsReads).toBe(1);
    expect(h.fake.calls.leadIdsRead.at(-1)).toEqual([lead]);
  });
});
