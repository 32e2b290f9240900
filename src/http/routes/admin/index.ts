/**
 * The admin area, all under /admin: the page (Russian), its assets, the JSON API (/admin/api, OpenAPI at
 * /admin/api/openapi.json) and the queue view (/admin/queues). One login: the ADMIN_TOKEN as a bearer, or a session
 * cookie it was exchanged for (writes then need the CSRF header). Every write goes to the audit log.
 * The routes only check, parse and hand on: the rules source, the stores and the dry run do the work.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { createSessionStore } from '../../../admin/auth.js';
import { configRoutes } from './config-routes.js';
import { createAdminContext, type AdminDeps } from './context.js';
import { queuesPlugin } from './queues.js';
import { adminErrorHandler, refuseDeepBodies } from './errors.js';
import { createAuthenticate, sessionRoutes, signInRoutes } from './session.js';
import { intakeRoutes } from './intake-routes.js';
import { recordRoutes } from './record-routes.js';

export { CSRF_HEADER, SESSION_COOKIE } from './context.js';
export { SOURCE_RULE, type AdminDeps } from './context.js';
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'admin', 'page');

const STRICT_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  objectSrc: ["'none'"],
};

export function adminPlugin(deps: AdminDeps) {
  const sessions = createSessionStore(deps.redis, deps.keys, deps.sessionMinutes * 60);
  const ctx = createAdminContext(deps);
  const authenticate = createAuthenticate(ctx, sessions);

  const api = async (app: FastifyInstance): Promise<void> => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(fastifySwagger, {
      openapi: {
        info: { title: 'amo-discipline admin API', version: '1' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
    });
    await app.register(fastifyRateLimit, { global: false });
    app.setErrorHandler(adminErrorHandler(ctx));

    await app.register(signInRoutes(ctx, sessions));

    app.register(async (auth) => {
      // Who is asking comes first, before the body is read or validated; then the body's shape.
      auth.addHook('onRequest', authenticate);
      auth.addHook('preValidation', refuseDeepBodies);
      const a = auth.withTypeProvider<ZodTypeProvider>();
      a.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      await a.register(sessionRoutes(ctx, sessions));
      await a.register(configRoutes(ctx));
      await a.register(recordRoutes(ctx));
      await a.register(intakeRoutes(ctx));
    });
  };

  const page = async (app: FastifyInstance): Promise<void> => {
    await app.register(fastifyStatic, {
      root: join(PAGE_DIR, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      index: false,
    });
    const html = (): Promise<string> => readFile(join(PAGE_DIR, 'index.html'), 'utf8');
    app.get('/', async (_req, res) => res.type('text/html; charset=utf-8').send(await html()));
  };

  return async function admin(app: FastifyInstance): Promise<void> {
    await app.register(fastifyCookie);
    // Strict CSP for the page and the API: only this origin's scripts and styles, no inline code, no framing.
    await app.register(async (strict) => {
      await strict.register(fastifyHelmet, {
        contentSecurityPolicy: { useDefaults: false, directives: STRICT_CSP },
        crossOriginEmbedderPolicy: true,
      });
      strict.addHook('onSend', async (_req, res, payload) => {
        res.header('cache-control', 'no-store');
        return payload;
      });
      await strict.register(page);
      await strict.register(api, { prefix: '/api' });
    });
    // bull-board's page sets inline styles; it gets the same policy with inline styles allowed.
    await app.register(async (board) => {
      await board.register(fastifyHelmet, {
        contentSecurityPolicy: {
          useDefaults: false,
          // Its page loads its scripts relative to <base href="/admin/queues/">.
          directives: { ...STRICT_CSP, styleSrc: ["'self'", "'unsafe-inline'"], baseUri: ["'self'"] },
        },
      });
      await board.register(queuesPlugin(ctx, sessions));
    });
  };
}
