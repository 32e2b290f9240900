/**
 * POST /webhooks/amocrm/:token — amoCRM account webhooks and Digital Pipeline "send webhook" actions.
 * The route only reads the body as text and hands it to the receiver; the outcome maps to a status here, in one place.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply } from 'fastify';
import type { Metrics } from '../../lib/metrics.js';
import type { WebhookOutcome, WebhookReceiver } from '../../amocrm/webhook-receiver.js';

export const WEBHOOK_BODY_LIMIT_BYTES = 1024 * 1024;

function reply(res: FastifyReply, outcome: WebhookOutcome, metrics: Metrics): FastifyReply {
  switch (outcome.kind) {
    case 'accepted':
      metrics.webhooksReceived.inc({ outcome: 'accepted' });
      return res.code(200).send({
        ok: true,
        deliveryId: outcome.deliveryId,
        enqueued: outcome.enqueued,
        duplicates: outcome.duplicates,
        rejected: outcome.rejected,
        ...(outcome.ignored.length > 0 ? { ignored: outcome.ignored } : {}),
      });
    case 'unknown_token':
      metrics.webhooksRejected.inc({ reason: 'unknown_token' });
      metrics.webhooksReceived.inc({ outcome: 'rejected' });
      return res.code(404).send({ error: { code: 'not_found', message: 'Not Found' } });
    case 'wrong_account':
      metrics.webhooksRejected.inc({ reason: 'wrong_account' });
      metrics.webhooksReceived.inc({ outcome: 'rejected' });
      return res.code(403).send({
        error: {
          code: 'wrong_account',
          message: `webhooks from account "${outcome.subdomain}" are not accepted here`,
        },
      });
    case 'bad_body':
      metrics.webhooksRejected.inc({ reason: 'bad_body' });
      metrics.webhooksReceived.inc({ outcome: 'rejected' });
      return res.code(400).send({ error: { code: 'bad_body', message: outcome.error } });
    case 'unavailable':
      metrics.webhooksRejected.inc({ reason: 'unavailable' });
      metrics.webhooksReceived.inc({ outcome: 'rejected' });
      return res.code(503).send({ error: { code: 'unavailable', message: outcome.error } });
  }
}

export function registerAmocrmWebhookRoute(
  app: FastifyInstance,
  deps: { receiver: WebhookReceiver; metrics: Metrics },
): void {
  // Content-type parsers are scoped to this plugin: the body stays raw text (kept for audit and replay)
  // and is expanded by our own parser; Fastify answers 415 for any other content type and 413 over the limit.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    const asText = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void =>
      done(null, typeof body === 'string' ? body : body.toString('utf8'));
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES },
      asText,
    );
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES }, asText);

    // No per-request child logger (pino builds and redacts its bindings for every request, ≈2% of the route's
    // CPU): the route logs rarely, and each line it writes names the request itself.
    const sameLogger = (logger: FastifyBaseLogger): FastifyBaseLogger => logger;
    scope.post<{ Params: { token: string } }>(
      '/webhooks/amocrm/:token',
      { childLoggerFactory: sameLogger },
      async (req, res) => {
        const end = deps.metrics.webhookDuration.startTimer();
        try {
          const type = (req.headers['content-type'] ?? '').toLowerCase();
          const header = (name: string): string | undefined => {
            const v = req.headers[name];
            return typeof v === 'string' ? v : undefined;
          };
          const requestId = header('x-amocrm-requestid');
          const userAgent = header('user-agent');
          const outcome = await deps.receiver.receive({
            token: req.params.token,
            body: typeof req.body === 'string' ? req.body : '',
            contentType: type.startsWith('application/json') ? 'json' : 'form',
            ...(requestId !== undefined ? { requestId } : {}),
            ...(userAgent !== undefined ? { userAgent } : {}),
          });
          if (outcome.kind !== 'accepted' && outcome.kind !== 'unknown_token') {
            req.log.warn(
              { reqId: req.id, outcome: outcome.kind, error: 'error' in outcome ? outcome.error : undefined },
              'webhook rejected',
            );
          } else if (outcome.kind === 'accepted') {
            // Per-delivery success is a debug line: at info it would be most of the intake's CPU (see docs/BENCHMARKS.md);
            // the counters on /metrics and the raw body keep the trace.
            req.log.debug(
              {
                reqId: req.id,
                deliveryId: outcome.deliveryId,
                enqueued: outcome.enqueued,
                duplicates: outcome.duplicates,
                rejected: outcome.rejected,
              },
              'webhook accepted',
            );
          }
          return reply(res, outcome, deps.metrics);
        } finally {
          end();
        }
      },
    );
  });
}
