/**
 * The rules configuration an admin edits (config/rules.yaml), as a zod schema. Stages, users and groups are
 * named as an admin sees them in amoCRM; compile.ts resolves them to ids against the live account.
 * Every duration is ISO-8601 (PT15M, P1D). A JSON Schema generated from this file (config/rules.schema.json)
 * gives editors autocompletion.
 */
import { DisputesSchema } from '../rules/disputes/config.js';
import { z } from 'zod';
import { durationSchema } from '../rules/duration.js';
import { StageRulesSchema } from '../rules/stage-rules/registry.js';

export const IsoDurationSchema = durationSchema();

const TIME = /^([01]\d|2[0-4]):([0-5]\d)$/;
export const ShiftSchema = z
  .string()
  .regex(/^\d\d:\d\d-\d\d:\d\d$/, 'must look like "09:00-21:00"')
  .refine((s) => {
    const [a, b] = s.split('-');
    return TIME.test(a ?? '') && TIME.test(b ?? '') && (a ?? '') !== (b ?? '');
  }, 'must be two different times of day HH:MM; an overnight shift such as "21:00-09:00" is allowed')
  .describe('A shift in local time, "HH:MM-HH:MM"');

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

export const TAKEN_SIGNALS = ['left_stage', 'outgoing_call', 'note', 'task_completed'] as const;
export type TakenSignal = (typeof TAKEN_SIGNALS)[number];

export const PickupRuleSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Shadow mode: evaluated and recorded, but no amoCRM writes; for rolling a rule change out safely. */
    shadow: z.boolean().default(false),
    pipeline: z.string().min(1),
    stage: z.string().min(1),
    /** R1, seed 001: 15 minutes to take the lead into work. */
    timeout: IsoDurationSchema.default('PT15M'),
    maxMisses: z.number().int().min(1).max(20).default(3),
    takenBy: z
      .array(z.enum(TAKEN_SIGNALS))
      .min(1)
      .default([...TAKEN_SIGNALS]),
    /** A drag to another stage counts as taken only with an outgoing call before it. */
    stageMoveRequiresCall: z.boolean().default(false),
    clockRunsOnlyOnShift: z.boolean().default(true),
    pinTag: z.string().min(1).default('СОГЛАСОВАНО РОПом'),
    strategy: z.enum(['smooth_weighted_round_robin', 'least_loaded']).default('smooth_weighted_round_robin'),
    /** Users whose changes are robots' (besides user 0 and the integration's own user). */
    robotUsers: z.array(z.string()).default([]),
    /** Deadlines within this window are checked together (one leads and one events request per batch). */
    batchWindow: IsoDurationSchema.default('PT5S'),
    /** How often the safety sweep looks for leads in the stage with no clock. */
    sweepInterval: IsoDurationSchema.default('PT1M'),
  })
  .strict();

// --- R3 call cadences -------------------------------------------------------------------------------------------
// A cadence is data: phases in days since the lead entered the stage, call windows, the end action and what stops
// it. Profiles are named; a binding puts a profile on a pipeline stage, so each department's pipeline declares its
// own. Only enabled bindings are resolved against the account.

const WindowSchema = ShiftSchema.refine((s) => {
  const [a = '', b = ''] = s.split('-');
  return a < b;
}, 'a call window must end the same day, e.g. "13:00-15:00"');

export const CadencePhaseSchema = z
  .object({
    /** First day of the phase, in days since the lead entered the stage (0 = the day it entered). */
    from: z.number().int().min(0),
    /** Day the phase ends (exclusive). */
    to: z.number().int().positive(),
    /** Calls in every block of `everyDays` days: 1 call every 2 days = "через день"; 2 every 7 = "2 раза в неделю". */
    calls: z.number().int().min(1).max(12),
    everyDays: z.number().int().min(1).max(31).default(1),
    /** One call of every block falls on a Saturday or Sunday (seed 001: "один из звонков на выходных"). */
    weekendCall: z.boolean().default(false),
    /** A messenger or SMS task after each unanswered call of this phase, with this text. */
    messenger: z
      .object({ text: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((p) => p.from < p.to, { message: '"to" must be after "from"', path: ['to'] })
  .refine((p) => !p.weekendCall || p.everyDays >= 7, {
    message: 'a weekend call needs blocks of at least 7 days ("everyDays: 7")',
    path: ['weekendCall'],
  });
export type CadencePhaseConfig = z.infer<typeof CadencePhaseSchema>;

export const CADENCE_STOPS = ['left_stage', 'answered_call', 'meeting_set'] as const;

export const CadenceProfileSchema = z
  .object({
    /** The regulation line this profile enforces, quoted in records and violations. */
    seed: z.string().min(1),
    phases: z.array(CadencePhaseSchema).min(1),
    windows: z
      .object({
        /** seed 001 "Рекомендации по звонкам": обед 13–15, после работы 19–21. */
        weekdays: z.array(WindowSchema).min(1).default(['13:00-15:00', '19:00-21:00']),
        /** seed 001: "в выходные – звонить не слишком рано". */
        weekends: z.array(WindowSchema).min(1).default(['11:00-15:00', '19:00-21:00']),
        weekendNotBefore: z
          .string()
          .regex(/^\d\d:\d\d$/)
          .default('11:00'),
      })
      .strict()
      .default({
        weekdays: ['13:00-15:00', '19:00-21:00'],
        weekends: ['11:00-15:00', '19:00-21:00'],
        weekendNotBefore: '11:00',
      })
      .refine((w) => w.weekends.every((s) => s.slice(0, 5) >= w.weekendNotBefore), {
        message: 'a weekend window starts before "weekendNotBefore"',
        path: ['weekends'],
      }),
    /** seed 001: "Звоните в разное время": consecutive calls in different windows. */
    rotateWindows: z.boolean().default(true),
    end: z
      .discriminatedUnion('kind', [
        z
          .object({
            kind: z.literal('move'),
            /** A stage of the bound pipeline. */
            stage: z.string().min(1),
            /** Written in the note, e.g. seed 000 "Не дозвониться". */
            reason: z.string().min(1).optional(),
          })
          .strict(),
        z.object({ kind: z.literal('alert') }).strict(),
      ])
      .describe('At the end without contact: move the lead with a note listing the attempts, or alert the РОП only'),
    /** End when the last phase is over (the default), or right after the last call (seed 000: "после трёх звонков"). */
    endAt: z.enum(['end_of_last_phase', 'after_last_call']).default('end_of_last_phase'),
    stopOn: z
      .array(z.enum(CADENCE_STOPS))
      .min(1)
      .default([...CADENCE_STOPS]),
    /** A call note counts as a conversation from this many seconds (and never with a "no answer" status). */
    answeredMinDuration: z.number().int().min(0).max(3600).default(20),
    /** A task left undone this long past due is the violation call_overdue, and the call is set again. */
    overdueAfter: IsoDurationSchema.default('P1D'),
    /** seed 001 scenario 2: the Nth manager in a row who cannot reach the client ends the cadence at once. */
    thirdManagerRule: z
      .object({ enabled: z.boolean().default(false), managers: z.number().int().min(2).max(10).default(3) })
      .strict()
      .default({ enabled: false, managers: 3 }),
  })
  .strict()
  .superRefine((p, ctx) => {
    p.phases.forEach((ph, i) => {
      const prev = p.phases[i - 1];
      if (prev && ph.from !== prev.to)
        ctx.addIssue({
          code: 'custom',
          path: ['phases', i, 'from'],
          message: `phases must follow each other: expected "from: ${prev.to}"`,
        });
    });
  });
export type CadenceProfileConfig = z.infer<typeof CadenceProfileSchema>;

export const CadenceBindingSchema = z
  .object({
    enabled: z.boolean().default(true),
    pipeline: z.string().min(1),
    stage: z.string().min(1),
    profile: z.string().min(1),
    /** Leads already in the stage when the service starts or the binding is switched on join the cadence. */
    joinExisting: z.boolean().default(true),
  })
  .strict();

export const CadencesSchema = z
  .object({
    profiles: z
      .record(z.string().regex(/^[a-z0-9-]+$/, 'a profile name is lower-case-with-dashes'), CadenceProfileSchema)
      .default({}),
    bindings: z.array(CadenceBindingSchema).default([]),
    /** How often the sweep lists the bound stages (paged, 250 leads a request, bulk priority). */
    sweepInterval: IsoDurationSchema.default('PT10M'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.bindings.forEach((b, i) => {
      if (c.profiles[b.profile] === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['bindings', i, 'profile'],
          message: `no profile "${b.profile}"; profiles: ${Object.keys(c.profiles).join(', ') || 'none'}`,
        });
      const key = `${b.pipeline}\u0000${b.stage}`;
      if (b.enabled && seen.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['bindings', i, 'stage'],
          message: `stage "${b.stage}" already has an enabled cadence`,
        });
      if (b.enabled) seen.add(key);
    });
  });
export type CadencesConfig = z.infer<typeof CadencesSchema>;
// --- end of R3 call cadences ------------------------------------------------------------------------------------

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

const ShareSchema = z.number().min(0).max(1);
const TimeOfDaySchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day "HH:MM"');

/** A lead source as the digest names it, and the words that recognise it in the source field or the tags. */
export const LeadSourceSchema = z
  .object({ name: z.string().min(1), match: z.array(z.string().min(1)).min(1) })
  .strict();

/**
 * R11 and R12 (seed 001 «Правило распределения лидов», seed 004 rules 5 and 7.4-7.5, seed 003 «статистика»,
 * seed 002 §1.3): what the daily digest and the monthly ranking count and when they are sent.
 */
export const ReportsRuleSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Local time of the daily digest per department (R12: 20:00). */
    dailyAt: TimeOfDaySchema.default('20:00'),
    /** Local time on the 1st of the month when the ranking of the month before is sent and applied (R11). */
    monthlyAt: TimeOfDaySchema.default('10:00'),
    /** Stages whose entry counts as a meeting set, a meeting held and an offer sent, in any of the departments' pipelines. */
    stages: z
      .object({
        meetingSet: z.array(z.string().min(1)).min(1).default(['Встреча назначена']),
        meetingHeld: z.array(z.string().min(1)).min(1).default(['Встреча состоялась']),
        offerSent: z.array(z.string().min(1)).min(1).default(['Отправлено КП']),
      })
      .strict()
      .prefault({}),
    /** amoCRM lead field holding the source (Авито, Циан, …); tags are looked at too. */
    sourceField: z.string().min(1).default('Источник'),
    /** Seed 002 §1.3 and seed 003: the boards leads come from, and the site. */
    sources: z
      .array(LeadSourceSchema)
      .min(1)
      .default([
        { name: 'Авито', match: ['авито', 'avito'] },
        { name: 'Циан', match: ['циан', 'cian'] },
        { name: 'Яндекс', match: ['яндекс', 'yandex'] },
        { name: 'Домклик', match: ['домклик', 'domclick'] },
        { name: 'Сайт', match: ['сайт', 'site', 'tilda'] },
      ]),
    yardsticks: z
      .object({
        /** Seed 004 rule 7.4: about 19% of calls unanswered is normal; a manager above it is highlighted. */
        unansweredCallsNormal: ShareSchema.default(0.19),
        /** Seed 004 rule 7.5: at least 30% of contacted leads should reach a meeting. */
        contactedToMeetingMin: ShareSchema.default(0.3),
      })
      .strict()
      .prefault({}),
    ranking: z
      .object({
        /** Managers who received fewer leads in the month are listed but not ranked. */
        minLeads: z.number().int().nonnegative().default(10),
        /** Seed 001: the 3 worst get fewer new leads next month. */
        worst: z.number().int().positive().default(3),
        /** Their distribution weight is multiplied by this for the next month. */
        weightFactor: z.number().positive().max(1).default(0.5),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const RulesConfigSchema = z
  .object({
    $schema: z.string().optional(),
    /** IANA zone; the account's own zone when absent. */
    timeZone: z.string().optional(),
    /** Holiday calendar file, relative to this file. */
    calendar: z.string().default('calendars/ru-2025-2027.yaml'),
    departments: z.array(DepartmentSchema).min(1),
    rules: z.object({ pickup: PickupRuleSchema, reports: ReportsRuleSchema.prefault({}) }).strict(),
    /** R2 routing before rotation (seed 003): the listing's owner, a returning client's manager. */
    routing: z
      .object({
        returningClient: z.boolean().default(true),
        /** Lead field holding the listing owner's name or amoCRM user id. */
        listingOwnerFieldId: z.number().int().positive().optional(),
        /** A tag "<prefix><agent's name>" names the listing owner, e.g. "Объект: Анна Смирнова". */
        listingOwnerTagPrefix: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
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
export type ReportsRuleConfig = z.infer<typeof ReportsRuleSchema>;

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
