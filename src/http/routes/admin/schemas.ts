/** Request and response shapes of the admin API; the OpenAPI document is generated from these same schemas. */
import { z } from 'zod';

export const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const ConfigErrorSchema = z.object({ path: z.string(), message: z.string() });
export const ConfigWarningSchema = ConfigErrorSchema.extend({ disabled: z.string() });

/** Sign-in as a named admin (ADMINS_FILE), or with the shared ADMIN_TOKEN. */
export const SignInSchema = z.union([
  z.object({ name: z.string().trim().min(1).max(100), password: z.string().min(1).max(1000) }).strict(),
  z.object({ token: z.string().min(1).max(1000) }).strict(),
]);
export const SessionSchema = z.object({ csrfToken: z.string(), expiresAt: z.string() });

/** A draft: YAML text as in RULES_FILE, or the same structure as JSON (what the page's form sends). */
export const DraftSchema = z
  .object({
    text: z.string().max(1_000_000).optional(),
    config: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((d) => (d.text === undefined) !== (d.config === undefined), {
    message: 'send either "text" (YAML) or "config" (JSON), not both',
  });

export const ApplySchema = z.intersection(
  DraftSchema,
  z.object({
    comment: z.string().max(500).default(''),
    /** The version the draft was edited from; a newer current version makes the apply fail with 409. */
    baseVersion: z.number().int().positive().optional(),
  }),
);

export const ValidationSchema = z.object({
  ok: z.boolean(),
  errors: z.array(ConfigErrorSchema),
  warnings: z.array(ConfigWarningSchema),
});

export const VersionParamsSchema = z.object({ version: z.coerce.number().int().positive() });
export const DiffParamsSchema = z.object({
  version: z.coerce.number().int().positive(),
  other: z.coerce.number().int().positive(),
});
export const RollbackSchema = z.object({ comment: z.string().max(500).default('') });

export const VersionSummarySchema = z.object({
  version: z.number(),
  at: z.string(),
  author: z.string(),
  comment: z.string(),
  origin: z.enum(['file', 'api', 'rollback']),
  rollbackOf: z.number().optional(),
  hash: z.string(),
});

export const DryRunSchema = z.intersection(DraftSchema, z.object({ days: z.number().int().min(1).max(14).default(7) }));

export const RangeQuerySchema = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});

export const LeadParamsSchema = z.object({ leadId: z.coerce.number().int().positive() });

export const AppliedSchema = z.object({ version: z.number(), unchanged: z.boolean().optional() });

/** R2 pause/resume of intake: why is required, so the record and the РОП's history say it. */
export const IntakeChangeSchema = z.object({
  reason: z
    .string()
    .trim()
    .min(3, 'say why (at least 3 characters): it is recorded and shown to the heads of sales')
    .max(500),
  /** Who is acting, as they sign (the admin token is shared, so the session alone does not name a person). */
  by: z.string().trim().min(1).max(100).optional(),
});
export const ManagerParamsSchema = z.object({ userId: z.coerce.number().int().positive() });
export const DepartmentParamsSchema = z.object({ department: z.string().trim().min(1).max(200) });
