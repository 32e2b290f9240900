/**
 * The parts of amoCRM API v4 responses we use, as zod schemas taken from real responses (samples 50-64).
 * Unknown fields pass through: amoCRM adds fields over time, and we only insist on what we read.
 */
import { z } from 'zod';

const Links = z
  .object({ next: z.object({ href: z.string() }).optional() })
  .loose()
  .optional();

export const TagSchema = z.object({ id: z.number(), name: z.string() }).loose();

export const ApiLeadSchema = z
  .object({
    id: z.number(),
    name: z.string().nullable().optional(),
    price: z.number().nullable().optional(),
    responsible_user_id: z.number(),
    status_id: z.number(),
    pipeline_id: z.number(),
    created_by: z.number().optional(),
    updated_by: z.number().optional(),
    created_at: z.number(),
    updated_at: z.number(),
    closed_at: z.number().nullable().optional(),
    is_deleted: z.boolean().optional(),
    loss_reason_id: z.number().nullable().optional(),
    custom_fields_values: z
      .array(z.object({ field_id: z.number(), values: z.array(z.object({ value: z.unknown() }).loose()) }).loose())
      .nullable()
      .optional(),
    _embedded: z
      .object({
        tags: z.array(TagSchema).optional(),
        /** Present with `?with=contacts`: the lead's contacts, one of them the main one. */
        contacts: z.array(z.object({ id: z.number(), is_main: z.boolean().optional() }).loose()).optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type ApiLead = z.infer<typeof ApiLeadSchema>;

export const ApiContactSchema = z.object({ id: z.number(), responsible_user_id: z.number() }).loose();
export type ApiContact = z.infer<typeof ApiContactSchema>;

export const ContactsPageSchema = z
  .object({ _links: Links, _embedded: z.object({ contacts: z.array(ApiContactSchema) }).loose() })
  .loose();

export const LeadsPageSchema = z
  .object({ _links: Links, _embedded: z.object({ leads: z.array(ApiLeadSchema) }).loose() })
  .loose();

export const ApiStatusSchema = z
  .object({
    id: z.number(),
    name: z.string(),
    sort: z.number().optional(),
    type: z.number().optional(),
    pipeline_id: z.number().optional(),
  })
  .loose();
export const ApiPipelineSchema = z
  .object({
    id: z.number(),
    name: z.string(),
    sort: z.number().optional(),
    is_main: z.boolean().optional(),
    is_archive: z.boolean().optional(),
    _embedded: z.object({ statuses: z.array(ApiStatusSchema) }).loose(),
  })
  .loose();
export type ApiPipeline = z.infer<typeof ApiPipelineSchema>;
export const PipelinesSchema = z
  .object({ _embedded: z.object({ pipelines: z.array(ApiPipelineSchema) }).loose() })
  .loose();

export const ApiUserSchema = z
  .object({
    id: z.number(),
    name: z.string(),
    email: z.string().optional(),
    rights: z
      .object({
        is_active: z.boolean().optional(),
        is_admin: z.boolean().optional(),
        group_id: z.number().nullable().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type ApiUser = z.infer<typeof ApiUserSchema>;
export const UsersPageSchema = z
  .object({ _links: Links, _embedded: z.object({ users: z.array(ApiUserSchema) }).loose() })
  .loose();

export const AccountSchema = z
  .object({
    id: z.number(),
    name: z.string().optional(),
    subdomain: z.string().optional(),
    current_user_id: z.number().optional(),
    timezone: z.string().optional(),
    datetime_settings: z.object({ timezone: z.string().optional() }).loose().optional(),
    _embedded: z
      .object({
        users_groups: z.array(z.object({ id: z.number(), name: z.string() }).loose()).optional(),
        task_types: z.array(z.object({ id: z.number(), name: z.string() }).loose()).optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type Account = z.infer<typeof AccountSchema>;

export const ApiCustomFieldSchema = z.object({ id: z.number(), name: z.string(), type: z.string() }).loose();
export type ApiCustomField = z.infer<typeof ApiCustomFieldSchema>;
export const CustomFieldsPageSchema = z
  .object({ _links: Links, _embedded: z.object({ custom_fields: z.array(ApiCustomFieldSchema) }).loose() })
  .loose();

/** `GET /api/v4/leads/tags` (sample 56): `{id, name, color}`, color null or a hex string. */
export const TagsPageSchema = z
  .object({ _links: Links, _embedded: z.object({ tags: z.array(TagSchema) }).loose() })
  .loose();

export const LossReasonsSchema = z
  .object({
    _embedded: z.object({ loss_reasons: z.array(z.object({ id: z.number(), name: z.string() }).loose()) }).loose(),
  })
  .loose();

export const ApiTaskSchema = z
  .object({
    id: z.number(),
    responsible_user_id: z.number().optional(),
    entity_id: z.number().nullable().optional(),
    entity_type: z.string().nullable().optional(),
    is_completed: z.boolean().optional(),
    task_type_id: z.number().optional(),
    text: z.string().optional(),
    complete_till: z.number().optional(),
    created_at: z.number().optional(),
    updated_at: z.number().optional(),
  })
  .loose();
export type ApiTask = z.infer<typeof ApiTaskSchema>;
export const TasksPageSchema = z
  .object({ _links: Links, _embedded: z.object({ tasks: z.array(ApiTaskSchema) }).loose() })
  .loose();

export const ApiNoteSchema = z
  .object({
    id: z.number(),
    entity_id: z.number(),
    created_by: z.number().optional(),
    created_at: z.number().optional(),
    note_type: z.string(),
    params: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .loose();
export type ApiNote = z.infer<typeof ApiNoteSchema>;
export const NotesPageSchema = z
  .object({ _links: Links, _embedded: z.object({ notes: z.array(ApiNoteSchema) }).loose() })
  .loose();

export const ApiEventSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    entity_id: z.number(),
    entity_type: z.string(),
    created_by: z.number(),
    created_at: z.number(),
    value_after: z.array(z.record(z.string(), z.unknown())).nullable().optional(),
    value_before: z.array(z.record(z.string(), z.unknown())).nullable().optional(),
  })
  .loose();
export type ApiEvent = z.infer<typeof ApiEventSchema>;
export const EventsPageSchema = z
  .object({ _links: Links, _embedded: z.object({ events: z.array(ApiEventSchema) }).loose() })
  .loose();

/** Write responses: `_embedded.<resource>[{id, request_id?}]` in request order. */
export const WriteResultSchema = z
  .object({
    _embedded: z.record(z.string(), z.array(z.object({ id: z.number(), request_id: z.string().optional() }).loose())),
  })
  .loose();

/** A webhook of the account (`GET`/`POST /api/v4/webhooks`, amocrm.md §1). */
export const ApiWebhookSchema = z
  .object({
    id: z.number().optional(),
    destination: z.string(),
    settings: z.array(z.string()).default([]),
    disabled: z.boolean().default(false),
    sort: z.number().optional(),
  })
  .loose();
export type ApiWebhook = z.infer<typeof ApiWebhookSchema>;
export const WebhooksPageSchema = z
  .object({ _embedded: z.object({ webhooks: z.array(ApiWebhookSchema) }).loose() })
  .loose();
