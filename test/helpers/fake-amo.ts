/**
 * An in-memory amoCRM for integration tests of the shell: leads, contacts, notes and tasks, with switches for the faults
 * the executor must survive (an outage, a lead amoCRM always refuses) and a count of every call.
 */
import type { AmoClient, LeadUpdate, NewLeadNote, NewTask } from '../../src/amocrm/api/client.js';
import { AmoUnavailableError, AmoValidationError } from '../../src/amocrm/api/errors.js';
import type { ApiEvent, ApiLead, ApiNote, ApiTask } from '../../src/amocrm/api/schemas.js';

export interface FakeLead {
  id: number;
  responsible: number;
  statusId: number;
  pipelineId: number;
  /** The lead's main contact (served with `with: ['contacts']`). */
  contactId?: number;
  /** Custom field id → value (a date-time field: unix seconds), served as `custom_fields_values`. */
  fields?: Record<number, string>;
  /** amoCRM's `updated_at`, unix seconds (1 when not set). */
  updatedAt?: number;
}

export interface FakeContact {
  id: number;
  responsible: number;
}

/** `now` (epoch ms) stamps the events amoCRM records for the responsible changes it applies; without it none are recorded. */
export function createFakeAmo(
  leads: FakeLead[],
  contactList: FakeContact[] = [],
  options: { now?: () => number; robotUserId?: number } = {},
) {
  const state = new Map(leads.map((l) => [l.id, { ...l }]));
  /** amoCRM's event log (GET /api/v4/events): the robot's responsible changes, and the calls and notes tests add. */
  const events: ApiEvent[] = [];
  const contacts = new Map(contactList.map((c) => [c.id, { ...c }]));
  /** Notes the robot posted, and call notes tests add (with amoCRM's whole-second `created_at`). */
  const notes: Array<
    Omit<NewLeadNote, 'note_type' | 'params'> & {
      id: number;
      note_type: NewLeadNote['note_type'] | 'call_in' | 'call_out';
      params: Record<string, unknown>;
      created_at?: number;
      created_by?: number;
    }
  > = [];
  const tasks: Array<NewTask & { id: number; is_completed: boolean; result?: string }> = [];
  const calls = {
    leadsReads: 0,
    leadIdsRead: [] as number[][],
    leadsReadWithContacts: 0,
    contactsReads: 0,
    contactIdsRead: [] as number[][],
    eventsReads: 0,
    patches: [] as LeadUpdate[],
    notesPosted: 0,
    notesListed: 0,
    tasksPosted: 0,
    refused: 0,
  };
  const faults = { down: false, poison: new Set<number>() };
  const unavailable = (endpoint: string): AmoUnavailableError =>
    new AmoUnavailableError(`amoCRM answered 503 to ${endpoint}`, 503, endpoint);
  const api = (l: FakeLead, withContacts = false): ApiLead => ({
    id: l.id,
    responsible_user_id: l.responsible,
    status_id: l.statusId,
    pipeline_id: l.pipelineId,
    created_at: 1,
    updated_at: l.updatedAt ?? 1,
    ...(l.fields
      ? {
          custom_fields_values: Object.entries(l.fields).map(([id, value]) => ({
            field_id: Number(id),
            values: [{ value: /^\d+$/.test(value) ? Number(value) : value }],
          })),
        }
      : {}),
    _embedded: {
      tags: [],
      ...(withContacts ? { contacts: l.contactId !== undefined ? [{ id: l.contactId, is_main: true }] : [] } : {}),
    },
  });
  const withContacts = (options?: { with?: string[] }): boolean => options?.with?.includes('contacts') === true;

  const amo = {
    async getLeadsByIds(ids: number[], _priority?: string, options?: { with?: string[] }) {
      if (faults.down) throw unavailable('GET /api/v4/leads');
      calls.leadsReads += 1;
      calls.leadIdsRead.push([...ids]);
      if (withContacts(options)) calls.leadsReadWithContacts += 1;
      return ids.flatMap((id) => {
        const l = state.get(id);
        return l ? [api(l, withContacts(options))] : [];
      });
    },
    async listLeads(filter: Record<string, unknown> = {}) {
      if (faults.down) throw unavailable('GET /api/v4/leads');
      calls.leadsReads += 1;
      const contactsToo = String(filter.with ?? '')
        .split(',')
        .includes('contacts');
      if (contactsToo) calls.leadsReadWithContacts += 1;
      return [...state.values()].map((l) => api(l, contactsToo));
    },
    async getContactsByIds(ids: number[]) {
      if (faults.down) throw unavailable('GET /api/v4/contacts');
      calls.contactsReads += 1;
      calls.contactIdsRead.push([...ids]);
      return ids.flatMap((id) => {
        const c = contacts.get(id);
        return c ? [{ id: c.id, responsible_user_id: c.responsible }] : [];
      });
    },
    async listEvents(filter: { entityIds?: number[]; types?: string[]; createdFrom?: number } = {}) {
      if (faults.down) throw unavailable('GET /api/v4/events');
      calls.eventsReads += 1;
      return events.filter(
        (e) =>
          (!filter.entityIds || filter.entityIds.includes(e.entity_id)) &&
          (!filter.types || filter.types.includes(e.type)) &&
          (filter.createdFrom === undefined || e.created_at >= filter.createdFrom),
      );
    },
    async updateLead(update: LeadUpdate) {
      if (faults.down) throw unavailable('PATCH /api/v4/leads');
      if (faults.poison.has(update.id)) {
        calls.refused += 1;
        throw new AmoValidationError(
          400,
          'PATCH /api/v4/leads',
          [{ code: 'NotSupportedChoice', path: 'responsible_user_id', detail: 'The user is not active' }],
          'Bad Request',
        );
      }
      const l = state.get(update.id);
      if (!l)
        throw new AmoValidationError(
          400,
          'PATCH /api/v4/leads',
          [{ code: 'NotFound', path: 'id', detail: 'no such lead' }],
          'Bad Request',
        );
      if (update.responsible_user_id !== undefined && update.responsible_user_id !== l.responsible && options.now) {
        events.push({
          id: `e${events.length + 1}`,
          type: 'entity_responsible_changed',
          entity_id: l.id,
          entity_type: 'lead',
          created_by: options.robotUserId ?? 0,
          created_at: Math.floor(options.now() / 1000),
          value_before: [{ responsible_user: { id: l.responsible } }],
          value_after: [{ responsible_user: { id: update.responsible_user_id } }],
        });
      }
      if (update.responsible_user_id !== undefined) l.responsible = update.responsible_user_id;
      if (update.status_id !== undefined) l.statusId = update.status_id;
      calls.patches.push(update);
      return update.id;
    },
    async addLeadNote(note: NewLeadNote) {
      if (faults.down) throw unavailable('POST /api/v4/leads/notes');
      const id = notes.length + 1;
      notes.push({ ...note, id });
      calls.notesPosted += 1;
      return id;
    },
    async listLeadNotes(leadId: number): Promise<ApiNote[]> {
      if (faults.down) throw unavailable('GET /api/v4/leads/notes');
      calls.notesListed += 1;
      return notes
        .filter((n) => n.entity_id === leadId)
        .map((n) => ({
          id: n.id,
          entity_id: n.entity_id,
          note_type: n.note_type,
          params: n.params,
          ...(n.created_at !== undefined ? { created_at: n.created_at } : {}),
          ...(n.created_by !== undefined ? { created_by: n.created_by } : {}),
        }));
    },
    async createTask(task: NewTask) {
      if (faults.down) throw unavailable('POST /api/v4/tasks');
      const id = tasks.length + 1;
      tasks.push({ ...task, id, is_completed: false });
      calls.tasksPosted += 1;
      return id;
    },
    async listTasks(): Promise<ApiTask[]> {
      return tasks
        .filter((t) => !t.is_completed)
        .map((t) => ({
          id: t.id,
          entity_id: t.entity_id ?? null,
          text: t.text,
          complete_till: t.complete_till,
          is_completed: false,
        }));
    },
    async completeTask(id: number, resultText?: string) {
      const t = tasks.find((x) => x.id === id);
      if (t) {
        t.is_completed = true;
        if (resultText !== undefined) t.result = resultText;
      }
    },
    async updateTask() {},
    async flush() {},
  };
  return { amo: amo as unknown as AmoClient, state, contacts, notes, tasks, events, calls, faults };
}
