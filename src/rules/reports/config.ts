/**
 * R11's and R12's piece of the rules file (`rules.reports`: the daily digest and the monthly ranking) and its compile
 * step. Pure.
 */
import { z } from 'zod';
import type { AccountDirectory } from '../directory.js';
import type { CompiledDepartment, CompiledReports, Milestone } from '../types.js';

/** A path in the rules file and what is wrong there. */
export interface ReportsConfigError {
  path: string;
  message: string;
}

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
export type ReportsRuleConfig = z.infer<typeof ReportsRuleSchema>;

/** R11/R12: stage names resolved in every pipeline of the departments (a name may exist in several). */
export function compileReports(
  r: ReportsRuleConfig,
  dir: AccountDirectory,
  departments: CompiledDepartment[],
  errors: ReportsConfigError[],
): CompiledReports {
  const pipelineIds = new Set(departments.flatMap((d) => d.pipelineIds));
  const pipelines = dir.pipelines.filter((p) => pipelineIds.has(p.id));
  const milestones = new Map<number, Milestone>();
  const statusNames = new Map<number, string>();
  const groups: Array<[Milestone, 'meetingSet' | 'meetingHeld' | 'offerSent']> = [
    ['meeting_set', 'meetingSet'],
    ['meeting_held', 'meetingHeld'],
    ['offer_sent', 'offerSent'],
  ];
  for (const [milestone, key] of groups) {
    r.stages[key].forEach((name, i) => {
      const found = pipelines.flatMap((p) => p.statuses.filter((st) => st.name.toLowerCase() === name.toLowerCase()));
      if (found.length === 0 && pipelines.length > 0) {
        const known = [...new Set(pipelines.flatMap((p) => p.statuses.map((st) => st.name)))].join(', ');
        errors.push({
          path: `rules.reports.stages.${key}[${i}]`,
          message: `no stage "${name}" in the departments' pipelines; stages: ${known}`,
        });
      }
      for (const st of found) {
        milestones.set(st.id, milestone);
        statusNames.set(st.id, st.name);
      }
    });
  }
  for (const p of pipelines) for (const st of p.statuses) if (!statusNames.has(st.id)) statusNames.set(st.id, st.name);
  return {
    enabled: r.enabled,
    dailyAtMin: parseTimeOfDay(r.dailyAt),
    monthlyAtMin: parseTimeOfDay(r.monthlyAt),
    milestones,
    statusNames,
    sourceField: r.sourceField,
    sources: r.sources.map((s) => ({ name: s.name, match: s.match.map((m) => m.toLowerCase()) })),
    unansweredCallsNormal: r.yardsticks.unansweredCallsNormal,
    contactedToMeetingMin: r.yardsticks.contactedToMeetingMin,
    ranking: { ...r.ranking },
  };
}

function parseTimeOfDay(text: string): number {
  const [h, m] = text.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}
