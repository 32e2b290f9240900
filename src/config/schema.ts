/**
 * The rules configuration an admin edits (config/rules.yaml), as a zod schema. Stages, users and groups are
 * named as an admin sees them in amoCRM; compile.ts resolves them to ids against the live account.
 * Every duration is ISO-8601 (PT15M, P1D). A JSON Schema generated from this file (config/rules.schema.json)
 * gives editors autocompletion.
 */
import { DisputesSchema } from '../rules/disputes/config.js';
import { z } from 'zod';
import { CadencesSchema } from '../rules/cadence/config.js';
import { durationSchema } from '../rules/duration.js';
import { RoutingSchema } from '../rules/distribution/config.js';
import { PickupRuleSchema } from '../rules/pickup/config.js';
import { ReportsRuleSchema } from '../rules/reports/config.js';
import { ShiftSchema } from '../rules/schedule/config.js';
import { StageRulesSchema } from '../rules/stage-rules/registry.js';

export const IsoDurationSchema = durationSchema();

/** A calendar's name: `calendars/<file>.yaml` or `<file>.yaml`, no other folder. */
export const CALENDAR_NAME = /^(?:calendars\/)?[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$/;

// Each rule's piece lives in its folder; these are the names other modules and tests read them by.
export { CadencesSchema, type CadencesConfig } from '../rules/cadence/config.js';
export { PickupRuleSchema, TAKEN_SIGNALS, type TakenSignal } from '../rules/pickup/config.js';
export { LeadSourceSchema, ReportsRuleSchema, type ReportsRuleConfig } from '../rules/reports/config.js';
export { ShiftSchema } from '../rules/schedule/config.js';

const IsoDateSchema = z.iso.date().describe('A date, YYYY-MM-DD');

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const ScheduleSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('weekly'),
        /** Shifts per weekday; a missing day is a day off. */
        days: z.partialRecord(z.enum(WEEKDAYS), z.array(ShiftSchema)),
        /** Days off on public holidays, and working transferred Saturdays (with Friday's shifts). */
        followHolidays: z.boolean().default(true),
      })
      .strict(),
    z
      .object({
        kind: z.literal('cycle'),
        /** "2/2": two days on, two days off; "1/3", "5/2" likewise. */
        pattern: z.string().regex(/^\d+\/\d+$/, 'must look like "2/2"'),
        /** The first day of an "on" block. */
        anchor: IsoDateSchema,
        shifts: z.array(ShiftSchema).min(1),
      })
      .strict(),
    z.object({ kind: z.literal('always') }).strict(),
  ])
  .describe('When a person works: weekly shifts, a cycle such as 2/2, or always');
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;

export const AbsenceSchema = z
  .object({ from: IsoDateSchema, to: IsoDateSchema, reason: z.string().optional() })
  .strict()
  .refine((a) => a.from <= a.to, { message: '"from" must not be after "to"', path: ['to'] });

export const ManagerSchema = z
  .object({
    /** The amoCRM user's name (or e-mail) as shown in amoCRM. */
    user: z.string().min(1),
    weight: z.number().positive('must be > 0').max(100).default(1),
    /** Most leads this manager may hold untaken at once. */
    cap: z.number().int().positive().default(10),
    schedule: ScheduleSchema.optional(),
    absences: z.array(AbsenceSchema).default([]),
    /** Intake paused by the РОП (seed 002 §2.13: lead flow suspended for breaking the regulation). */
    paused: z
      .object({ reason: z.string().min(1), since: IsoDateSchema.optional() })
      .strict()
      .optional(),
  })
  .strict();

export const DepartmentSchema = z
  .object({
    name: z.string().min(1),
    /** amoCRM user group whose members are the department's managers (besides those listed). */
    group: z.string().min(1).optional(),
    /** The head of sales (РОП). */
    head: z.string().min(1),
    /** Who gets a lead nobody took after the last miss; the РОП by default. */
    fallback: z.string().min(1).optional(),
    telegramChat: z.string().optional(),
    pipelines: z.array(z.string().min(1)).min(1),
    /** Default schedule of the department's managers. */
    schedule: ScheduleSchema,
    managers: z.array(ManagerSchema).default([]),
    paused: z
      .object({ reason: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();

/** Quiet hours of a chat in local time ("21:00-09:00"), or "off". */
const QuietHoursSchema = z
  .union([z.literal('off'), ShiftSchema])
  .describe('Local "HH:MM-HH:MM" when alerts are held, or "off"');

/**
 * Telegram delivery and its manners (SPEC "Alerts": one per lead per violation type per window, grouped when many
 * fire at once, quiet hours). Every field has a default, so rules files without this section stay valid.
 */
export const TelegramRulesSchema = z
  .object({
    /** Quiet hours of every chat; alerts are held and delivered as one digest when they end. */
    quietHours: QuietHoursSchema.default('off'),
    /** Per-chat quiet hours, keyed by a Telegram chat id, a department name (its chat) or a manager's amoCRM name. */
    chats: z.record(z.string().min(1), z.object({ quietHours: QuietHoursSchema }).strict()).default({}),
    /** One alert per lead per violation type within this window. */
    alertWindow: IsoDurationSchema.default('PT4H'),
    /** More new alerts than this waiting for one chat are sent as one digest message. */
    burstThreshold: z.number().int().min(1).max(100).default(5),
    /** Violations go to the manager first; to the department's РОП if still open after this. */
    escalateAfter: IsoDurationSchema.default('PT30M'),
    /** Violation types that go straight to the РОП (no manager step). */
    escalateAtOnce: z.array(z.string().min(1)).default([]),
    /** Templates sent without a sound (`disable_notification`). */
    silentTemplates: z.array(z.string().min(1)).default(['pickup_taken', 'report_daily', 'digest']),
    /** How long a one-time deep link from `npm run telegram:link` stays valid. */
    linkCodeTtl: IsoDurationSchema.default('P1D'),
    /** How often held alerts, escalations and stranded chats are looked at. */
    sweepInterval: IsoDurationSchema.default('PT30S'),
    /**
     * The on-call chat (a Telegram chat id): one message per incident the robot cannot fix itself (amoCRM unreachable
     * or blocking, token revoked, webhook disabled, rules switched off by names amoCRM no longer has, dead letters),
     * edited in place and marked resolved on recovery. Absent: incidents go to the log and metrics only.
     */
    operatorChat: z
      .string()
      .regex(/^-?\d+$/, 'must be a Telegram chat id such as "-1001234567890"')
      .optional(),
  })
  .strict();
export type TelegramRulesConfig = z.infer<typeof TelegramRulesSchema>;

export const RulesConfigSchema = z
  .object({
    $schema: z.string().optional(),
    /** IANA zone; the account's own zone when absent. */
    timeZone: z.string().optional(),
    /**
     * The production calendar by name: a file in the `calendars/` folder beside the rules file, or one shipped in
     * config/calendars/. Never a path: a draft from the admin page cannot make the service read another file.
     */
    calendar: z
      .string()
      .regex(CALENDAR_NAME, 'must name a calendar file of the calendars/ folder, such as "calendars/ru-2025-2027.yaml"')
      .default('calendars/ru-2025-2027.yaml'),
    departments: z.array(DepartmentSchema).min(1),
    rules: z.object({ pickup: PickupRuleSchema, reports: ReportsRuleSchema.prefault({}) }).strict(),
    /** R2 routing before rotation (seed 003): the listing's owner, a returning client's manager. */
    routing: RoutingSchema.optional(),
    /** R4-R10: the stage rules of the regulations (src/rules/stage-rules). */
    stageRules: StageRulesSchema.optional(),
    /** R3 call cadences: profiles and the stages they run on. */
    cadences: CadencesSchema.default({ profiles: {}, bindings: [], sweepInterval: 'PT10M' }),
    telegram: TelegramRulesSchema.default(TelegramRulesSchema.parse({})),
    /** Managers contesting violations and the РОП deciding (src/rules/disputes). */
    disputes: DisputesSchema.prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.departments.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({
          code: 'custom',
          path: ['departments', i, 'name'],
          message: `department "${d.name}" is listed twice`,
        });
      names.add(d.name);
    });
    const managers = new Map<string, number>();
    cfg.departments.forEach((d, i) =>
      d.managers.forEach((m, j) => {
        if (managers.has(m.user))
          ctx.addIssue({
            code: 'custom',
            path: ['departments', i, 'managers', j, 'user'],
            message: `"${m.user}" is a manager in two departments`,
          });
        managers.set(m.user, i);
      }),
    );
    if (cfg.timeZone !== undefined && !isValidZone(cfg.timeZone)) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeZone'],
        message: `"${cfg.timeZone}" is not an IANA time zone such as "Europe/Moscow"`,
      });
    }
  });
export type RulesConfig = z.infer<typeof RulesConfigSchema>;
export type DepartmentConfig = z.infer<typeof DepartmentSchema>;
export type ManagerConfig = z.infer<typeof ManagerSchema>;

function isValidZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const CalendarSchema = z
  .object({
    $schema: z.string().optional(),
    source: z.string().min(1),
    years: z.record(
      z.string().regex(/^\d{4}$/),
      z
        .object({
          status: z.enum(['confirmed', 'draft']),
          nonWorking: z.array(IsoDateSchema),
          working: z.array(IsoDateSchema),
        })
        .strict(),
    ),
  })
  .strict();
export type CalendarConfig = z.infer<typeof CalendarSchema>;
