/**
 * Domain events: what an amoCRM webhook means, independent of its wire format.
 *
 * The webhook parser (src/amocrm/webhook-payload.ts) turns form-encoded or JSON bodies into these;
 * the worker re-validates them when it takes a job (every trust boundary parses).
 * Ids are numbers, instants are ISO-8601 UTC strings (JSON-safe for queue payloads).
 */
import { z } from 'zod';

export const InstantSchema = z.iso.datetime({ offset: true });
export type Instant = z.infer<typeof InstantSchema>;

const Id = z.number().int().nonnegative();

export const TagSchema = z.object({ id: Id.optional(), name: z.string() });
export type Tag = z.infer<typeof TagSchema>;

/** Custom field in amoCRM's old v2 webhook shape, normalised: `values` is always a list. */
export const CustomFieldSchema = z.object({
  id: Id,
  name: z.string().optional(),
  code: z.string().optional(),
  values: z.array(
    z.object({
      value: z.string(),
      enum: Id.optional(),
    }),
  ),
});
export type CustomField = z.infer<typeof CustomFieldSchema>;

export const LeadActionSchema = z.enum(['add', 'update', 'status', 'responsible', 'delete', 'restore']);
export type LeadAction = z.infer<typeof LeadActionSchema>;

const EventBase = {
  /** Deterministic key of the logical change; the same change delivered twice has the same key. */
  dedupeKey: z.string().min(1),
  /** Reference to the raw body stored for audit and replay (sha256 of the body). */
  deliveryId: z.string().min(1),
  account: z.object({ id: Id.optional(), subdomain: z.string().min(1) }),
  receivedAt: InstantSchema,
};

export const LeadEventSchema = z.object({
  ...EventBase,
  kind: z.literal('lead'),
  action: LeadActionSchema,
  leadId: Id,
  /** true for the Digital Pipeline / robot short form: only ids and stages, no responsible or name. */
  short: z.boolean(),
  name: z.string().optional(),
  pipelineId: Id.optional(),
  statusId: Id.optional(),
  oldPipelineId: Id.optional(),
  oldStatusId: Id.optional(),
  responsibleUserId: Id.optional(),
  oldResponsibleUserId: Id.optional(),
  /** 0 means amoCRM's robot, a Digital Pipeline action or an integration. */
  modifiedUserId: Id.optional(),
  createdUserId: Id.optional(),
  price: z.number().optional(),
  tags: z.array(TagSchema),
  customFields: z.array(CustomFieldSchema),
  createdAt: InstantSchema.optional(),
  updatedAt: InstantSchema.optional(),
});
export type LeadEvent = z.infer<typeof LeadEventSchema>;

export const NoteEventSchema = z.object({
  ...EventBase,
  kind: z.literal('note'),
  entityType: z.enum(['lead', 'contact', 'company']),
  entityId: Id,
  noteId: Id,
  /** Numeric in webhooks: 4 common text, 5 file, 10 incoming call, 11 outgoing call (practitioner data). */
  noteType: z.number().int(),
  text: z.string().optional(),
  createdUserId: Id.optional(),
  responsibleUserId: Id.optional(),
  createdAt: InstantSchema.optional(),
});
export type NoteEvent = z.infer<typeof NoteEventSchema>;

export const TaskEventSchema = z.object({
  ...EventBase,
  kind: z.literal('task'),
  action: z.enum(['add', 'update', 'delete']),
  taskId: Id,
  entityType: z.enum(['lead', 'contact', 'company', 'customer']).optional(),
  entityId: Id.optional(),
  taskTypeId: Id.optional(),
  text: z.string().optional(),
  responsibleUserId: Id.optional(),
  oldResponsibleUserId: Id.optional(),
  createdUserId: Id.optional(),
  modifiedUserId: Id.optional(),
  isCompleted: z.boolean().optional(),
  resultText: z.string().optional(),
  completeTill: InstantSchema.optional(),
  updatedAt: InstantSchema.optional(),
});
export type TaskEvent = z.infer<typeof TaskEventSchema>;

export const ContactEventSchema = z.object({
  ...EventBase,
  kind: z.literal('contact'),
  action: z.enum(['add', 'update', 'delete', 'restore', 'responsible']),
  contactId: Id,
  entityType: z.enum(['contact', 'company']),
  name: z.string().optional(),
  responsibleUserId: Id.optional(),
  modifiedUserId: Id.optional(),
  customFields: z.array(CustomFieldSchema),
  updatedAt: InstantSchema.optional(),
});
export type ContactEvent = z.infer<typeof ContactEventSchema>;

export const UnsortedEventSchema = z.object({
  ...EventBase,
  kind: z.literal('unsorted'),
  action: z.enum(['add', 'update', 'delete']),
  uid: z.string().min(1),
  /** For `delete`: accept or decline of the incoming lead. */
  decision: z.enum(['accept', 'decline']).optional(),
  leadId: Id.optional(),
  pipelineId: Id.optional(),
  statusId: Id.optional(),
  createdAt: InstantSchema.optional(),
});
export type UnsortedEvent = z.infer<typeof UnsortedEventSchema>;

export const WebhookEventSchema = z.discriminatedUnion('kind', [
  LeadEventSchema,
  NoteEventSchema,
  TaskEventSchema,
  ContactEventSchema,
  UnsortedEventSchema,
]);
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;
