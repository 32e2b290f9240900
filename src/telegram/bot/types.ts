/** The bot's ports (what the rules and stores offer it) and its own small types. */
import type { Bot } from 'grammy';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../amocrm/api/client.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { CompiledDepartment, CompiledRules } from '../../rules/types.js';
import type { Keys } from '../../store/keys.js';
import type { Outbox } from '../../store/outbox.js';
import type { RecordStore } from '../../store/record-store.js';
import type { LinkStore } from '../links.js';

/** Why a «Переназначить» changed nothing (the pickup rule's answer, or the lead is gone from amoCRM). */
export type ReassignRefusal =
  'disabled' | 'not_in_stage' | 'pinned' | 'taken' | 'no_clock' | 'not_found' | 'not_your_department';
export type ReassignOutcome = { changed: true; toUserId?: number } | { changed: false; why: ReassignRefusal };

/** What the pickup rule offers the bot (the lead wires it to R1). */
export interface PickupActions {
  /** Whether the pickup rule now counts the lead as taken (its clock stopped, now or before). */
  takenByButton(leadId: number, userId: number): Promise<boolean>;
  reassign(leadId: number, byUserId: number | undefined): Promise<ReassignOutcome>;
}

export type IntakeTarget = { kind: 'manager'; userId: number } | { kind: 'department'; department: string };

/** Pausing and resuming a manager's (or a department's) intake of leads (R2, seed 002 §2.13). */
export interface IntakeActions {
  pause(target: IntakeTarget, options: { by: number | undefined; reason: string }): Promise<void>;
  resume(target: IntakeTarget, options: { by: number | undefined }): Promise<void>;
}

/** R11's weight factors as the РОП's undo button needs them (the reports module wires it). */
export interface RankingActions {
  /** The factors of the month they apply to (YYYY-MM), reverted ones included. */
  factors(month: string, department: string): Promise<Array<{ userId: number; revertedBy?: string | undefined }>>;
  revert(month: string, userId: number, by: string): Promise<{ reverted: boolean; reason: string }>;
  /** The ranking message's part with the undo buttons, as it reads now. */
  tail(
    department: string,
    month: string,
  ): Promise<{ html: string; month: string; revertable: Array<{ userId: number; name: string }> } | undefined>;
}

/** Reports in HTML (R12); the reports module provides it, a default from the record stands in without it. */
export interface ReportsPort {
  report(input: { department?: string; from: Date; to: Date }): Promise<string>;
  ranking?: RankingActions;
}

/** Contesting violations (src/ledger/disputes.ts wires it): the answers are Russian texts for the person. */
export interface DisputeActions {
  canDispute(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
  ): Promise<{ ok: boolean; text: string }>;
  dispute(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
    reason: string,
  ): Promise<{ ok: boolean; text: string }>;
  decide(
    ref: string,
    actor: { userId: number; by: string; via: 'telegram' },
    withdraw: boolean,
  ): Promise<{ ok: boolean; text: string }>;
}

/** How long the bot waits for the reason after «Оспорить». */
export const DISPUTE_REASON_TTL_SECONDS = 3600;

export interface BotDeps {
  bot: Bot;
  redis: Redis;
  keys: Keys;
  links: LinkStore;
  rules: () => CompiledRules | undefined;
  clock: Clock;
  logger: Logger;
  records: RecordStore;
  outbox?: Outbox;
  leadUrl: (leadId: number) => string;
  amo?: Pick<AmoClient, 'getLead' | 'listEvents'>;
  pickup?: PickupActions;
  intake?: IntakeActions;
  disputes?: DisputeActions;
  reports: ReportsPort;
}

/** amoCRM event types that show a lead was taken, per the R1 `takenBy` setting. */
export const EVIDENCE: Record<string, string> = {
  outgoing_call: 'outgoing_call',
  note: 'common_note_added',
  task_completed: 'task_completed',
};

export type Who =
  | { kind: 'manager'; userId: number; department?: CompiledDepartment }
  | { kind: 'head'; userId: number; department: CompiledDepartment };
