/**
 * Lead activity the reports need and no rule records on its own (R12, seed 004 rule 5: "Фиксируйте число
 * исходящих звонков, число дозвонков, число назначенных встреч, число проведённых встреч"): calls, stage entries
 * (meeting set, meeting held, offer sent) and the source of a new lead. The webhook-event path calls
 * `recordLeadActivity` after it folded an event into the lead's state; the mapping itself is pure.
 *
 * Records written (all `kind: 'action'`, `rule: 'R12'`):
 * - `type: 'call'`: a call note on a lead; `userId` the manager who called (or was called), `direction` in|out,
 *   `answered` when the note says (duration > 0 or amoCRM call_status 4), absent when it does not.
 * - `type: 'stage_entered'`: the lead entered `statusId` / `statusName`; `milestone` meeting_set | meeting_held |
 *   offer_sent when the stage is one the reports count; `userId` the responsible manager at that moment.
 * - `type: 'lead_source'`: a new lead with its `source` (a configured name, «Другое» or «Не указан»), once per lead.
 */
import { createHash } from 'node:crypto';
import type { Plan } from '../rules/plan.js';
import type { LeadState } from '../rules/lead-state.js';
import type { WebhookEvent } from '../rules/events.js';
import type { CompiledReports, CompiledRules } from '../rules/types.js';
import type { RecordStore, RobotRecord } from '../store/record-store.js';

export const OTHER_SOURCE = 'Другое';
export const UNKNOWN_SOURCE = 'Не указан';

export interface ActivityRecord {
  record: RobotRecord;
  dedupeId: string;
}

const isPerson = (id: number | undefined): id is number => id !== undefined && id > 0;

/** The department whose pipelines hold the lead, or the one of its responsible manager. */
function departmentOf(
  rules: CompiledRules,
  pipelineId: number | undefined,
  userId: number | undefined,
): string | undefined {
  const byManager = rules.departments.find((d) => d.managers.some((m) => m.userId === userId));
  if (byManager) return byManager.name;
  return rules.departments.find((d) => pipelineId !== undefined && d.pipelineIds.includes(pipelineId))?.name;
}

/** A configured source whose words appear in the source field's value or a tag; «Другое» for anything else. */
export function sourceOf(reports: CompiledReports, fieldValues: string[], tags: string[]): string {
  const texts = [...fieldValues, ...tags].map((t) => t.toLowerCase());
  for (const s of reports.sources) if (texts.some((t) => s.match.some((m) => t.includes(m)))) return s.name;
  return fieldValues.some((v) => v.trim() !== '') ? OTHER_SOURCE : UNKNOWN_SOURCE;
}

/**
 * Whether a call note says the call was answered. amoCRM call notes carry `duration` and sometimes `call_status`
 * (4 = had a conversation; 1 left a message, 2 call back later, 3 not available, 5 wrong number, 6 busy, 7 missed
 * — amoCRM api_v4 "adding calls"); webhooks deliver the note's params as JSON text. Unknown → undefined.
 */
export function callAnswered(text: string | undefined): boolean | undefined {
  if (text === undefined || !text.trim().startsWith('{')) return undefined;
  let params: unknown;
  try {
    params = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof params !== 'object' || params === null) return undefined;
  const get = (...names: string[]): unknown => {
    for (const [k, v] of Object.entries(params as Record<string, unknown>))
      if (names.includes(k.toLowerCase())) return v;
    return undefined;
  };
  const status = Number(get('call_status'));
  if (Number.isInteger(status) && status > 0) return status === 4;
  const duration = Number(get('duration'));
  if (Number.isFinite(duration)) return duration > 0;
  return undefined;
}

/** Pure: the activity records one event means for the lead it changed (`before` → `after`). */
export function activityRecords(
  event: WebhookEvent,
  before: LeadState | undefined,
  after: LeadState,
  rules: CompiledRules,
): ActivityRecord[] {
  const reports = rules.reports;
  if (reports === undefined || !reports.enabled) return [];
  const out: ActivityRecord[] = [];
  const leadId = after.leadId;
  const base = { kind: 'action' as const, leadId, rule: 'R12' };

  if (event.kind === 'note' && event.entityType === 'lead' && (event.noteType === 10 || event.noteType === 11)) {
    const direction = event.noteType === 11 ? 'out' : 'in';
    const userId = isPerson(event.createdUserId)
      ? event.createdUserId
      : isPerson(after.responsibleUserId)
        ? after.responsibleUserId
        : undefined;
    const answered = callAnswered(event.text);
    const department = departmentOf(rules, after.pipelineId, userId);
    out.push({
      record: {
        ...base,
        type: 'call',
        at: event.createdAt ?? event.receivedAt,
        direction,
        reason: `${direction === 'out' ? 'outgoing' : 'incoming'} call note ${event.noteId}${answered === undefined ? '' : answered ? ', answered' : ', not answered'}`,
        ...(userId !== undefined ? { userId } : {}),
        ...(answered !== undefined ? { answered } : {}),
        ...(department !== undefined ? { department } : {}),
      },
      dedupeId: `activity:call:${event.noteId}`,
    });
  }

  if (event.kind === 'lead' && event.action !== 'delete') {
    const at = event.updatedAt ?? event.createdAt ?? event.receivedAt;
    const department = departmentOf(rules, after.pipelineId, after.responsibleUserId);
    const entered = after.statusId !== undefined && after.statusId !== before?.statusId ? after.statusId : undefined;
    if (entered !== undefined) {
      const milestone = reports.milestones.get(entered);
      const statusName = reports.statusNames.get(entered);
      out.push({
        record: {
          ...base,
          type: 'stage_entered',
          at,
          statusId: entered,
          reason: `entered stage ${statusName ?? entered}${milestone ? ` (${milestone})` : ''}`,
          ...(statusName !== undefined ? { statusName } : {}),
          ...(milestone !== undefined ? { milestone } : {}),
          ...(isPerson(after.responsibleUserId) ? { userId: after.responsibleUserId } : {}),
          ...(department !== undefined ? { department } : {}),
        },
        dedupeId: `activity:stage:${leadId}:${entered}:${at}`,
      });
    }
    if (event.action === 'add') {
      const values = event.customFields
        .filter((f) => f.name?.toLowerCase() === reports.sourceField.toLowerCase())
        .flatMap((f) => f.values.map((v) => v.value));
      const source = sourceOf(
        reports,
        values,
        event.tags.map((t) => t.name),
      );
      out.push({
        record: {
          ...base,
          type: 'lead_source',
          at,
          source,
          reason: `new lead from ${source}`,
          ...(isPerson(after.responsibleUserId) ? { userId: after.responsibleUserId } : {}),
          ...(department !== undefined ? { department } : {}),
        },
        dedupeId: `activity:source:${leadId}`,
      });
    }
  }
  return out;
}

/** Appends the activity records of one event; a redelivered event writes nothing twice (dedupe ids). */
export async function recordLeadActivity(
  records: RecordStore,
  event: WebhookEvent,
  before: LeadState | undefined,
  after: LeadState,
  rules: CompiledRules,
): Promise<number> {
  let written = 0;
  for (const { record, dedupeId } of activityRecords(event, before, after, rules)) {
    if ((await records.append(record, dedupeId)) !== undefined) written += 1;
  }
  return written;
}

/**
 * The same records as a plan for the effect executor, for the webhook path's `onLeadEvent` (one road from decision
 * to effect): `[...await engine.onLeadEvent(input), ...activityPlans(input.event, input.before, input.after, rules())]`.
 * The plan id is derived from the event's dedupe key, so a retried job commits it once.
 */
export function activityPlans(
  event: WebhookEvent,
  before: LeadState | undefined,
  after: LeadState,
  rules: CompiledRules,
): Plan[] {
  const records = activityRecords(event, before, after, rules);
  if (records.length === 0) return [];
  return [
    {
      id: `R12:activity:${createHash('sha256').update(event.dedupeKey).digest('hex').slice(0, 24)}`,
      rule: 'R12',
      leadId: after.leadId,
      reason: records.map((r) => r.record.reason).join('; '),
      effects: records.map(({ record, dedupeId }) => ({
        kind: 'record' as const,
        leadId: after.leadId,
        dedupeId,
        record,
      })),
    },
  ];
}
