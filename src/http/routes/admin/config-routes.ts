/**
 * The rules config routes: the running config, validation, applying, versions with diffs and rollback, the dry run.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { compareReplays } from '../../../admin/dry-run.js';
import { keptEvents, recordedCounts } from '../../../admin/history.js';
import { rulesJsonSchema } from '../../../config/json-schema.js';
import { ruleStatuses } from '../../../rules/registry.js';
import { diffTexts } from '../../../store/rule-versions.js';
import { actorName, fail, SOURCE_RULE } from './context.js';
import {
  AppliedSchema,
  ApplySchema,
  DiffParamsSchema,
  DraftSchema,
  DryRunSchema,
  ErrorBodySchema,
  RollbackSchema,
  ValidationSchema,
  VersionParamsSchema,
  VersionSummarySchema,
} from './schemas.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminContext } from './context.js';

/** Config, versions and the dry run, under the admin API’s authentication. */
export const configRoutes =
  (ctx: AdminContext): FastifyPluginAsyncZod =>
  async (a) => {
    const { deps, writeAudit, draftText } = ctx;
    a.get(
      '/config',
      { schema: { summary: 'The running rules config, its version, warnings and the last rejected change' } },
      async () => {
        const s = deps.source.snapshot();
        const fileText = await readFile(deps.source.file, 'utf8').catch(() => undefined);
        // A web-only process does not compile the rules; its warnings come from the same names, resolved here.
        const checked = s.rules ? undefined : await deps.source.validate(s.text, await deps.directory());
        const warnings = checked?.ok ? checked.warnings : s.warnings;
        return {
          version: s.version,
          origin: s.origin,
          author: s.author,
          at: s.at,
          comment: s.comment,
          text: s.text,
          config: s.config,
          rules: ruleStatuses(s.config),
          warnings,
          rejection: deps.source.lastRejection() ?? null,
          source: { rule: SOURCE_RULE, file: deps.source.file, fileMatchesRunning: fileText === s.text },
        };
      },
    );

    a.get(
      '/config/schema',
      { schema: { summary: 'JSON Schema of the rules config (editor autocompletion)' } },
      async () => rulesJsonSchema(),
    );

    a.post(
      '/config/validate',
      {
        schema: {
          summary: 'Validate a draft: every error with its path, and names that would not resolve',
          body: DraftSchema,
          response: { 200: ValidationSchema },
        },
      },
      async (req) => {
        const v = await deps.source.validate(draftText(req.body), await deps.directory());
        return v.ok ? { ok: true, errors: [], warnings: v.warnings } : { ok: false, errors: v.errors, warnings: [] };
      },
    );

    a.post(
      '/config/apply',
      {
        schema: {
          summary: 'Apply a draft as a new version (every process follows within seconds)',
          body: ApplySchema,
          response: { 200: AppliedSchema, 409: ErrorBodySchema, 422: ValidationSchema },
        },
      },
      async (req, res) => {
        const result = await deps.source.apply({
          text: draftText(req.body),
          author: actorName(req.adminActor),
          comment: req.body.comment,
          ...(req.body.baseVersion !== undefined ? { baseVersion: req.body.baseVersion } : {}),
        });
        if (result.ok && result.unchanged) {
          await writeAudit(req, 'apply', 'unchanged', { version: result.version });
          return { version: result.version, unchanged: true };
        }
        if (result.ok) {
          await writeAudit(req, 'apply', 'ok', { version: result.version, comment: req.body.comment });
          return { version: result.version };
        }
        if (result.kind === 'invalid') {
          await writeAudit(req, 'apply', 'invalid', { errors: result.errors.length });
          return res.code(422).send({ ok: false, errors: result.errors, warnings: [] });
        }
        await writeAudit(req, 'apply', 'refused', { reason: 'conflict' });
        return fail(
          res,
          409,
          'conflict',
          `the config changed meanwhile (current version ${result.kind === 'conflict' ? result.current : '?'}); reload and apply again`,
        );
      },
    );

    a.get(
      '/versions',
      {
        schema: {
          summary: 'Stored versions, newest first',
          response: { 200: z.object({ current: z.number(), versions: z.array(VersionSummarySchema) }) },
        },
      },
      async () => ({
        current: await deps.source.versions.current(),
        versions: await deps.source.versions.list(200),
      }),
    );

    a.get(
      '/versions/:version',
      {
        schema: {
          summary: 'One version with its text and its diff against the previous one',
          params: VersionParamsSchema,
        },
      },
      async (req, res) => {
        const v = await deps.source.versions.get(req.params.version);
        return v ?? fail(res, 404, 'not_found', `version ${req.params.version} does not exist`);
      },
    );

    a.get(
      '/versions/:version/diff/:other',
      { schema: { summary: 'Unified diff between two versions', params: DiffParamsSchema } },
      async (req, res) => {
        const [x, y] = await Promise.all([
          deps.source.versions.get(req.params.version),
          deps.source.versions.get(req.params.other),
        ]);
        if (!x || !y)
          return fail(res, 404, 'not_found', `version ${!x ? req.params.version : req.params.other} does not exist`);
        return { diff: diffTexts(x.text, y.text, `version ${x.version}`, `version ${y.version}`) };
      },
    );

    a.post(
      '/versions/:version/rollback',
      {
        schema: {
          summary: 'Make an older version current again (as a new version)',
          params: VersionParamsSchema,
          body: RollbackSchema,
        },
      },
      async (req, res) => {
        const result = await deps.source.rollback({
          version: req.params.version,
          author: actorName(req.adminActor),
          comment: req.body.comment,
        });
        if (result.ok) {
          await writeAudit(req, 'rollback', 'ok', { to: req.params.version, version: result.version });
          return { version: result.version };
        }
        await writeAudit(req, 'rollback', 'refused', { to: req.params.version, reason: result.kind });
        if (result.kind === 'not_found')
          return fail(res, 404, 'not_found', `version ${req.params.version} does not exist`);
        if (result.kind === 'invalid') return res.code(422).send({ ok: false, errors: result.errors, warnings: [] });
        return fail(res, 409, 'conflict', 'the config changed meanwhile; try again');
      },
    );

    a.post(
      '/dry-run',
      {
        schema: {
          summary: 'Replay the kept webhooks of the last days through the draft and the running rules',
          body: DryRunSchema,
        },
      },
      async (req, res) => {
        const dir = await deps.directory();
        const draft = await deps.source.validate(draftText(req.body), dir);
        if (!draft.ok) return res.code(422).send({ ok: false, errors: draft.errors, warnings: [] });
        const running = deps.source.snapshot();
        const current = await deps.source.validate(running.text, dir);
        if (!current.ok || !current.rules || !draft.rules)
          return fail(res, 500, 'internal', 'the rules could not be compiled');
        const to = deps.clock.now().getTime();
        const from = to - req.body.days * 24 * 3600_000;
        const kept = await keptEvents(deps.redis, deps.keys, deps.inbox, { from, to }, dir.timeZone);
        const report = compareReplays({
          events: kept.events,
          current: current.rules,
          draft: draft.rules,
          from,
          to,
          recorded: await recordedCounts(deps.records, { from, to }),
        });
        await writeAudit(req, 'dry_run', 'ok', { days: req.body.days, events: report.events });
        return { ...report, deliveries: kept.deliveries, unreadable: kept.unreadable, warnings: draft.warnings };
      },
    );
  };
