/**
 * The `stageRules` block of the rules file: one piece per rule (R4-R10), each on by default in the shipped config
 * with the seed's parameters. Stages are named as an admin sees them in amoCRM; durations are ISO-8601.
 * Compiled against the account directory into ids and milliseconds once, at load.
 */
import { Duration } from 'luxon';
import { z } from 'zod';
import type { AccountDirectory } from '../directory.js';

export const StageDurationSchema = z
  .string()
  .refine((s) => {
    // What the engine can schedule: at least a second (a timer due sooner would fire again at once), fractions allowed.
    const d = Duration.fromISO(s);
    return d.isValid && d.toMillis() >= 1000;
  }, 'must be an ISO-8601 duration of at least one second, such as PT10M, P1D, P1.5D or P7D')
  .describe('ISO-8601 duration, e.g. P1D');

const LOCAL_TIME = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a local time HH:MM');
const Stage = z.string().min(1);
const FieldId = z.number().int().positive().describe('amoCRM custom field id (Settings → fields)');

/** R4, seed 001 «Для передачи»: more than 1 day in the stage is a signal to the РОП. */
export const HandoffSchema = z.object({ enabled: z.boolean().default(true), stage: Stage.default('Для передачи'), maxStay: StageDurationSchema.default('P1D') }).strict();

/** R5, seed 001 «На закрытие»: «Обязательно укажите причину перемещения в этот этап». */
export const CloseReasonSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('На закрытие'),
    within: StageDurationSchema.default('PT10M'),
    /** A lead field that holds the reason; a note by the responsible counts as well. */
    reasonFieldId: FieldId.optional(),
  })
  .strict();

/** R6, seed 001 «Отложенный спрос»: «Минимум 1 касание в месяц»; seed 000: weekly touch for two tags. */
export const DeferredSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Отложенный спрос >7 мес'),
    touchEvery: StageDurationSchema.default('P1M'),
    untouchedAfter: StageDurationSchema.default('P30D'),
    weeklyTags: z.array(z.string().min(1)).default(['ПРОДАЮТ СВОЕ ЖИЛЬЕ', 'СОГЛАСОВАНО РОПом']),
    weeklyEvery: StageDurationSchema.default('P7D'),
  })
  .strict();

/** R7, seed 001 «Встреча назначена»; seed 004 rule 3: confirmation the same day 2-3 h before, or that morning and 2-3 h before. */
export const MeetingSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Встреча назначена'),
    /** The date-time field of the meeting. */
    meetingTimeFieldId: FieldId,
    /** Time to fill the field after the lead enters the stage before it is a violation. */
    fillWithin: StageDurationSchema.default('PT10M'),
    /** Confirm between `confirmFrom` and `confirmTo` before the meeting (seed 004: 2-3 h); the task is due at `confirmTo`. */
    confirmFrom: StageDurationSchema.default('PT3H'),
    confirmTo: StageDurationSchema.default('PT2H'),
    /** "С утра" of the meeting day, local time. */
    morningAt: LOCAL_TIME.default('10:00'),
  })
  .strict()
  .refine((m) => Duration.fromISO(m.confirmFrom).toMillis() >= Duration.fromISO(m.confirmTo).toMillis(), { message: '"confirmFrom" must not be shorter than "confirmTo"', path: ['confirmFrom'] });

/** R8, seed 001 «Встреча состоялась»: «НИ В КОЕМ СЛУЧАЕ НЕЛЬЗЯ ПРОПУСКАТЬ ИЛИ "ПЕРЕПРЫГИВАТЬ" этот этап». */
export const MustPassThroughSchema = z
  .object({
    name: z.string().min(1),
    enabled: z.boolean().default(true),
    pipeline: z.string().min(1).optional(),
    /** Once a lead was here… */
    from: Stage,
    /** …it must pass this stage before any later one. */
    mustPass: Stage,
    /** Later stages that do not count (the lost stage is never "later"). */
    except: z.array(Stage).default([]),
    violation: z.string().regex(/^[a-z_]+$/).default('meeting_skipped'),
    /** The task to record the skipped stage's result is due this long after the violation. */
    taskWithin: StageDurationSchema.default('PT1H'),
  })
  .strict();

/** R9, seed 001 «Отправлено КП»: «не забудьте поставить задачу Получить обратную связь … не может находиться долгое время». */
export const OfferSchema = z
  .object({
    enabled: z.boolean().default(true),
    stage: Stage.default('Отправлено КП'),
    feedbackWorkingDays: z.number().int().min(1).max(30).default(2),
    maxStay: StageDurationSchema.default('P5D'),
  })
  .strict();

/** R10, seed 002 §2.6, §2.12: «не реже 1 раза в неделю вносит комментарии и обновляет статусы». */
export const WeeklyUpdateSchema = z
  .object({
    enabled: z.boolean().default(true),
    maxSilence: StageDurationSchema.default('P7D'),
    /** How often the sweep pages through open leads (bulk priority, 250 per request). */
    sweepInterval: StageDurationSchema.default('PT1H'),
    /** Stages not checked (besides won and lost). */
    exceptStages: z.array(Stage).default(['Неразобранное']),
  })
  .strict();

export const StageRulesSchema = z
  .object({
    /** The pipeline the stage names below belong to. */
    pipeline: z.string().min(1),
    handoff: HandoffSchema.default(HandoffSchema.parse({})),
    closeReason: CloseReasonSchema.default(CloseReasonSchema.parse({})),
    deferred: DeferredSchema.default(DeferredSchema.parse({})),
    meeting: MeetingSchema.optional(),
    mustPassThrough: z.array(MustPassThroughSchema).default([]),
    offer: OfferSchema.default(OfferSchema.parse({})),
    weeklyUpdate: WeeklyUpdateSchema.default(WeeklyUpdateSchema.parse({})),
  })
  .strict()
  .describe('Stage rules R4-R10');
export type StageRulesConfig = z.infer<typeof StageRulesSchema>;

export interface StageRef {
  pipelineId: number;
  statusId: number;
  name: string;
}

export interface CompiledMustPass {
  name: string;
  pipelineId: number;
  from: StageRef;
  mustPass: StageRef;
  /** Status ids that count as "later than mustPass". */
  later: ReadonlySet<number>;
  violation: string;
  taskWithinMs: number;
}

export interface CompiledStageRules {
  pipelineId: number;
  /** Every stage of the account's pipelines: id → name, for notes. */
  statusNames: ReadonlyMap<number, string>;
  handoff?: { stage: StageRef; maxStayMs: number };
  closeReason?: { stage: StageRef; withinMs: number; reasonFieldId?: number };
  deferred?: { stage: StageRef; touchEvery: string; untouchedAfterMs: number; weeklyTags: string[]; weeklyEvery: string };
  meeting?: { stage: StageRef; meetingTimeFieldId: number; fillWithinMs: number; confirmFromMs: number; confirmToMs: number; morningMin: number };
  mustPassThrough: CompiledMustPass[];
  offer?: { stage: StageRef; feedbackWorkingDays: number; maxStayMs: number };
  weeklyUpdate?: { maxSilenceMs: number; sweepIntervalMs: number; openStatusIds: ReadonlySet<number>; pipelineIds: number[] };
}

const ms = (iso: string): number => Duration.fromISO(iso).toMillis();
const norm = (s: string): string => s.trim().toLocaleLowerCase('ru').replace(/ё/g, 'е').replace(/\s+/g, ' ');

/** Resolves names to ids; every unresolved name is an error with the names that exist. */
export function compileStageRules(cfg: StageRulesConfig, dir: AccountDirectory, error: (path: string, message: string) => void): CompiledStageRules | undefined {
  const at = 'stageRules';
  const pipelineOf = (name: string, path: string) => {
    const p = dir.pipelines.find((x) => norm(x.name) === norm(name));
    if (!p) error(path, `pipeline "${name}" does not exist; pipelines: ${dir.pipelines.map((x) => `"${x.name}"`).join(', ')}`);
    return p;
  };
  const pipeline = pipelineOf(cfg.pipeline, `${at}.pipeline`);
  if (!pipeline) return undefined;
  const stage = (name: string, path: string, p = pipeline): StageRef | undefined => {
    const s = p.statuses.find((x) => norm(x.name) === norm(name));
    if (!s) {
      error(path, `stage "${name}" does not exist in pipeline "${p.name}"; stages: ${p.statuses.map((x) => `"${x.name}"`).join(', ')}`);
      return undefined;
    }
    return { pipelineId: p.id, statusId: s.id, name: s.name };
  };
  const out: CompiledStageRules = { pipelineId: pipeline.id, statusNames: new Map(dir.pipelines.flatMap((p) => p.statuses.map((x) => [x.id, x.name] as [number, string]))), mustPassThrough: [] };

  if (cfg.handoff.enabled) {
    const s = stage(cfg.handoff.stage, `${at}.handoff.stage`);
    if (s) out.handoff = { stage: s, maxStayMs: ms(cfg.handoff.maxStay) };
  }
  if (cfg.closeReason.enabled) {
    const s = stage(cfg.closeReason.stage, `${at}.closeReason.stage`);
    if (s) out.closeReason = { stage: s, withinMs: ms(cfg.closeReason.within), ...(cfg.closeReason.reasonFieldId !== undefined ? { reasonFieldId: cfg.closeReason.reasonFieldId } : {}) };
  }
  if (cfg.deferred.enabled) {
    const d = cfg.deferred;
    const s = stage(d.stage, `${at}.deferred.stage`);
    if (s) out.deferred = { stage: s, touchEvery: d.touchEvery, untouchedAfterMs: ms(d.untouchedAfter), weeklyTags: d.weeklyTags, weeklyEvery: d.weeklyEvery };
  }
  if (cfg.meeting?.enabled) {
    const m = cfg.meeting;
    const s = stage(m.stage, `${at}.meeting.stage`);
    const [h = 0, min = 0] = m.morningAt.split(':').map(Number);
    if (s) out.meeting = { stage: s, meetingTimeFieldId: m.meetingTimeFieldId, fillWithinMs: ms(m.fillWithin), confirmFromMs: ms(m.confirmFrom), confirmToMs: ms(m.confirmTo), morningMin: h * 60 + min };
  }
  cfg.mustPassThrough.forEach((r, i) => {
    if (!r.enabled) return;
    const path = `${at}.mustPassThrough[${i}]`;
    const p = r.pipeline !== undefined ? pipelineOf(r.pipeline, `${path}.pipeline`) : pipeline;
    if (!p) return;
    const from = stage(r.from, `${path}.from`, p);
    const mustPass = stage(r.mustPass, `${path}.mustPass`, p);
    const except = new Set(r.except.flatMap((name, j) => stage(name, `${path}.except[${j}]`, p)?.statusId ?? []));
    if (!from || !mustPass) return;
    const passSort = p.statuses.find((s) => s.id === mustPass.statusId)?.sort ?? 0;
    // The lost stage (143) is never "later": closing a lead is not skipping its meeting.
    const later = new Set(p.statuses.filter((s) => (s.sort ?? 0) > passSort && s.id !== 143 && !except.has(s.id)).map((s) => s.id));
    out.mustPassThrough.push({ name: r.name, pipelineId: p.id, from, mustPass, later, violation: r.violation, taskWithinMs: ms(r.taskWithin) });
  });
  if (cfg.offer.enabled) {
    const s = stage(cfg.offer.stage, `${at}.offer.stage`);
    if (s) out.offer = { stage: s, feedbackWorkingDays: cfg.offer.feedbackWorkingDays, maxStayMs: ms(cfg.offer.maxStay) };
  }
  if (cfg.weeklyUpdate.enabled) {
    const w = cfg.weeklyUpdate;
    const except = new Set(w.exceptStages.flatMap((name, j) => stage(name, `${at}.weeklyUpdate.exceptStages[${j}]`)?.statusId ?? []));
    const open = pipeline.statuses.filter((s) => s.id !== 142 && s.id !== 143 && !except.has(s.id)).map((s) => s.id);
    out.weeklyUpdate = { maxSilenceMs: ms(w.maxSilence), sweepIntervalMs: ms(w.sweepInterval), openStatusIds: new Set(open), pipelineIds: [pipeline.id] };
  }
  return out;
}
