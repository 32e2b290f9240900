/**
 * Installing the integration the way amoCRM does it (amocrm.md §4), for an OAuth integration:
 *
 * - `GET /oauth/install` sends the admin to amoCRM's consent page with a `state` this service issued (kept 20
 *   minutes, amoCRM's code lifetime);
 * - `GET /oauth/callback` (amoCRM's redirect) takes the code only with a state it issued and, when AMO_SUBDOMAIN is
 *   set, from that account's `referer`; `from_widget` gets a page that closes itself;
 * - both answer 404 once tokens exist (nothing to install), and both are rate-limited: a stranger's hits never reach
 *   amoCRM, whose token endpoint shares the highest-priority lane;
 * - `GET /oauth/disconnect` is amoCRM's "integration disabled" hook (sample 32): signed with the client secret, it
 *   forgets the tokens (every amoCRM call then fails fast and readiness says `auth_revoked`), records it and alerts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { AmoClient } from '../../amocrm/api/client.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import type { Keys } from '../../store/keys.js';
import type { RecordStore } from '../../store/record-store.js';

/** amoCRM's authorization code lives 20 minutes; a state outliving it would only collect garbage. */
export const OAUTH_STATE_TTL_SECONDS = 20 * 60;

export interface OAuthRouteDeps {
  amo: Pick<AmoClient, 'exchangeAuthCode' | 'hasTokens' | 'clearTokens'>;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  metrics: Pick<Metrics, 'amoAlerts'>;
  records: Pick<RecordStore, 'append'>;
  clock: Clock;
  clientId: string;
  clientSecret: string;
  /** `amocrm.ru` or `kommo.com`: the consent page is on its `www` host. */
  domain: string;
  /** When set, only this account's redirect (its `referer`) is taken. */
  subdomain?: string;
  /** Hits per minute and client address on install and callback. */
  perMinute?: number;
}

const page = (text: string, close = false): string =>
  `<!doctype html><meta charset="utf-8"><p>${text}</p>${close ? '<script>window.close()</script>' : ''}`;

export function oauthRoutes(deps: OAuthRouteDeps) {
  const stateKey = (state: string): string => deps.keys.of('oauth', 'state', state);
  const log = deps.logger.child({ component: 'oauth' });
  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      await scope.register(fastifyRateLimit, { global: false });
      const limited = { config: { rateLimit: { max: deps.perMinute ?? 10, timeWindow: '1 minute' } } };

      scope.get('/oauth/install', limited, async (_req, res) => {
        if (await deps.amo.hasTokens())
          return res.code(404).send({ error: { code: 'not_found', message: 'amoCRM is already connected' } });
        const state = randomBytes(16).toString('hex');
        await deps.redis.set(stateKey(state), '1', 'EX', OAUTH_STATE_TTL_SECONDS);
        const query = new URLSearchParams({ client_id: deps.clientId, state, mode: 'post_message' });
        return res.redirect(`https://www.${deps.domain}/oauth?${query.toString()}`, 302);
      });

      scope.get<{
        Querystring: { code?: string; state?: string; referer?: string; error?: string; from_widget?: string };
      }>('/oauth/callback', limited, async (req, res) => {
        if (await deps.amo.hasTokens())
          return res.code(404).send({ error: { code: 'not_found', message: 'amoCRM is already connected' } });
        const { code, state, referer } = req.query;
        if (!code)
          return res.code(400).send({
            error: {
              code: 'bad_request',
              message: `amoCRM did not send an authorization code${req.query.error ? `: ${req.query.error}` : ''}`,
            },
          });
        // The state must be one this service issued and not used yet: anyone else's redirect is refused here.
        const issued = state ? await deps.redis.getdel(stateKey(state)) : null;
        if (issued === null) {
          log.warn(
            { hasState: Boolean(state) },
            'OAuth callback refused: a state this service did not issue (start at /oauth/install)',
          );
          return res
            .code(403)
            .send({ error: { code: 'unknown_state', message: 'start the installation at /oauth/install' } });
        }
        const account = referer?.split('.')[0]?.toLowerCase();
        if (deps.subdomain && account !== deps.subdomain.toLowerCase()) {
          log.warn({ referer }, 'OAuth callback refused: the redirect came from another amoCRM account');
          return res
            .code(403)
            .send({ error: { code: 'wrong_account', message: `this service is set up for ${deps.subdomain}` } });
        }
        try {
          await deps.amo.exchangeAuthCode(code);
          log.info({ referer }, 'amoCRM authorised through /oauth/callback');
          return res
            .type('text/html; charset=utf-8')
            .send(page('amoCRM подключён. Окно можно закрыть.', req.query.from_widget !== undefined));
        } catch (err) {
          log.error({ err: { message: (err as Error).message } }, 'amoCRM authorisation failed');
          return res.code(502).send({ error: { code: 'authorisation_failed', message: (err as Error).message } });
        }
      });

      scope.get<{ Querystring: { client_uuid?: string; account_id?: string; signature?: string } }>(
        '/oauth/disconnect',
        limited,
        async (req, res) => {
          const { client_uuid: client, account_id: accountId, signature } = req.query;
          const expected = createHmac('sha256', deps.clientSecret)
            .update(`${client ?? ''}|${accountId ?? ''}`)
            .digest('hex');
          const given = Buffer.from(signature ?? '');
          if (
            client !== deps.clientId ||
            given.length !== expected.length ||
            !timingSafeEqual(given, Buffer.from(expected))
          ) {
            log.warn({ accountId }, 'disconnect hook refused: wrong client or signature');
            return res.code(403).send({ error: { code: 'bad_signature', message: 'not signed by this integration' } });
          }
          await deps.amo.clearTokens();
          const at = deps.clock.now().toISOString();
          await deps.records.append(
            {
              kind: 'action',
              at,
              leadId: 0,
              type: 'integration_disconnected',
              rule: 'oauth',
              reason: `the integration was disconnected in amoCRM account ${accountId}; tokens deleted, amoCRM work stopped until it is installed again`,
            },
            `oauth:disconnected:${accountId}:${at}`,
          );
          deps.metrics.amoAlerts.inc({ kind: 'integration_disconnected' });
          log.error(
            { alert: 'integration_disconnected', accountId },
            'ACTION NEEDED: the integration was disconnected in amoCRM; its tokens are deleted and nothing is written to amoCRM until it is installed again (/oauth/install)',
          );
          return { ok: true };
        },
      );
    });
  };
}
