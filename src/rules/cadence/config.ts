/**
 * R3's piece of the rules file (`cadences`: profiles of call cadences and the stages they run on) and its compile
 * step. Pure.
 */
import { z } from 'zod';
import { resolveStatus, type AccountDirectory } from '../directory.js';
import { durationSchema, ms } from '../duration.js';
import { parseShift, ShiftSchema } from '../schedule/config.js';
import type { CadenceEnd, CompiledCadence, CompiledCadences } from './types.js';

const IsoDurationSchema = durationSchema();

/** A path in the rules file and what is wrong there. */
export interface CadenceConfigError {
  path: string;
  message: string;
}

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

/** Resolves the enabled cadence bindings: the stage each runs on and, for a "move" end, the stage it ends in. */
export function compileCadences(
  config: CadencesConfig,
  dir: AccountDirectory,
  errors: CadenceConfigError[],
): CompiledCadences {
  const bindings: CompiledCadence[] = [];
  config.bindings.forEach((b, i) => {
    if (!b.enabled) return;
    const at = `cadences.bindings[${i}]`;
    const profile = config.profiles[b.profile];
    if (!profile) return; // reported by the schema
    const stage = resolveStatus(dir, b.pipeline, b.stage);
    if (!stage.ok) return void errors.push({ path: `${at}.stage`, message: stage.error });
    let end: CadenceEnd = { kind: 'alert' };
    if (profile.end.kind === 'move') {
      const target = resolveStatus(dir, b.pipeline, profile.end.stage);
      if (!target.ok)
        return void errors.push({
          path: `cadences.profiles.${b.profile}.end.stage`,
          message: `${target.error} (the end stage of profile "${b.profile}" bound at ${at})`,
        });
      end = {
        kind: 'move',
        pipelineId: target.value.pipelineId,
        statusId: target.value.statusId,
        stageName: profile.end.stage,
        ...(profile.end.reason !== undefined ? { reason: profile.end.reason } : {}),
      };
    }
    bindings.push({
      profile: b.profile,
      seed: profile.seed,
      pipelineId: stage.value.pipelineId,
      statusId: stage.value.statusId,
      stageName: b.stage,
      phases: profile.phases.map((p) => ({
        from: p.from,
        to: p.to,
        calls: p.calls,
        everyDays: p.everyDays,
        weekendCall: p.weekendCall,
        ...(p.messenger ? { messengerText: p.messenger.text } : {}),
      })),
      windows: {
        weekdays: profile.windows.weekdays.map(parseShift),
        weekends: profile.windows.weekends.map(parseShift),
      },
      rotateWindows: profile.rotateWindows,
      end,
      endAt: profile.endAt,
      stopOn: new Set(profile.stopOn),
      answeredMinDurationSec: profile.answeredMinDuration,
      overdueAfterMs: ms(profile.overdueAfter),
      ...(profile.thirdManagerRule.enabled ? { thirdManager: profile.thirdManagerRule.managers } : {}),
      joinExisting: b.joinExisting,
    });
  });
  return { bindings, sweepIntervalMs: ms(config.sweepInterval) };
}
// --- end of R3 call cadences
