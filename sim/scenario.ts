/**
 * A scenario driver for the simulator: leads arrive at a rate, simulated managers take most of them in time
 * (a call or a stage change, by whoever is responsible when they act) and miss some. Seeded, so a run can be
 * repeated; timers are injectable for tests.
 */
import { MEETING_FIELD_ID, type Account, type SimUser } from './account.js';

export interface ScenarioOptions {
  account: Account;
  /** Stage new leads are created in. */
  stage: string;
  /** Milliseconds between new leads. */
  arrivalEveryMs: number;
  /** How long a manager may take to react; reactions are spread over [min, max]. */
  reactionMs: [number, number];
  /** Share of assignments a manager takes in time. */
  takeRate: number;
  /** Users that act as managers (others never react). */
  managerIds: number[];
  seed?: number;
  /** Most leads to create (default: unlimited). */
  maxLeads?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export type ScenarioAction =
  | { kind: 'lead_arrived'; leadId: number; name: string }
  | { kind: 'manager_called'; leadId: number; userId: number; answered: boolean }
  | { kind: 'manager_moved'; leadId: number; userId: number; stage: string }
  | { kind: 'manager_ignored'; leadId: number; userId: number };

/** mulberry32: a tiny seeded PRNG, enough for reproducible scenarios. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = [
  'Иван Петров',
  'Мария Соколова',
  'Олег Васильев',
  'Анастасия Морозова',
  'Сергей Новиков',
  'Екатерина Волкова',
  'Дмитрий Фёдоров',
  'Ольга Михайлова',
];
const WANTS = [
  'студия в ЖК «Северный»',
  '2-к квартира у метро',
  '3-к квартира, ипотека',
  '1-к квартира, семейная ипотека',
  'апартаменты у моря',
  'квартира для инвестиций',
];
const SOURCES = ['Авито', 'Циан', 'Яндекс Недвижимость', 'Домклик', 'сайт'];

export interface Scenario {
  start(): void;
  stop(): void;
  /** A manager was given a lead: they will react (or not) after a while. */
  onAssigned(leadId: number, userId: number): void;
  on(listener: (action: ScenarioAction) => void): void;
}

export function createScenario(options: ScenarioOptions): Scenario {
  const random = prng(options.seed ?? 42);
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((h: unknown) => clearTimeout(h as NodeJS.Timeout));
  const listeners: Array<(a: ScenarioAction) => void> = [];
  const timers = new Set<unknown>();
  let created = 0;
  let running = false;
  const emit = (a: ScenarioAction): void => listeners.forEach((l) => l(a));
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const later = (ms: number, fn: () => void): void => {
    const h = setTimer(() => {
      timers.delete(h);
      if (running) fn();
    }, ms);
    timers.add(h);
  };

  const arrive = (): void => {
    if (options.maxLeads !== undefined && created >= options.maxLeads) return;
    created += 1;
    const name = `${pick(NAMES)}: ${pick(WANTS)} (${pick(SOURCES)})`;
    // Leads land from a form or an ad integration: amoCRM's robot (user 0) creates them, with the admin responsible.
    const lead = options.account.createLead({
      name,
      statusId: options.account.statusByName(options.stage).id,
      by: 0,
      price: Math.round(4 + random() * 12) * 1_000_000,
    });
    emit({ kind: 'lead_arrived', leadId: lead.id, name });
    later(options.arrivalEveryMs, arrive);
  };

  const isManager = (u: SimUser | undefined): boolean => u !== undefined && options.managerIds.includes(u.id);

  return {
    start() {
      if (running) return;
      running = true;
      arrive();
    },
    stop() {
      running = false;
      for (const h of timers) clearTimer(h);
      timers.clear();
    },
    onAssigned(leadId, userId) {
      if (!running || !isManager(options.account.users.find((u) => u.id === userId))) return;
      const takes = random() < options.takeRate;
      const [min, max] = options.reactionMs;
      const delay = Math.round(min + random() * (max - min));
      later(delay, () => {
        const lead = options.account.leads.get(leadId);
        // By the time they act the lead may have moved on to someone else: only its current responsible acts.
        if (
          !lead ||
          lead.responsibleUserId !== userId ||
          lead.statusId !== options.account.statusByName(options.stage).id
        )
          return;
        if (!takes) {
          emit({ kind: 'manager_ignored', leadId, userId });
          return;
        }
        const answered = random() < 0.8; // seed 004: about 19% of calls go unanswered
        options.account.addNote({
          leadId,
          noteType: 'call_out',
          params: {
            uniq: `call-${leadId}-${userId}`,
            duration: answered ? 60 + Math.round(random() * 240) : 0,
            phone: '+7 999 000-00-00',
            source: 'demo',
            call_status: answered ? 4 : 3,
          },
          by: userId,
        });
        emit({ kind: 'manager_called', leadId, userId, answered });
        if (answered) {
          const roll = random();
          const stage =
            roll < 0.4
              ? 'Потребности выявлены'
              : roll < 0.8
                ? 'Встреча назначена'
                : roll < 0.9
                  ? 'Для передачи'
                  : 'На закрытие';
          const move = (to: string, extra: { customFields?: Record<number, string> } = {}): void => {
            const current = options.account.leads.get(leadId);
            if (!running || !current || current.responsibleUserId !== userId) return;
            options.account.updateLead(leadId, { statusId: options.account.statusByName(to).id, ...extra }, userId);
            emit({ kind: 'manager_moved', leadId, userId, stage: to });
          };
          // Stage rules R4-R9 in the demo: most meetings get a time and are held; some skip "Встреча состоялась"
          // (R8), some have no time (R7); some leads wait in "Для передачи" (R4) or go to closing without a reason (R5).
          const withTime = random() < 0.7;
          const meetingAt = Math.floor(options.account.nowSec() / 3600) * 3600 + 26 * 3600;
          move(
            stage,
            stage === 'Встреча назначена' && withTime
              ? { customFields: { [MEETING_FIELD_ID]: String(meetingAt) } }
              : {},
          );
          if (stage === 'Встреча назначена') {
            const skips = random() < 0.3;
            later(delay * 2, () => {
              if (!skips) move('Встреча состоялась');
              later(delay, () => move('Отправлено КП'));
            });
          }
          if (stage === 'На закрытие' && random() < 0.5) {
            later(delay, () => {
              options.account.addNote({
                leadId,
                noteType: 'common',
                params: { text: 'Клиент купил квартиру у застройщика напрямую' },
                by: userId,
              });
            });
          }
        }
      });
    },
    on(listener) {
      listeners.push(listener);
    },
  };
}

export type TourStep = { leadId: number; rule: string; what: string };

/**
 * The stage rules R4-R10 on a fixed script, beside the random pickup scenario, so every rule shows in a short demo
 * whatever the random rolls: one lead per rule, created by its manager straight in the rule's stage (the rules watch
 * people's moves), with the meeting time set, moved and missing. With config/rules.demo.yaml's seconds-long
 * durations each rule fires within the demo's 90 seconds.
 */
export function startStageTour(options: {
  account: Account;
  managerId: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  onStep: (step: TourStep) => void;
}): { stop(): void } {
  const { account } = options;
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const handles: unknown[] = [];
  let running = true;
  const at = (ms: number, fn: () => void): void => void handles.push(setTimer(() => running && fn(), ms));
  const stage = (name: string): number => account.statusByName(name).id;
  const by = options.managerId;
  const lead = (name: string, stageName: string, customFields?: Record<number, string>) =>
    account.createLead({
      name,
      statusId: stage(stageName),
      responsibleUserId: by,
      by,
      ...(customFields ? { customFields } : {}),
    });
  const hour = (h: number): string => String(Math.floor(account.nowSec() / 86_400) * 86_400 + 86_400 + (h - 3) * 3600); // tomorrow, h:00 Moscow

  at(500, () => {
    const l = lead('Тур R4: клиент ждёт передачи', 'Для передачи');
    options.onStep({
      leadId: l.id,
      rule: 'R4',
      what: 'left in «Для передачи»: handoff_stale after maxStay, then R10 lead_stale after maxSilence',
    });
  });
  at(1_000, () => {
    const l = lead('Тур R5: закрытие без причины', 'На закрытие');
    options.onStep({
      leadId: l.id,
      rule: 'R5',
      what: 'moved to «На закрытие» with no reason: task and close_without_reason',
    });
  });
  at(1_500, () => {
    const l = lead('Тур R6: отложенный спрос', 'Отложенный спрос >7 мес');
    options.onStep({
      leadId: l.id,
      rule: 'R6',
      what: 'parked in «Отложенный спрос»: a touch task, then deferred_untouched',
    });
  });
  at(2_000, () => {
    const l = lead('Тур R7-R9: встреча назначена', 'Потребности выявлены');
    account.updateLead(
      l.id,
      { statusId: stage('Встреча назначена'), customFields: { [MEETING_FIELD_ID]: hour(15) } },
      by,
    );
    options.onStep({
      leadId: l.id,
      rule: 'R7',
      what: 'meeting set for tomorrow 15:00: confirmation tasks that morning and 2-3 h before',
    });
    at(6_000, () => {
      account.updateLead(l.id, { customFields: { [MEETING_FIELD_ID]: hour(18) } }, by);
      options.onStep({ leadId: l.id, rule: 'R7', what: 'meeting moved to 18:00: the confirmations are replaced' });
    });
    at(12_000, () => {
      account.updateLead(l.id, { statusId: stage('Отправлено КП') }, by);
      options.onStep({
        leadId: l.id,
        rule: 'R8',
        what: 'offer sent without «Встреча состоялась»: meeting_skipped; R9 feedback task, then offer_stale',
      });
    });
  });
  at(2_500, () => {
    const l = lead('Тур R7: встреча без времени', 'Потребности выявлены');
    account.updateLead(l.id, { statusId: stage('Встреча назначена') }, by);
    options.onStep({ leadId: l.id, rule: 'R7', what: 'meeting set without a time: meeting_without_time' });
  });
  return {
    stop() {
      running = false;
    },
  };
}
