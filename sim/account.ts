/**
 * The simulated amoCRM account: users, groups, the seed 001 pipeline, leads, tasks, notes and the event log.
 * Every change goes through `mutate*` functions that record amoCRM events and report the change to the
 * webhook sender, whoever makes it (the API on behalf of the integration, or a simulated person).
 */

export interface SimUser {
  id: number;
  name: string;
  email: string;
  groupId: number;
  isAdmin: boolean;
  isActive: boolean;
}

export interface SimStatus {
  id: number;
  name: string;
  sort: number;
  type: number;
}

export interface SimPipeline {
  id: number;
  name: string;
  isMain: boolean;
  statuses: SimStatus[];
}

export interface SimLead {
  id: number;
  name: string;
  price: number;
  statusId: number;
  pipelineId: number;
  responsibleUserId: number;
  createdBy: number;
  updatedBy: number;
  createdAt: number;
  updatedAt: number;
  tags: Array<{ id: number; name: string }>;
  isDeleted: boolean;
  /** Custom field id → value as amoCRM's webhook sends it (a date-time field: unix seconds as text). */
  customFields?: Record<number, string>;
  /** Linked contacts; the first is the main one. */
  contactIds?: number[];
}

/** A contact with its own responsible user (R2 routing: a returning client goes to the contact's manager). */
export interface SimContact {
  id: number;
  name: string;
  responsibleUserId: number;
  createdAt: number;
}

export interface SimLeadField {
  id: number;
  name: string;
  type: 'date_time' | 'text';
}

/** Lead custom fields of the seed account: the meeting date-time (R7) and the listing's owner (R2 routing). */
export const SEED_LEAD_FIELDS: SimLeadField[] = [
  { id: 801001, name: 'Дата и время встречи', type: 'date_time' },
  { id: 801002, name: 'Агент объекта', type: 'text' },
];
export const MEETING_FIELD_ID = 801001;
export const LISTING_OWNER_FIELD_ID = 801002;

export interface SimTask {
  id: number;
  entityId: number;
  entityType: 'leads';
  taskTypeId: number;
  text: string;
  responsibleUserId: number;
  completeTill: number;
  isCompleted: boolean;
  resultText?: string;
  createdBy: number;
  updatedBy: number;
  createdAt: number;
  updatedAt: number;
}

export interface SimNote {
  id: number;
  entityId: number;
  noteType: string;
  params: Record<string, unknown>;
  createdBy: number;
  createdAt: number;
}

export interface SimEvent {
  id: string;
  type: string;
  entityId: number;
  entityType: 'lead' | 'task';
  createdBy: number;
  createdAt: number;
  valueBefore: unknown[];
  valueAfter: unknown[];
}

export type Change =
  | {
      kind: 'lead';
      action: 'add' | 'update' | 'status' | 'responsible';
      lead: SimLead;
      oldStatusId?: number;
      oldResponsibleUserId?: number;
    }
  | { kind: 'note'; note: SimNote }
  | { kind: 'task'; action: 'add' | 'update'; task: SimTask };

export const ACCOUNT = {
  id: 31000001,
  subdomain: 'demo-realty',
  name: 'Демо-агентство недвижимости',
  timeZone: 'Europe/Moscow',
} as const;
export const ADMIN_ID = 9001;
export const PIPELINE_ID = 7000001;

export const SEED_STATUS_NAMES = [
  'Неразобранное',
  'Технический этап',
  'Новый лид',
  'Квалификатор',
  'Передан в работу',
  'Для передачи',
  'Не дозвонились',
  'На закрытие',
  'Отложенный спрос >7 мес',
  'Потребности выявлены',
  'Встреча назначена',
  'Встреча состоялась',
  'Отправлено КП',
  'ОС получена',
];

export const SEED_GROUPS = [
  { id: 500, name: 'Администрация' },
  { id: 501, name: 'Отдел продаж 1' },
  { id: 502, name: 'Отдел продаж 2' },
];

const user = (id: number, name: string, groupId: number, extra: Partial<SimUser> = {}): SimUser => ({
  id,
  name,
  email: `user${id}@demo-realty.example`,
  groupId,
  isAdmin: false,
  isActive: true,
  ...extra,
});

export const SEED_USERS: SimUser[] = [
  user(9001, 'Администратор', 500, { isAdmin: true }),
  user(9100, 'Дмитрий Лебедев', 501),
  user(9101, 'Анна Смирнова', 501),
  user(9102, 'Борис Кузнецов', 501),
  user(9103, 'Виктор Попов', 501),
  user(9104, 'Галина Соколова', 501),
  user(9200, 'Кирилл Волков', 502),
  user(9201, 'Елена Козлова', 502),
  user(9202, 'Жанна Новикова', 502),
  user(9203, 'Зиновий Морозов', 502),
  user(9204, 'Ирина Петрова', 502),
  user(9901, 'Леонид Уволенный', 501, { isActive: false }),
];

export function seedPipeline(): SimPipeline {
  const statuses: SimStatus[] = SEED_STATUS_NAMES.map((name, i) => ({
    id: 7100001 + i,
    name,
    sort: (i + 1) * 10,
    type: i === 0 ? 1 : 0,
  }));
  statuses.push(
    { id: 142, name: 'Успешно реализовано', sort: 10000, type: 0 },
    { id: 143, name: 'Закрыто и не реализовано', sort: 11000, type: 0 },
  );
  return { id: PIPELINE_ID, name: 'Первичный рынок', isMain: true, statuses };
}

export interface Account {
  users: SimUser[];
  groups: typeof SEED_GROUPS;
  pipelines: SimPipeline[];
  leads: Map<number, SimLead>;
  tasks: Map<number, SimTask>;
  notes: Map<number, SimNote>;
  events: SimEvent[];
  tags: Map<string, number>;
  contacts: Map<number, SimContact>;
  leadFields: SimLeadField[];
  createContact(input: { name: string; responsibleUserId: number }): SimContact;
  /** Unix seconds of the simulated clock. */
  nowSec(): number;
  statusByName(name: string, pipelineId?: number): SimStatus;
  createLead(input: {
    name: string;
    statusId: number;
    pipelineId?: number;
    responsibleUserId?: number;
    by: number;
    price?: number;
    tags?: string[];
    customFields?: Record<number, string>;
    contactIds?: number[];
  }): SimLead;
  updateLead(
    id: number,
    patch: {
      statusId?: number;
      pipelineId?: number;
      responsibleUserId?: number;
      name?: string;
      price?: number;
      tagsToAdd?: string[];
      tagsToDelete?: string[];
      customFields?: Record<number, string | null>;
    },
    by: number,
  ): SimLead;
  addNote(input: { leadId: number; noteType: string; params: Record<string, unknown>; by: number }): SimNote;
  addTask(input: {
    leadId: number;
    text: string;
    completeTill: number;
    taskTypeId?: number;
    responsibleUserId?: number;
    by: number;
  }): SimTask;
  updateTask(
    id: number,
    patch: {
      isCompleted?: boolean;
      resultText?: string;
      text?: string;
      completeTill?: number;
      responsibleUserId?: number;
    },
    by: number,
  ): SimTask;
  /**
   * A call made by a person from amoCRM's telephony: a call_out (or call_in) note with duration and call_status
   * (4 = conversation, 6 = no answer, 3 = not available, 7 = busy), arriving as a `leads[note]` webhook and as an
   * `outgoing_call`/`incoming_call` event.
   */
  call(input: {
    leadId: number;
    by: number;
    direction?: 'in' | 'out';
    durationSec: number;
    status: number;
    result?: string;
  }): SimNote;
  /** A person completes a task with a result text (task[update] webhook, `task_completed` + `task_result_added` events). */
  completeTask(id: number, resultText: string, by: number): SimTask;
}

export function createAccount(options: { now: () => number; onChange: (change: Change) => void }): Account {
  const nowSec = (): number => Math.floor(options.now() / 1000);
  const pipelines = [seedPipeline()];
  let nextLead = 20_000_001;
  let nextTask = 40_000_001;
  let nextNote = 60_000_001;
  let nextTag = 300;
  let nextContact = 80_000_001;
  const contacts = new Map<number, SimContact>();
  let eventSeq = 0;
  let callSeq = 0;
  const tags = new Map<string, number>();
  const events: SimEvent[] = [];
  const leads = new Map<number, SimLead>();
  const tasks = new Map<number, SimTask>();
  const notes = new Map<number, SimNote>();

  const record = (
    type: string,
    entityType: 'lead' | 'task',
    entityId: number,
    by: number,
    before: unknown[],
    after: unknown[],
  ): void => {
    eventSeq += 1;
    events.push({
      id: `01SIM${String(eventSeq).padStart(10, '0')}`,
      type,
      entityId,
      entityType,
      createdBy: by,
      createdAt: nowSec(),
      valueBefore: before,
      valueAfter: after,
    });
  };
  const tagId = (name: string): number => {
    let id = tags.get(name);
    if (id === undefined) {
      id = nextTag++;
      tags.set(name, id);
    }
    return id;
  };

  const account: Account = {
    users: SEED_USERS.map((u) => ({ ...u })),
    groups: SEED_GROUPS,
    pipelines,
    leads,
    tasks,
    notes,
    events,
    tags,
    contacts,
    leadFields: SEED_LEAD_FIELDS,
    createContact(input) {
      const contact: SimContact = {
        id: nextContact++,
        name: input.name,
        responsibleUserId: input.responsibleUserId,
        createdAt: nowSec(),
      };
      contacts.set(contact.id, contact);
      return contact;
    },
    nowSec,
    statusByName(name, pipelineId = PIPELINE_ID) {
      const status = pipelines.find((p) => p.id === pipelineId)?.statuses.find((s) => s.name === name);
      if (!status) throw new Error(`simulator: no stage "${name}"`);
      return status;
    },
    createLead(input) {
      const now = nowSec();
      const lead: SimLead = {
        id: nextLead++,
        name: input.name,
        price: input.price ?? 0,
        statusId: input.statusId,
        pipelineId: input.pipelineId ?? PIPELINE_ID,
        responsibleUserId: input.responsibleUserId ?? ADMIN_ID,
        createdBy: input.by,
        updatedBy: input.by,
        createdAt: now,
        updatedAt: now,
        tags: (input.tags ?? []).map((name) => ({ id: tagId(name), name })),
        isDeleted: false,
        customFields: { ...(input.customFields ?? {}) },
        contactIds: [...(input.contactIds ?? [])],
      };
      leads.set(lead.id, lead);
      record(
        'lead_added',
        'lead',
        lead.id,
        input.by,
        [],
        [{ lead_status: { id: lead.statusId, pipeline_id: lead.pipelineId } }],
      );
      options.onChange({ kind: 'lead', action: 'add', lead: { ...lead } });
      return lead;
    },
    updateLead(id, patch, by) {
      const lead = leads.get(id);
      if (!lead) throw new Error(`simulator: no lead ${id}`);
      const before = { ...lead, customFields: { ...lead.customFields } };
      if (patch.name !== undefined) lead.name = patch.name;
      if (patch.price !== undefined) lead.price = patch.price;
      if (patch.pipelineId !== undefined) lead.pipelineId = patch.pipelineId;
      if (patch.statusId !== undefined) lead.statusId = patch.statusId;
      if (patch.responsibleUserId !== undefined) lead.responsibleUserId = patch.responsibleUserId;
      for (const name of patch.tagsToAdd ?? [])
        if (!lead.tags.some((t) => t.name === name)) lead.tags.push({ id: tagId(name), name });
      if (patch.tagsToDelete) lead.tags = lead.tags.filter((t) => !patch.tagsToDelete!.includes(t.name));
      if (patch.customFields) {
        const fields = { ...lead.customFields };
        for (const [id, value] of Object.entries(patch.customFields)) {
          if (value === null) delete fields[Number(id)];
          else fields[Number(id)] = value;
        }
        lead.customFields = fields;
      }
      // amoCRM's updated_at has one-second resolution; a second change within a second still gets a new one.
      lead.updatedAt = Math.max(nowSec(), before.updatedAt + (JSON.stringify(before) === JSON.stringify(lead) ? 0 : 1));
      lead.updatedBy = by;
      const statusChanged = before.statusId !== lead.statusId || before.pipelineId !== lead.pipelineId;
      const responsibleChanged = before.responsibleUserId !== lead.responsibleUserId;
      if (statusChanged) {
        record(
          'lead_status_changed',
          'lead',
          id,
          by,
          [{ lead_status: { id: before.statusId, pipeline_id: before.pipelineId } }],
          [{ lead_status: { id: lead.statusId, pipeline_id: lead.pipelineId } }],
        );
      }
      if (responsibleChanged) {
        record(
          'entity_responsible_changed',
          'lead',
          id,
          by,
          [{ responsible_user: { id: before.responsibleUserId } }],
          [{ responsible_user: { id: lead.responsibleUserId } }],
        );
      }
      const snapshot = { ...lead, tags: [...lead.tags], customFields: { ...lead.customFields } };
      options.onChange({ kind: 'lead', action: 'update', lead: snapshot });
      if (statusChanged)
        options.onChange({ kind: 'lead', action: 'status', lead: snapshot, oldStatusId: before.statusId });
      if (responsibleChanged)
        options.onChange({
          kind: 'lead',
          action: 'responsible',
          lead: snapshot,
          oldResponsibleUserId: before.responsibleUserId,
        });
      return lead;
    },
    addNote(input) {
      const note: SimNote = {
        id: nextNote++,
        entityId: input.leadId,
        noteType: input.noteType,
        params: input.params,
        createdBy: input.by,
        createdAt: nowSec(),
      };
      notes.set(note.id, note);
      const type =
        input.noteType === 'call_out'
          ? 'outgoing_call'
          : input.noteType === 'call_in'
            ? 'incoming_call'
            : input.noteType === 'common'
              ? 'common_note_added'
              : 'service_note_added';
      record(type, 'lead', input.leadId, input.by, [], [{ note: { id: note.id } }]);
      options.onChange({ kind: 'note', note });
      return note;
    },
    addTask(input) {
      const now = nowSec();
      const lead = leads.get(input.leadId);
      const task: SimTask = {
        id: nextTask++,
        entityId: input.leadId,
        entityType: 'leads',
        taskTypeId: input.taskTypeId ?? 1,
        text: input.text,
        responsibleUserId: input.responsibleUserId ?? lead?.responsibleUserId ?? input.by,
        completeTill: input.completeTill,
        isCompleted: false,
        createdBy: input.by,
        updatedBy: input.by,
        createdAt: now,
        updatedAt: now,
      };
      tasks.set(task.id, task);
      record('task_added', 'task', task.id, input.by, [], []);
      options.onChange({ kind: 'task', action: 'add', task: { ...task } });
      return task;
    },
    updateTask(id, patch, by) {
      const task = tasks.get(id);
      if (!task) throw new Error(`simulator: no task ${id}`);
      const wasCompleted = task.isCompleted;
      Object.assign(task, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
      task.updatedAt = nowSec();
      task.updatedBy = by;
      if (!wasCompleted && task.isCompleted) record('task_completed', 'task', id, by, [], []);
      if (patch.resultText !== undefined) record('task_result_added', 'task', id, by, [], [{ text: patch.resultText }]);
      options.onChange({ kind: 'task', action: 'update', task: { ...task } });
      return task;
    },
    call(input) {
      const n = (callSeq += 1);
      return account.addNote({
        leadId: input.leadId,
        noteType: input.direction === 'in' ? 'call_in' : 'call_out',
        params: {
          uniq: `sim-call-${n}`,
          duration: input.durationSec,
          source: 'sim-telephony',
          link: `https://sim.example/records/${n}.mp3`,
          phone: '+7 900 000-00-00',
          call_status: input.status,
          call_result: input.result ?? '',
        },
        by: input.by,
      });
    },
    completeTask(id, resultText, by) {
      return account.updateTask(id, { isCompleted: true, resultText }, by);
    },
  };
  return account;
}
