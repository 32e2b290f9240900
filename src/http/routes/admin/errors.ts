/**
 * What the admin API answers when a request cannot be taken: a body too large, not JSON, nested deeper than any rules
 * file, or a failure of ours. Always `{ error: { code, message } }` with a Russian message for the person and an
 * English code for programs; never a stack overflow or a bare 500 for a hostile body.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_DEPTH, nestedDeeperThan } from '../../../config/load.js';
import { fail, type AdminContext } from './context.js';

/** A JSON body nested deeper than a rules file ever is: refused before validation walks it. */
export async function refuseDeepBodies(req: FastifyRequest, res: FastifyReply): Promise<FastifyReply | undefined> {
  if (req.body !== undefined && nestedDeeperThan(req.body, MAX_DEPTH))
    return fail(
      res,
      400,
      'too_deep',
      `Тело запроса вложено глубже ${MAX_DEPTH} уровней: такой файл правил не бывает, запрос не принят.`,
    );
  return undefined;
}

export function adminErrorHandler(ctx: AdminContext) {
  return (err: FastifyError, req: FastifyRequest, res: FastifyReply): FastifyReply => {
    if (err.validation) return res.code(400).send(err);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413)
      return fail(res, 413, 'too_large', 'Тело запроса слишком большое: черновик правил должен быть меньше 1 МБ.');
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return fail(
        res,
        415,
        'unsupported_media_type',
        'Отправьте тело запроса как JSON (Content-Type: application/json).',
      );
    if (err.code?.startsWith('FST_ERR_CTP') || err instanceof SyntaxError)
      return fail(res, 400, 'bad_body', 'Тело запроса не читается как JSON.');
    if (err instanceof RangeError)
      return fail(res, 400, 'too_deep', `Тело запроса вложено глубже ${MAX_DEPTH} уровней: запрос не принят.`);
    if (err.statusCode !== undefined && err.statusCode < 500) return res.code(err.statusCode).send(err);
    ctx.log.error({ err: { message: err.message, stack: err.stack }, url: req.url }, 'admin API: request failed');
    return fail(res, 500, 'internal', 'Внутренняя ошибка сервиса; подробности в журнале.');
  };
}
