/**
 * bull-board's queue view at /admin/queues: the same sign-in as the page (the session cookie, or the token as a
 * bearer); its writes (retry, clean) go to the audit log.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
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
        // bull-board's own writes (retry, clean) are POST/PUT from its page: same-origin only (SameSite=Strict cookie).
        return;
      }
      const header = req.headers.authorization;
      if (header?.toLowerCase().startsWith('bearer ') && tokenEquals(header.slice(7), deps.token)) return;
      return res
        .code(401)
        .type('text/html; charset=utf-8')
        .send('<p>Войдите на <a href="/admin">странице администратора</a>.</p>');
    });
    app.addHook('onResponse', async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        await writeAudit(req, `queues ${req.method} ${req.url.split('?')[0] ?? ''}`, 'ok');
    });
    await app.register(adapter.registerPlugin(), { prefix: '/queues' });
  };
}
