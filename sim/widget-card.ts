/**
 * The simulator's side of the amoCRM widget: one-time tokens for the widget's calls and a lead card page that loads
 * the widget the way amoCRM does.
 *
 * - `GET /widget/token?user=<id>` (the card page's own call, standing in for amoCRM's `$authorizedAjax`): a JWT
 *   signed HS256 with the integration's secret, with amoCRM's claims (`iss` the account address, `aud` the service,
 *   `jti`, `iat`, `nbf`, `exp`, `account_id`, `subdomain`, `client_uuid`, `user_id`);
 * - `GET /leads/detail/<id>?user=<id>`: the card, with a small AMD loader: it loads the widget's `script.js`, builds
 *   the widget object, gives it `get_settings`, `i18n`, `render_template` (into the card's widget column) and
 *   `$authorizedAjax` (a fetch with `X-Auth-Token`, answering `.done` / `.fail` like jQuery's Deferred), then calls
 *   `init`, `render` and `bind_actions`;
 * - `GET /widget/files/<file>`: the widget's files from `widget/`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import type { Account as SimAccount } from './account.js';

export interface SimWidgetOptions {
  secret: string;
  clientId?: string;
  /** The widget's files (manifest.json, script.js, i18n/). Default `widget`. */
  dir?: string;
  /** Lifetime of a token, seconds (amoCRM's are short-lived). Default 300. */
  tokenTtlSec?: number;
}

export interface SimWidget {
  /** The widget's settings as the admin filled them in amoCRM (`service_url`). */
  settings: Record<string, string>;
  /** A token for a user, as amoCRM would sign it. */
  token(userId: number, options?: { ttlSec?: number; secret?: string }): Promise<string>;
}

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function registerWidgetCard(
  app: FastifyInstance,
  deps: { options: SimWidgetOptions; account: () => SimAccount; baseUrl: () => string; now: () => number },
): SimWidget {
  const dir = deps.options.dir ?? 'widget';
  const widget: SimWidget = {
    settings: {},
    async token(userId, options = {}) {
      const iat = Math.floor(deps.now() / 1000);
      return new SignJWT({
        account_id: 31_234_567,
        subdomain: 'demo-realty',
        client_uuid: deps.options.clientId ?? 'sim-integration',
        user_id: userId,
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(deps.baseUrl())
        .setAudience(widget.settings.service_url ?? deps.baseUrl())
        .setJti(randomBytes(16).toString('hex'))
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + (options.ttlSec ?? deps.options.tokenTtlSec ?? 300))
        .sign(new TextEncoder().encode(options.secret ?? deps.options.secret));
    },
  };

  app.get('/widget/token', async (req, res) => {
    const user = Number((req.query as { user?: string }).user);
    if (!Number.isInteger(user) || !deps.account().users.some((u) => u.id === user))
      return res.code(400).send({ error: 'unknown user' });
    return { token: await widget.token(user) };
  });

  app.get('/widget/files/*', async (req, res) => {
    const rel = normalize((req.params as { '*': string })['*']);
    if (rel.startsWith('..') || rel.startsWith('/')) return res.code(404).send('not found');
    try {
      const body = readFileSync(join(dir, rel));
      const type = rel.endsWith('.js')
        ? 'application/javascript; charset=utf-8'
        : rel.endsWith('.json')
          ? 'application/json; charset=utf-8'
          : 'application/octet-stream';
      return res.header('content-type', type).send(body);
    } catch {
      return res.code(404).send('not found');
    }
  });

  app.get('/leads/detail/:id', async (req, res) => {
    const id = Number((req.params as { id: string }).id);
    const lead = deps.account().leads.get(id);
    if (!lead) return res.code(404).send('no such lead');
    const userParam = Number((req.query as { user?: string }).user);
    const user = Number.isInteger(userParam) && userParam > 0 ? userParam : lead.responsibleUserId;
    const i18n = JSON.parse(readFileSync(join(dir, 'i18n', 'ru.json'), 'utf8')) as Record<string, unknown>;
    const userName = deps.account().users.find((u) => u.id === user)?.name ?? String(user);
    const responsible = deps.account().users.find((u) => u.id === lead.responsibleUserId)?.name ?? '';
    const boot = {
      card: { id, user },
      settings: widget.settings,
      i18n,
    };
    const html = `<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Сделка №${id}</title>
<style>
  body { font-family: sans-serif; margin: 0; display: flex; }
  .card-main { flex: 1; padding: 16px; }
  .card-widgets { width: 320px; border-left: 1px solid #ddd; padding: 12px; }
  .card-widgets .widget { border: 1px solid #c8d3e0; border-radius: 4px; padding: 8px; font-size: 13px; }
</style></head>
<body>
<div class="card-main"><h1>${esc(lead.name)}</h1><p>Ответственный: ${esc(responsible)}</p><p>Вы вошли как: <span id="me">${esc(userName)}</span></p></div>
<div class="card-widgets" id="card_widgets" data-area="lcard-1"></div>
<script>
  window.__boot = ${JSON.stringify(boot).replace(/</g, '\\u003c')};
  window.AMOCRM = { data: { current_card: { id: __boot.card.id }, current_entity: 'leads' } };
  (function () {
    var factory = null;
    window.define = function (deps, f) { factory = typeof deps === 'function' ? deps : f; };
    window.define.amd = true;
    window.__widgetFactory = function () { return factory; };
  })();
</script>
<script src="/widget/files/script.js"></script>
<script>
  (function () {
    function deferred(promise) {
      var d = {
        done: function (f) { promise.then(function (r) { if (r.ok) f(r.json); }); return d; },
        fail: function (f) { promise.then(function (r) { if (!r.ok) f({ status: r.status, responseJSON: r.json }); }); return d; }
      };
      return d;
    }
    var Widget = window.__widgetFactory()();
    var w = new Widget();
    w.get_settings = function () { return __boot.settings; };
    w.i18n = function (key) { return __boot.i18n[key]; };
    w.render_template = function (p) {
      var el = document.getElementById('card_widgets');
      el.innerHTML = '<div class="widget ' + p.caption.class_name + '">' + (p.render || p.body || '') + '</div>';
    };
    w.$authorizedAjax = function (o) {
      return deferred(
        fetch('/widget/token?user=' + __boot.card.user)
          .then(function (r) { return r.json(); })
          .then(function (t) {
            return fetch(o.url, {
              method: o.method || 'GET',
              headers: Object.assign({ 'X-Auth-Token': t.token }, o.data !== undefined ? { 'Content-Type': o.contentType || 'application/json' } : {}),
              body: o.data
            });
          })
          .then(function (r) {
            return r.text().then(function (text) {
              var json = null;
              try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
              return { ok: r.ok, status: r.status, json: json };
            });
          })
          .catch(function () { return { ok: false, status: 0, json: null }; })
      );
    };
    window.__widget = w;
    if (w.callbacks.init() !== false && w.callbacks.render() !== false) w.callbacks.bind_actions();
  })();
</script>
</body></html>`;
    return res.header('content-type', 'text/html; charset=utf-8').send(html);
  });

  return widget;
}
