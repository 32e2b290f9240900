/**
 * What every stage rule shares: the per-lead state (a field `stage` of the lead's hash), the view of a lead the
 * rules read, and the effects of a violation (one record with a stable id and one message for the РОП).
 * Pure: time comes in `ctx.now`, amoCRM data comes in as arguments.
 */
import { DateTime, Duration } from 'luxon';
import { ruDuration } from '../../lib/ru-duration.js';
import { z } from 'zod';
import type { ViolationEvidence } from '../disputes/policy.js';
import { ms } from '../duration.js';
import type { Effect, Plan } from '../plan.js';
import type { Calendar, CompiledDepartment, CompiledRules, RuleContext } from '../types.js';
import type { CompiledStageRules, StageRef } from './config.js';

export const StageStateSchema = z.object({
  /** Counts the stage entries seen; a new entry is a new window for every rule. */
  visit: z.number().int().nonnegative(),
  pipelineId: z.number().int().optional(),
  statusId: z.number().int().optional(),
  /** When the lead entered its current stage (epoch ms), read from amoCRM's events when it joined by the sweep. */
  enteredAt: z.number().optional(),
  enteredBy: z.number().int().optional(),
  /** The entry was a robot's (our own write, amoCRM's robot): the stage's rules do not start. */
  robotEntry: z.boolean().optional(),
  /** The last note, call or stage change by a person (epoch ms). */
  lastTouchAt: z.number().optional(),
  r5: z.object({ reasonAt: z.number().optional(), flagged: z.boolean().optional() }).optional(),
  r6: z.object({ n: z.number().int(), untouchedFlagged: z.array(z.number()).optional() }).optional(),
  /** `seenAt`: amoCRM's updated_at of the newest lead view the meeting time was taken from (older ones are stale). */
  r7: z
    .object({
      meetingAt: z.number().optional(),
      refs: z.array(z.string()),
      flagged: z.boolean().optional(),
      seenAt: z.number().optional(),
    })
    .optional(),
  /** mustPassThrough rule name → entry time of its `from` stage, while armed. */
  r8: z.record(z.string(), z.number()).optional(),
  r9: z.object({ taskRef: z.string() }).optional(),
  /** Windows of R10 already flagged (`<lastTouch>w<n>`), newest last. */
  r10: z.array(z.string()).optional(),
});
export type StageState = z.infer<typeof StageStateSchema>;

export const emptyStageState = (): StageState => ({ visit: 0 });

/** A lead as the stage rules see it: from the worker's state, or re-read from amoCRM at a timer. */
export interface StageLead {
  leadId: number;
  pipelineId?: number;
  statusId?: number;
  responsibleUserId?: number;
  tags: string[];
  /** Custom field id → first value as text (date fields: unix seconds as text). */
  fields: ReadonlyMap<number, string>;
  /**
   * false: the event carried no custom fields at all (a Digital Pipeline short body, a note or task event), so an
   * empty `fields` says nothing about the lead's fields. Absent: they are the lead's fields.
   */
  fieldsKnown?: boolean;
  /** amoCRM's updated_at (epoch ms) of what `fields` show: the API's, or the webhook's `updated_at`. */
  updatedAt?: number;
  /** amoCRM's created_at (epoch ms): the silence of a lead no person ever touched starts here (R10). */
  createdAt?: number;
  /**
   * The newest note, call, stage change or task completion by a person (not the robot) amoCRM's events show, when
   * the sweep read them (a lead the worker never saw touched). `updatedAt` is no touch: the robot's writes move it.
   */
  lastPersonTouchAt?: number;
}

export interface StageContext extends RuleContext {
  stage: CompiledStageRules;
}

export function stageContext(ctx: RuleContext): StageContext | undefined {
  return ctx.rules.stageRules ? { ...ctx, stage: ctx.rules.stageRules } : undefined;
}

export const isIn = (
  ref: StageRef | undefined,
  lead: { pipelineId?: number | undefined; statusId?: number | undefined },
): boolean =>
  ref !== undefined &&
  lead.statusId === ref.statusId &&
  (lead.pipelineId === undefined || lead.pipelineId === ref.pipelineId);

export const isRobot = (rules: CompiledRules, userId: number | undefined): boolean =>
  userId === undefined || rules.pickup.robotUserIds.has(userId);

export const nameOf = (rules: CompiledRules, id: number | undefined): string =>
  id === undefined ? 'не назначен' : (rules.userNames.get(id) ?? `пользователь ${id}`);

export function departmentOf(
  rules: CompiledRules,
  userId: number | undefined,
  pipelineId: number | undefined,
): CompiledDepartment | undefined {
  return (
    rules.departments.find(
      (d) => userId !== undefined && (d.managers.some((m) => m.userId === userId) || d.headUserId === userId),
    ) ??
    rules.departments.find((d) => pipelineId !== undefined && d.pipelineIds.includes(pipelineId)) ??
    rules.departments[0]
  );
}

export const iso = (ms: number): string => new Date(ms).toISOString();

export function formatLocal(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).setLocale('ru').toFormat('d MMMM HH:mm');
}

export function hhmm(ms: number, zone: string): string {
  return DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
}

/** Russian, for notes: "1 день", "10 мин", "30 сек" (src/lib/ru-duration.ts). */
export const durationText = (msValue: number): string => ruDuration(msValue);

/** English, for log reasons: "1d", "10m", "30s". */
export function durationEn(msValue: number): string {
  if (msValue % 86_400_000 === 0) return `${msValue / 86_400_000}d`;
  if (msValue % 3_600_000 === 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0) return `${msValue / 60_000}m`;
  return `${Math.round(msValue / 1000)}s`;
}

/** A working day: not a weekend unless the calendar moved work there, not a public holiday. */
export function isWorkingDay(date: DateTime, calendar: Calendar): boolean {
  const day = date.toISODate() ?? '';
  if (calendar.working.has(day)) return true;
  if (calendar.nonWorking.has(day)) return false;
  return date.weekday <= 5;
}

/** `from` plus `days` working days, at the same local time (Friday 15:00 + 2 → Tuesday 15:00). */
export function addWorkingDays(from: number, days: number, zone: string, calendar: Calendar): number {
  let t = DateTime.fromMillis(from, { zone });
  let left = days;
  while (left > 0) {
    t = t.plus({ days: 1 });
    if (isWorkingDay(t, calendar)) left -= 1;
  }
  return t.toMillis();
}

/**
 * `from` plus an ISO-8601 duration in the account's zone, through luxon (the validator's parser): calendar units
 * follow the calendar (P1D across a clock change is a local day), fractions work (P1.5D, PT0.5H). A duration that
 * does not move time forward throws: a timer due "now" again would fire and act in a loop. A duration in Russian units
 * is added as its exact length.
 */
export function addIso(from: number, duration: string, zone: string): number {
  const d = Duration.fromISO(duration);
  // Russian units («2 дня») are exact lengths; ISO's calendar units follow the local calendar.
  const to = d.isValid ? DateTime.fromMillis(from, { zone }).plus(d).toMillis() : from + ms(duration);
  if (!(to > from))
    throw new Error(`"${duration}" is not a positive ISO-8601 duration; nothing can be scheduled with it`);
  return to;
}

export interface ViolationInput {
  type: string;
  rule: string;
  seed: string;
  lead: StageLead;
  /** The manager who broke the rule (the responsible). */
  userId?: number;
  /** When the window opened: the stage entry, the last touch. */
  since: number;
  /** Part of the stable id: `<type>:<leadId>:<window>`. */
  window: string;
  reason: string;
  /** The events the rule read, beyond the window's opening (a stage entry, a note, a task). */
  events?: Array<{ what: string; at: number }>;
}

/** A compiled config piece as plain JSON (maps and sets as objects and lists), for the ledger's evidence. */
export function plainConfig(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plainConfig(v)]));
  if (value instanceof Set) return [...value].map(plainConfig);
  if (Array.isArray(value)) return value.map(plainConfig);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainConfig(v)]));
  return value;
}

/** What the rule used: the window it measured, the lead as it saw it, its config in force, the events it read. */
export function stageEvidence(v: ViolationInput, ctx: StageContext): ViolationEvidence {
  const key = ctx.stage.pieceOf?.[v.rule];
  const config = key !== undefined ? plainConfig(ctx.stage[key]) : undefined;
  return {
    since: iso(v.since),
    decidedAt: iso(ctx.now),
    lead: {
      pipelineId: v.lead.pipelineId,
      statusId: v.lead.statusId,
      responsibleUserId: v.lead.responsibleUserId,
    },
    ...(config !== undefined && typeof config === 'object'
      ? { config: (Array.isArray(config) ? { rules: config } : config) as Record<string, unknown> }
      : {}),
    events: [
      { what: 'window opened', at: iso(v.since) },
      ...(v.events ?? []).map((e) => ({ what: e.what, at: iso(e.at) })),
    ],
  };
}

/** One record and one РОП message per (type, lead, window): both carry the same violation id. */
export function violationEffects(v: ViolationInput, ctx: StageContext): Effect[] {
  const violationId = `${v.type}:${v.lead.leadId}:${v.window}`;
  const dept = departmentOf(ctx.rules, v.userId, v.lead.pipelineId);
  const at = iso(ctx.now);
  const effects: Effect[] = [
    {
      kind: 'record',
      leadId: v.lead.leadId,
      dedupeId: `violation:${violationId}`,
      record: {
        kind: 'violation',
        type: v.type,
        rule: v.rule,
        seed: v.seed,
        violationId,
        at,
        leadId: v.lead.leadId,
        ...(v.userId !== undefined ? { userId: v.userId } : {}),
        ...(dept ? { department: dept.name } : {}),
        reason: v.reason,
        evidence: stageEvidence(v, ctx),
      },
    },
  ];
  if (dept) {
    effects.push({
      kind: 'message',
      leadId: v.lead.leadId,
      dedupeId: `violation:${violationId}`,
      message: {
        at,
        audience: {
          kind: 'department',
          department: dept.name,
          ...(dept.telegramChat ? { chatId: dept.telegramChat } : {}),
        },
        template: 'violation',
        params: {
          type: v.type,
          rule: v.rule,
          seed: v.seed,
          leadId: v.lead.leadId,
          userId: v.userId ?? 0,
          since: iso(v.since),
          violationId,
        },
        leadId: v.lead.leadId,
        reason: v.reason,
      },
    });
  }
  return effects;
}

/** An `action` record: what the robot did to a lead and why, for `lead:explain`. */
export function actionRecord(
  rule: string,
  type: string,
  lead: StageLead,
  ctx: StageContext,
  reason: string,
  dedupeId: string,
  seed?: string,
): Effect {
  return {
    kind: 'record',
    leadId: lead.leadId,
    dedupeId,
    record: {
      kind: 'action',
      type,
      rule,
      at: iso(ctx.now),
      leadId: lead.leadId,
      ...(lead.responsibleUserId !== undefined ? { userId: lead.responsibleUserId } : {}),
      ...(seed ? { seed } : {}),
      reason,
    },
  };
}

/** What one rule decided: effects with the reason, and the state after. `key` makes the plan id deterministic. */
export interface RuleOutcome {
  rule: string;
  key: string;
  reason: string;
  effects: Effect[];
}

export function toPlan(leadId: number, o: RuleOutcome, state: StageState): Plan {
  return {
    id: `${o.rule}:${leadId}:${o.key}`,
    rule: o.rule,
    leadId,
    reason: o.reason,
    state: { stage: state },
    effects: o.effects,
  };
}

/** Reads the first value of a custom field from the webhook's field list. */
export function fieldsFromEvent(
  customFields: Array<{ id: number; values: Array<{ value: string }> }>,
): Map<number, string> {
  return new Map(
    customFields.flatMap((f) => (f.values[0] !== undefined ? [[f.id, f.values[0].value] as [number, string]] : [])),
  );
}

/** A date-time field value (unix seconds as text, or an ISO instant) → epoch ms. */
export function parseFieldTime(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    return n < 1e11 ? n * 1000 : n;
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}
