/**
 * Who is asking the admin API: the ADMIN_TOKEN as a bearer, or a session cookie it was exchanged for (writes then
 * need the CSRF header). Sign-in, the session itself and sign-out.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { tokenEquals, type SessionStore } from '../../../admin/auth.js';
import { CSRF_HEADER, fail, SESSION_COOKIE, type AdminContext } from './context.js';
import { SignInSchema } from './schemas.js';

/** Answers 401/403 unless the request carries the token or a live session (with the CSRF header on writes). */
export function createAuthenticate(ctx: AdminContext, sessions: SessionStore) {
  const { deps } = ctx;
  return async (req: FastifyRequest, res: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const [scheme, given] = header.split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || given === undefined || !tokenEquals(given, deps.token))
        return fail(res, 401, 'unauthorized', 'wrong admin token');
      req.adminActor = { kind: 'token' };
      return undefined;
    }
    const id = req.cookies[SESSION_COOKIE];
    const session = id !== undefined ? await sessions.get(id) : undefined;
    if (!session)
      return fail(
        res,
        401,
        'unauthorized',
        'sign in first: POST /admin/api/session with the admin token, or send it as a bearer',
      );
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const csrf = req.headers[CSRF_HEADER];
      if (typeof csrf !== 'string' || !tokenEquals(csrf, session.csrf))
        return fail(res, 403, 'csrf', `the ${CSRF_HEADER} header is missing or wrong`);
    }
    req.adminActor = { kind: 'session', session };
    return undefined;
  };
}

/**
 * POST /session: a named admin's password, or the shared token, for a short-lived session. Throttled per account and
 * client address, so a stranger's wrong guesses never lock out an admin elsewhere; nothing secret is echoed or logged.
 */
export const signInRoutes =
  (ctx: AdminContext, sessions: SessionStore): FastifyPluginAsyncZod =>
  async (r) => {
    const { deps, writeAudit, now } = ctx;
    r.post(
      '/session',
      {
        config: {
          rateLimit: {
            max: deps.signInPerMinute ?? 10,
            timeWindow: '1 minute',
            // After the body is parsed, so the key can name the account.
            hook: 'preHandler',
            keyGenerator: (req: FastifyRequest) => `${signInAccount(req.body)}|${req.ip}`,
            errorResponseBuilder: () => ({
              statusCode: 429,
              error: { code: 'too_many', message: 'Слишком много попыток входа; подождите минуту.' },
            }),
          },
        },
        schema: {
          summary:
            'Sign in as a named admin (name and password) or with the admin token: a session cookie and a CSRF token',
          body: SignInSchema,
          security: [],
        },
      },
      async (req, res) => {
        const body = req.body;
        const admin =
          'name' in body
            ? deps.accounts?.verify(body.name, body.password)
            : tokenEquals(body.token, deps.token)
              ? null
              : undefined;
        if (admin === undefined) {
          await writeAudit(req, 'sign_in', 'refused', 'name' in body ? { name: body.name } : { with: 'token' });
          return fail(
            res,
            401,
            'unauthorized',
            'name' in body ? 'Неверное имя или пароль.' : 'Неверный токен администратора.',
          );
        }
        const session = await sessions.create(now(), { ...(admin !== null ? { admin } : {}), address: req.ip });
        req.adminActor = { kind: 'session', session };
        await writeAudit(req, 'sign_in', 'ok');
        const expiresAt = new Date(deps.clock.now().getTime() + deps.sessionMinutes * 60_000).toISOString();
        return res
          .setCookie(SESSION_COOKIE, session.id, {
            path: '/admin',
            httpOnly: true,
            sameSite: 'strict',
            // Secure whenever the request came over HTTPS (behind a proxy: with TRUST_PROXY, from X-Forwarded-Proto).
            secure: 'auto',
            maxAge: deps.sessionMinutes * 60,
          })
          .send({ csrfToken: session.csrf, expiresAt, ...(admin !== null ? { admin } : {}) });
      },
    );
  };

/** The account a sign-in names, for throttling: the admin's name (case-insensitive) or the shared token. */
function signInAccount(body: unknown): string {
  const name = (body as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? `admin:${name.trim().toLowerCase()}` : 'token';
}

/** The current session and signing out; the audit log of admin writes. Behind authentication. */
export const sessionRoutes =
  (ctx: AdminContext, sessions: SessionStore): FastifyPluginAsyncZod =>
  async (a) => {
    const { writeAudit } = ctx;
    a.get(
      '/session',
      { schema: { summary: 'The current session (the page reads its CSRF token after a reload)' } },
      async (req) => {
        const actor = req.adminActor;
        return {
          kind: actor?.kind,
          ...(actor?.kind === 'session' ? { csrfToken: actor.session.csrf } : {}),
          ...(actor?.kind === 'session' && actor.session.admin ? { admin: actor.session.admin } : {}),
        };
      },
    );

    a.delete('/session', { schema: { summary: 'Sign out' } }, async (req, res) => {
      const actor = req.adminActor;
      if (actor?.kind === 'session') await sessions.destroy(actor.session.id);
      await writeAudit(req, 'sign_out', 'ok');
      return res.clearCookie(SESSION_COOKIE, { path: '/admin' }).send({ ok: true });
    });

    a.get(
      '/audit',
      {
        schema: {
          summary: 'The audit log of admin writes, newest first',
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        },
      },
      async (req) => ({
        entries: await ctx.audit.list(req.query.limit),
      }),
    );
  };
