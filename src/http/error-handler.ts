/** The one place where errors become HTTP answers: a JSON body naming the problem, never a stack trace. */
import type { FastifyError, FastifyInstance } from 'fastify';

const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'bad_body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_body' },
};

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, req, res) => {
    const code = (err as { code?: unknown }).code;
    const known = typeof code === 'string' ? FASTIFY_CODES[code] : undefined;
    if (known !== undefined) {
      req.log.warn({ code }, err.message);
      return res.code(known.status).send({ error: { code: known.code, message: err.message } });
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return res.code(500).send({ error: { code: 'internal', message: 'internal error' } });
    }
    return res.code(status).send({ error: { code: 'bad_request', message: err.message } });
  });

  app.setNotFoundHandler((_req, res) => res.code(404).send({ error: { code: 'not_found', message: 'Not Found' } }));
}
