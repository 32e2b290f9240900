/**
 * R2's intake switches (seed 002 §2.13, §3.10): the view of who is paused, and pausing and resuming a manager or a
 * department with who and why.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { checkTarget, configPause, intakeView } from '../../../admin/intake.js';
import { pauseKey, type CompiledRules } from '../../../rules/types.js';
import type { IntakeTarget } from '../../../store/intake-store.js';
import { actorName, fail, INTAKE_HISTORY, INTAKE_KINDS, recordsOf } from './context.js';
import { DepartmentParamsSchema, IntakeChangeSchema, ManagerParamsSchema } from './schemas.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminContext } from './context.js';

/** Intake view and changes, under the admin API’s authentication. */
export const intakeRoutes =
  (ctx: AdminContext): FastifyPluginAsyncZod =>
  async (a) => {
    const { deps, writeAudit, intake } = ctx;
    // R2 (seed 002 §2.13, §3.10): pause and resume a manager's or a department's intake, with who and why.
    const intakeRules = async (): Promise<CompiledRules | undefined> => {
      const s = deps.source.snapshot();
      if (s.rules) return s.rules;
      // A web-only process compiles nothing: the running text is compiled against the directory here.
      const v = await deps.source.validate(s.text, await deps.directory());
      return v.ok ? v.rules : undefined;
    };

    a.get(
      '/intake',
      {
        schema: {
          summary:
            'Intake of every department and manager: who is paused, where (config or run time), by whom and why; the latest pauses and resumes',
        },
      },
      async (_req, res) => {
        const rules = await intakeRules();
        if (!rules) return fail(res, 500, 'internal', 'the running rules could not be compiled');
        const history = recordsOf(await deps.records.forLead(0), INTAKE_KINDS)
          .slice(-INTAKE_HISTORY)
          .reverse();
        return { departments: intakeView(rules, await intake.list()), history };
      },
    );

    const changeIntake = async (
      req: FastifyRequest,
      res: FastifyReply,
      op: 'pause' | 'resume',
      target: IntakeTarget,
      body: z.infer<typeof IntakeChangeSchema>,
    ): Promise<FastifyReply> => {
      const action = `intake_${op}`;
      const detail = {
        target: pauseKey(target),
        reason: body.reason,
        ...(body.by !== undefined ? { by: body.by } : {}),
      };
      const rules = await intakeRules();
      if (!rules) return fail(res, 500, 'internal', 'the running rules could not be compiled');
      const known = checkTarget(rules, target);
      if (!known.ok) {
        await writeAudit(req, action, 'invalid', { ...detail, problem: 'unknown_target' });
        return fail(res, 404, 'not_found', known.message);
      }
      const actor = actorName(req.adminActor);
      const by = {
        name: body.by !== undefined ? `${body.by} (admin ${actor})` : `admin ${actor}`,
        reason: body.reason,
        at: deps.clock.now().getTime(),
      };
      if (op === 'resume' && configPause(rules, target) !== undefined) {
        await writeAudit(req, action, 'refused', { ...detail, problem: 'paused_in_config' });
        return fail(
          res,
          409,
          'paused_in_config',
          `${known.label} is paused in the rules config ("${configPause(rules, target) ?? ''}"); remove "paused" there to resume`,
        );
      }
      const changed = op === 'pause' ? await intake.pause(target, by) : await intake.resume(target, by);
      if (!changed) {
        const current = (await intake.list()).get(pauseKey(target));
        await writeAudit(req, action, 'refused', {
          ...detail,
          problem: op === 'pause' ? 'already_paused' : 'not_paused',
        });
        return op === 'pause'
          ? fail(
              res,
              409,
              'already_paused',
              `${known.label} is already paused by ${current?.by ?? '?'}${current ? ` since ${new Date(current.at).toISOString()}` : ''}: ${current?.reason ?? ''}`,
            )
          : fail(res, 409, 'not_paused', `${known.label} is not paused at run time`);
      }
      await writeAudit(req, action, 'ok', detail);
      return res.send({
        ok: true,
        target: pauseKey(target),
        [op === 'pause' ? 'paused' : 'resumed']: {
          by: by.name,
          reason: by.reason,
          at: new Date(by.at).toISOString(),
        },
      });
    };

    for (const op of ['pause', 'resume'] as const) {
      a.post(
        `/intake/managers/:userId/${op}`,
        {
          schema: {
            summary: `${op === 'pause' ? 'Pause' : 'Resume'} a manager's intake of leads (the reason is required and recorded)`,
            params: ManagerParamsSchema,
            body: IntakeChangeSchema,
          },
        },
        async (req, res) => changeIntake(req, res, op, { kind: 'manager', userId: req.params.userId }, req.body),
      );
      a.post(
        `/intake/departments/:department/${op}`,
        {
          schema: {
            summary: `${op === 'pause' ? 'Pause' : 'Resume'} a whole department's intake of leads (the reason is required and recorded)`,
            params: DepartmentParamsSchema,
            body: IntakeChangeSchema,
          },
        },
        async (req, res) => changeIntake(req, res, op, { kind: 'department', name: req.params.department }, req.body),
      );
    }
  };
