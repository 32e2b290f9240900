/**
 * Types of the pure core: the compiled rules (names resolved to amoCRM ids, durations to milliseconds),
 * and the decisions rules return. Decisions carry an English `reason` for logs and records; Russian text for
 * people is rendered from templates.
 */
import type { CompiledDisputes } from './disputes/config.js';
import type { ViolationEvidence } from './disputes/policy.js';
import { z } from 'zod';
import type { CompiledStageRules } from './stage-rules/config.js';
import type { CompiledCadences } from './cadence/types.js';
import type { ShiftSpan } from './shift-span.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** Minutes from local midnight; end may exceed 1440 for an overnight shift. */
export type { ShiftSpan } from './shift-span.js';

export type Schedule =
  | { kind: 'weekly'; days: Partial<Record<Weekday, ShiftSpan[]>>; followHolidays: boolean }
  | { kind: 'cycle'; on: number; off: number; anchor: string; shifts: ShiftSpan[] }
  | { kind: 'always' };

export interface Calendar {
  /** ISO dates that are days off although weekdays. */
  nonWorking: ReadonlySet<string>;
  /** ISO dates that are working days although weekends. */
  working: ReadonlySet<string>;
}

export interface CompiledManager {
  userId: number;
  name: string;
  weight: number;
  cap: number;
  schedule: Schedule;
  absences: Array<{ from: string; to: string; reason?: string }>;
  paused?: string;
}

export interface CompiledDepartment {
  name: string;
  headUserId: number;
  fallbackUserId: number;
  telegramChat?: string;
  pipelineIds: number[];
  managers: CompiledManager[];
  paused?: string;
}

export type Strategy = 'smooth_weighted_round_robin' | 'least_loaded';
export type TakenSignal = 'left_stage' | 'outgoing_call' | 'note' | 'task_completed';

export interface CompiledPickup {
  enabled: boolean;
  pipelineId: number;
  statusId: number;
  stageName: string;
  timeoutMs: number;
  maxMisses: number;
  takenBy: ReadonlySet<TakenSignal>;
  stageMoveRequiresCall: boolean;
  clockRunsOnlyOnShift: boolean;
  pinTag: string;
  strategy: Strategy;
  /** 0, the integration's own user and configured robots: their changes never start or stop a clock. */
  robotUserIds: ReadonlySet<number>;
  batchWindowMs: number;
  sweepIntervalMs: number;
}

/** Telegram delivery settings (config `telegram`), resolved: quiet hours as minute spans, durations in ms. */
export interface CompiledTelegram {
  /** Undefined: no quiet hours. */
  quietHours?: ShiftSpan;
  /** Overrides by chat id, department name or manager user id; `null` = no quiet hours for that chat. */
  quietByChat: ReadonlyMap<string, ShiftSpan | null>;
  quietByDepartment: ReadonlyMap<string, ShiftSpan | null>;
  quietByUserId: ReadonlyMap<number, ShiftSpan | null>;
  alertWindowMs: number;
  burstThreshold: number;
  escalateAfterMs: number;
  escalateAtOnce: ReadonlySet<string>;
  silentTemplates: ReadonlySet<string>;
  linkCodeTtlMs: number;
  sweepIntervalMs: number;
  /** The on-call chat for incidents (config `telegram.operatorChat`). */
  operatorChat?: string;
}

/** Milestones the reports count, each reached by entering a configured stage (R12). */
export type Milestone = 'meeting_set' | 'meeting_held' | 'offer_sent';

export interface CompiledReports {
  enabled: boolean;
  /** Minutes from local midnight. */
  dailyAtMin: number;
  monthlyAtMin: number;
  /** Status id → the milestone its entry means, in any pipeline. */
  milestones: ReadonlyMap<number, Milestone>;
  /** Status id → stage name, for the record. */
  statusNames: ReadonlyMap<number, string>;
  sourceField: string;
  sources: Array<{ name: string; match: string[] }>;
  unansweredCallsNormal: number;
  contactedToMeetingMin: number;
  ranking: { minLeads: number; worst: number; weightFactor: number };
}

export interface CompiledRules {
  timeZone: string;
  calendar: Calendar;
  departments: CompiledDepartment[];
  pickup: CompiledPickup;
  /** R2 routing before rotation; absent: rotation only. */
  routing?: CompiledRouting;
  /** R4-R10; absent when the rules file has no `stageRules` block. */
  stageRules?: CompiledStageRules;
  /** R3 call cadences bound to stages. */
  cadences: CompiledCadences;
  /** Everyone the rules may name in a note: id → name. */
  userNames: ReadonlyMap<number, string>;
  /** Users active in amoCRM. */
  activeUserIds: ReadonlySet<number>;
  /** Absent in hand-built rules (tests): Telegram uses its defaults. */
  telegram?: CompiledTelegram;
  /** R11/R12; absent in hand-built rules of tests that do not need reports. */
  reports?: CompiledReports;
  /** Contesting violations; absent in hand-built rules (the defaults apply). */
  disputes?: CompiledDisputes;
  /** Rules in shadow mode (`shadow: true` in the config): evaluated and recorded, no amoCRM writes. */
  shadowRules?: ReadonlySet<string>;
}

export type SkipReason = 'off_shift' | 'absent' | 'at_cap' | 'missed_this_lead' | 'inactive' | 'paused' | 'holiday';

/** A manager left out of a pick, and why; `detail` is the pause's own reason (as the РОП or admin gave it). */
export interface Skipped {
  userId: number;
  reason: SkipReason;
  detail?: string;
}

export interface Candidate {
  userId: number;
  /** Effective weight: the configured weight times the ranking factor, if any. */
  weight: number;
  cap: number;
  /** R11: the configured weight and the factor of the monthly ranking that lowered it, with its reason. */
  factor?: { baseWeight: number; factor: number; reason: string };
}

export interface AssignmentRequest {
  leadId: number;
  department: string;
  cause: 'new_lead' | 'non_manager_responsible' | 'missed' | 'head_reassign';
  missedUserId?: number;
  /** For `head_reassign`: the head of sales who asked for it. */
  requestedByUserId?: number;
  previousUserId?: number;
  eligible: Candidate[];
  skipped: Skipped[];
  strategy: Strategy;
  clock: number;
  routing?: RoutingNote;
}

export interface DistributionExplanation {
  department: string;
  strategy: Strategy;
  candidates: Candidate[];
  skipped: Skipped[];
  /** SWRR current weights after the pick, or untaken loads for least-loaded. */
  scores: Record<string, number>;
  winner?: number;
  routing?: RoutingNote;
}

export const PickupStateSchema = z.object({
  leadId: z.number().int(),
  /** Increments with every new clock; timers carry it so a stale timer does nothing. */
  clock: z.number().int().nonnegative(),
  phase: z.enum(['idle', 'waiting_shift', 'running', 'taken', 'pinned', 'fallback']),
  department: z.string().optional(),
  assignedUserId: z.number().int().optional(),
  assignedAt: z.number().optional(),
  deadlineAt: z.number().optional(),
  missedUserIds: z.array(z.number().int()),
  misses: z.number().int().nonnegative(),
  takenAt: z.number().optional(),
  takenBy: z.enum(['left_stage', 'outgoing_call', 'note', 'task_completed', 'moved_by_other']).optional(),
});
export type PickupState = z.infer<typeof PickupStateSchema>;

export function emptyPickupState(leadId: number): PickupState {
  return { leadId, clock: 0, phase: 'idle', missedUserIds: [], misses: 0 };
}

export type RecordKind =
  'assignment' | 'reassignment' | 'fallback' | 'pickup_started' | 'pickup_taken' | 'pickup_waiting';

export type Decision =
  | { kind: 'assign'; request: AssignmentRequest; reason: string }
  | { kind: 'reassign'; leadId: number; fromUserId?: number; toUserId: number; reason: string }
  | { kind: 'add_note'; leadId: number; text: string; reason: string }
  | { kind: 'create_task'; leadId: number; userId: number; text: string; dueAt: number; reason: string }
  | {
      kind: 'alert';
      audience: { kind: 'department'; department: string; chatId?: string } | { kind: 'manager'; userId: number };
      template:
        | 'pickup_missed'
        | 'pickup_fallback'
        | 'lead_assigned'
        | 'nobody_eligible'
        | 'pickup_taken'
        | 'pickup_reassigned_by_head';
      params: Record<string, string | number>;
      leadId: number;
      dedupeKey: string;
      reason: string;
    }
  | {
      kind: 'record_violation';
      type: 'pickup_missed';
      leadId: number;
      userId: number;
      /** The department whose clock was missed: its РОП decides a dispute. */
      department?: string;
      at: number;
      reason: string;
      evidence?: ViolationEvidence;
    }
  | {
      kind: 'record';
      record: RecordKind;
      leadId: number;
      userId?: number;
      previousUserId?: number;
      explanation?: DistributionExplanation;
      /** pickup_taken: how long after the assignment the manager took the lead. */
      takenAfterMs?: number;
      at: number;
      reason: string;
    }
  | { kind: 'schedule_timer'; timer: 'pickup_deadline'; leadId: number; clock: number; dueAt: number; reason: string }
  | { kind: 'cancel_timer'; timer: 'pickup_deadline'; leadId: number; clock: number; reason: string }
  | { kind: 'release_load'; leadId: number; userId: number; reason: string };

/** What the rules see of a lead when they run: the worker's state, or a fresh read from amoCRM at a deadline. */
export interface LeadSnapshot {
  leadId: number;
  pipelineId?: number;
  statusId?: number;
  responsibleUserId?: number;
  tags: string[];
  /** R2 routing: the responsible of the lead's main contact, when the shell read it (a returning client). */
  contactOwnerUserId?: number;
  /** R2 routing: lead custom field id → first value, when the shell read them (the listing owner field). */
  fields?: ReadonlyMap<number, string>;
}

/** R2 routing before rotation (seed 003 «Создаёт заявку на того агента, чей объект»). */
export interface CompiledRouting {
  returningClient: boolean;
  listingOwnerFieldId?: number;
  /** A tag `<prefix><agent's name>` names the listing's owner. */
  listingOwnerTagPrefix?: string;
}

export interface RoutingNote {
  kind: 'returning_client' | 'listing_owner';
  userId: number;
  /** Set when the owner could not take the lead and rotation chose instead. */
  skipped?: SkipReason | 'not_a_manager';
}

/** An amoCRM event on the lead after the assignment (from GET /api/v4/events at a deadline). */
export interface LeadActivity {
  type: 'outgoing_call' | 'note' | 'task_completed' | 'status_changed' | 'responsible_changed' | 'incoming_call';
  byUserId: number;
  /** Epoch seconds (amoCRM's `created_at`). */
  at: number;
  /** For `responsible_changed`: the responsible after the change (the event's `value_after`). */
  toUserId?: number;
}

export interface RuleContext {
  rules: CompiledRules;
  /** Epoch ms. */
  now: number;
  /** Untaken leads each manager holds now. */
  loads: ReadonlyMap<number, number>;
  /**
   * Intake paused by a РОП or admin at run time (src/store/intake-store.ts), keyed `manager:<userId>` or
   * `department:<name>`; paused people are skipped with that reason (seed 002 §2.13, §3.10).
   */
  paused?: ReadonlyMap<string, IntakePause>;
  /** R11: distribution weight factors of this month's ranking by user id (effective weight = weight × factor). */
  weightFactors?: ReadonlyMap<number, { factor: number; reason: string }>;
}

export interface IntakePause {
  by: string;
  byUserId?: number;
  reason: string;
  at: number;
}

export const pauseKey = (target: { kind: 'manager'; userId: number } | { kind: 'department'; name: string }): string =>
  target.kind === 'manager' ? `manager:${target.userId}` : `department:${target.name}`;
