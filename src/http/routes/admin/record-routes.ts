/**
 * What the robot recorded: violations with their ledger state, assignments, a lead's history, dead letters, the
 * amoCRM directory for the editor, and the CSV exports.
 */
import { stringify } from 'csv-stringify/sync';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { LeadNames } from '../../../amocrm/api/directory.js';
import type { StoredRecord } from '../../../store/record-store.js';
import { createViolationLedger } from '../../../store/violation-ledger.js';
import { ASSIGNMENT_KINDS, recordsOf } from './context.js';
import { LeadParamsSchema, RangeQuerySchema } from './schemas.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminContext } from './context.js';

/** Records and exports, under the admin API’s authentication. */
export const recordRoutes =
  (ctx: AdminContext): FastifyPluginAsyncZod =>
  async (a) => {
    const { deps, writeAudit, now, userNames } = ctx;
    const ledger = createViolationLedger(deps.redis, deps.keys);
    /** Violations with their ledger state and who contested and decided them (src/store/violation-ledger.ts). */
    const withLedger = async (rows: StoredRecord[]) =>
      Promise.all(
        rows.map(async (r) => {
          const entry = r.violationId !== undefined ? await ledger.byId(r.violationId) : undefined;
          const disputed = entry?.history.find((c) => c.state === 'disputed');
          const decided = entry?.history.find((c) => c.state === 'withdrawn' || c.state === 'upheld');
          return {
            ...r,
            state: entry?.state ?? 'open',
            ...(entry ? { ref: entry.ref, history: entry.history } : {}),
            ...(entry?.evidence ? { evidence: entry.evidence } : {}),
            ...(disputed ? { disputedBy: disputed.by, disputeReason: disputed.note ?? '' } : {}),
            ...(decided ? { decidedBy: decided.by, decidedAt: decided.at } : {}),
          };
        }),
      );
    const range = (q: z.infer<typeof RangeQuerySchema>): { from: string; to: string } => {
      const to = q.to ?? now();
      return { from: q.from ?? new Date(Date.parse(to) - 30 * 24 * 3600_000).toISOString(), to };
    };

    a.get(
      '/violations',
      {
        schema: {
          summary: 'Violations recorded in a time range (default: the last 30 days)',
          querystring: RangeQuerySchema,
        },
      },
      async (req) => {
        const { from, to } = range(req.query);
        return {
          from,
          to,
          violations: await withLedger(recordsOf(await deps.records.range(from, to, req.query.limit), ['violation'])),
        };
      },
    );

    a.get(
      '/assignments',
      { schema: { summary: 'Assignments with their explanations in a time range', querystring: RangeQuerySchema } },
      async (req) => {
        const { from, to } = range(req.query);
        return {
          from,
          to,
          assignments: recordsOf(await deps.records.range(from, to, req.query.limit), ASSIGNMENT_KINDS),
        };
      },
    );

    a.get(
      '/leads/:leadId/history',
      {
        schema: {
          summary: "A lead's record: assignments with reasons, violations, actions",
          params: LeadParamsSchema,
        },
      },
      async (req) => ({
        leadId: req.params.leadId,
        records: await deps.records.forLead(req.params.leadId),
      }),
    );

    a.get(
      '/dead-letters',
      {
        schema: {
          summary: 'Webhook items that could not be parsed, with the reason',
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        },
      },
      async (req) => ({
        deadLetters: await deps.inbox.listDeadLetters(req.query.limit),
      }),
    );

    a.get(
      '/directory',
      {
        schema: {
          summary:
            'Names from amoCRM for the editor: pipelines with stages, users, groups, lead custom fields, lead tags',
        },
      },
      async () => {
        const dir = await deps.directory();
        // The fields and tags only help the editor: if amoCRM cannot give them now, the rest of the names still comes back.
        const names = await (deps.leadNames?.() ?? Promise.resolve<LeadNames>({ fields: [], tags: [] })).catch(
          (err: unknown) => {
            deps.logger.warn(
              { err: { message: (err as Error).message } },
              'could not read lead custom fields and tags from amoCRM',
            );
            return { fields: [], tags: [] } satisfies LeadNames;
          },
        );
        return {
          timeZone: dir.timeZone,
          pipelines: dir.pipelines.map((p) => ({
            id: p.id,
            name: p.name,
            stages: p.statuses.map((s) => ({ id: s.id, name: s.name })),
          })),
          users: dir.users.map((u) => ({ id: u.id, name: u.name, active: u.isActive, groupId: u.groupId ?? null })),
          groups: dir.groups,
          leadFields: names.fields.map((f) => ({ id: f.id, name: f.name, type: f.type })),
          tags: names.tags.map((t) => ({ id: t.id, name: t.name })),
        };
      },
    );

    const csv = (
      res: FastifyReply,
      name: string,
      rows: Array<Record<string, unknown>>,
      columns: string[],
    ): FastifyReply =>
      res
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(stringify(rows, { header: true, columns, cast: { object: (v) => JSON.stringify(v) } }));

    a.get(
      '/export/violations.csv',
      { schema: { summary: 'Violations of a date range as CSV', querystring: RangeQuerySchema } },
      async (req, res) => {
        const { from, to } = range(req.query);
        const rows = await withLedger(recordsOf(await deps.records.range(from, to, req.query.limit), ['violation']));
        await writeAudit(req, 'export_violations', 'ok', { from, to, rows: rows.length });
        const nameOf = await userNames();
        return csv(
          res,
          'violations.csv',
          rows.map((r) => ({ ...r, userName: nameOf(r.userId) })),
          [
            'at',
            'type',
            'leadId',
            'userId',
            'userName',
            'department',
            'rule',
            'violationId',
            'reason',
            'state',
            'disputedBy',
            'disputeReason',
            'decidedBy',
            'decidedAt',
          ],
        );
      },
    );

    a.get(
      '/export/assignments.csv',
      { schema: { summary: 'Assignments of a date range as CSV, with explanations', querystring: RangeQuerySchema } },
      async (req, res) => {
        const { from, to } = range(req.query);
        const rows = recordsOf(await deps.records.range(from, to, req.query.limit), ASSIGNMENT_KINDS);
        await writeAudit(req, 'export_assignments', 'ok', { from, to, rows: rows.length });
        const nameOf = await userNames();
        return csv(
          res,
          'assignments.csv',
          rows.map((r) => ({ ...r, userName: nameOf(r.userId) })),
          [
            'at',
            'kind',
            'leadId',
            'userId',
            'userName',
            'previousUserId',
            'department',
            'rule',
            'reason',
            'explanation',
          ],
        );
      },
    );
  };
