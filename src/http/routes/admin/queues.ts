/**
 * bull-board's queue view at /admin/queues: the same sign-in as the page (the session cookie, or the token as a
 * bearer); its writes (retry, clean) go to the audit log.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tokenEquals, type SessionStore } from '../../../admin/auth.js';
import { SESSION_COOKIE, type AdminContext } from './context.js';

export function queuesPlugin(ctx: AdminContext, sessions: SessionStore) {
  const { deps, writeAudit } = ctx;
  return async (app: FastifyInstance): Promise<void> => {
    const adapter = new FastifyAdapter();
    adapter.setBasePath('/admin/queues');
    createBullBoard({
      queues: (deps.queues ?? []).map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
      serverAdapter: adapter,
    });
    app.addHook('onRequest', async (req, res) => {
      const id = req.cookies[SESSION_COOKIE];
      const session = id !== undefined ? await sessions.get(id) : undefined;
      if (session) {
        req.adminActor = { kind: 'session', session };
        // bull-board's page cannot send our CSRF header, so a write with the cookie must come from this origin: the
        // browser says so in Origin / Sec-Fetch-Site, which a page elsewhere cannot forge.
        if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) {
          await writeAudit(req, `queues ${req.method} ${req.url.split('?')[0] ?? ''}`, 'refused', {
            reason: 'cross-origin write with the session cookie',
            origin: req.headers.origin ?? null,
          });
          return res.code(403).send({
            error: {
              code: 'csrf',
              message: 'Изменять очереди можно только со страницы администратора этого сервиса.',
            },
          });
        }
        return;
      }
      const header = req.headers.authorization;
      if (header?.toLowerCase().startsWith('bearer ') && tokenEquals(header.slice(7), deps.token)) {
        req.adminActor = { kind: 'token' };
        return;
      }
      return res
        .code(401)
        .type('text/html; charset=utf-8')
        .send('<p>Войдите на <a href="/admin">странице администратора</a>.</p>');
    });
    app.addHook('onResponse', async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        await writeAudit(req, `queues ${req.method} ${req.url.split('?')[0] ?? ''}`, 'ok');
    });
    // bull-board's page asks Google for its fonts; the view uses the system's instead (the CSP allows no CDN).
    app.addHook('onSend', async (_req, res, payload) =>
      typeof payload === 'string' && String(res.getHeader('content-type') ?? '').startsWith('text/html')
        ? payload.replace(/<link[^>]+fonts\.googleapis\.com[^>]*>/g, '')
        : payload,
    );
    await app.register(adapter.registerPlugin(), { prefix: '/queues' });
  };
}

/** The request came from a page of this service: Sec-Fetch-Site says so, or Origin is this host. */
function sameOrigin(req: FastifyRequest): boolean {
  if (req.headers['sec-fetch-site'] === 'same-origin') return true;
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
