/*
 * The sales-discipline robot in the amoCRM lead card (location lcard-1). An amoCRM widget: an AMD module whose
 * factory returns the widget object with amoCRM's callbacks. It reads the robot's state of the open lead from the
 * service (settings.service_url) with self.$authorizedAjax, which adds amoCRM's signed one-time token for the
 * current user (X-Auth-Token); the service verifies it with the integration's secret. Nothing else authenticates
 * the browser: no admin token is ever here. Texts come from i18n/ru.json (self.i18n).
 */
define([], function () {
  'use strict';

  var CLASS = 'robot-discipline';

  function esc(value) {
    return String(value === undefined || value === null ? '' : value).replace(/[&<>"']/g, function (c) {
      return '&#' + c.charCodeAt(0) + ';';
    });
  }

  function left(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var m = Math.floor(s / 60);
    var rest = s % 60;
    return m + ':' + (rest < 10 ? '0' : '') + rest;
  }

  function when(ms) {
    var d = new Date(ms);
    var pad = function (n) {
      return (n < 10 ? '0' : '') + n;
    };
    return pad(d.getDate()) + '.' + pad(d.getMonth() + 1) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  return function () {
    var self = this;
    var timer = null;
    var state = null;
    var offset = 0;

    function t(key) {
      var parts = ('card.' + key).split('.');
      var node = self.i18n ? self.i18n(parts[0]) : null;
      for (var i = 1; node && i < parts.length; i++) node = node[parts[i]];
      return typeof node === 'string' ? node : key;
    }

    function base() {
      var url = (self.get_settings() || {}).service_url || '';
      return url.replace(/\/+$/, '') + '/widget/api';
    }

    function leadId() {
      var card = (window.AMOCRM && AMOCRM.data && AMOCRM.data.current_card) || {};
      return Number(card.id || 0);
    }

    function root() {
      return document.querySelector('.' + CLASS + '__body');
    }

    function request(method, path, body) {
      return self.$authorizedAjax({
        url: base() + path,
        method: method,
        contentType: 'application/json',
        dataType: 'json',
        data: body === undefined ? undefined : JSON.stringify(body),
      });
    }

    function countdown() {
      var el = document.querySelector('.' + CLASS + '__countdown');
      if (!el || !state || !state.pickup) return;
      var p = state.pickup;
      if (p.phase !== 'running' || !p.deadlineAt) return;
      var rest = p.deadlineAt - (Date.now() + offset);
      el.textContent = rest > 0 ? t('left') + ' ' + left(rest) : t('overdue');
      el.setAttribute('data-left-ms', String(Math.max(0, rest)));
    }

    function html(s) {
      var out = [];
      if (s.pickup && s.pickup.assignedUserId) {
        var p = s.pickup;
        out.push(
          '<div class="' +
            CLASS +
            '__block" data-part="pickup"><b>' +
            esc(t('pickup')) +
            '</b>: ' +
            esc(p.assignedName),
        );
        if (p.phase === 'running') out.push(' — <span class="' + CLASS + '__countdown"></span>');
        else if (p.phase === 'taken') out.push(' — ' + esc(t('taken')));
        out.push('</div>');
      }
      if (s.why) {
        out.push('<div class="' + CLASS + '__block" data-part="why"><b>' + esc(t('why')) + '</b>: ' + esc(s.why.text));
        if (s.why.skipped.length) {
          out.push('<ul class="' + CLASS + '__skipped">');
          for (var i = 0; i < s.why.skipped.length; i++)
            out.push(
              '<li data-user="' +
                esc(s.why.skipped[i].userId) +
                '">' +
                esc(s.why.skipped[i].name) +
                ' — ' +
                esc(s.why.skipped[i].reason) +
                '</li>',
            );
          out.push('</ul>');
        }
        out.push('</div>');
      }
      if (s.cadence) {
        var c = s.cadence;
        out.push(
          '<div class="' +
            CLASS +
            '__block" data-part="cadence"><b>' +
            esc(t('cadence')) +
            '</b>: ' +
            esc(c.profile) +
            ', ' +
            esc(t('attempts')) +
            ' ' +
            esc(c.attempts) +
            (c.nextDueAt
              ? ', ' + esc(t('next_call')) + ' ' + esc(when(c.nextDueAt)) + (c.window ? ' (' + esc(c.window) + ')' : '')
              : '') +
            '</div>',
        );
      }
      out.push('<div class="' + CLASS + '__block" data-part="violations"><b>' + esc(t('violations')) + '</b>');
      if (!s.violations.length) out.push(': ' + esc(t('no_violations')));
      out.push('<ul>');
      for (var j = 0; j < s.violations.length; j++) {
        var v = s.violations[j];
        out.push(
          '<li data-ref="' +
            esc(v.ref) +
            '" data-state="' +
            esc(v.state) +
            '">' +
            esc(when(v.atMs)) +
            ' — ' +
            esc(v.text) +
            ' <i>(' +
            esc(v.stateText) +
            ')</i>' +
            (v.canDispute
              ? ' <button type="button" class="' +
                CLASS +
                '__dispute" data-ref="' +
                esc(v.ref) +
                '">' +
                esc(t('dispute')) +
                '</button>'
              : '') +
            (v.canDecide
              ? ' <button type="button" class="' +
                CLASS +
                '__decide" data-ref="' +
                esc(v.ref) +
                '" data-withdraw="1">' +
                esc(t('withdraw')) +
                '</button>' +
                ' <button type="button" class="' +
                CLASS +
                '__decide" data-ref="' +
                esc(v.ref) +
                '" data-withdraw="0">' +
                esc(t('uphold')) +
                '</button>'
              : '') +
            '</li>',
        );
      }
      out.push('</ul><div class="' + CLASS + '__message" role="status"></div></div>');
      return out.join('');
    }

    function say(text) {
      var el = document.querySelector('.' + CLASS + '__message');
      if (el) el.textContent = text;
    }

    function load() {
      var id = leadId();
      var body = root();
      if (!id || !body) return;
      request('GET', '/leads/' + id)
        .done(function (s) {
          state = s;
          offset = (s.now || Date.now()) - Date.now();
          body.innerHTML = html(s);
          countdown();
        })
        .fail(function (xhr) {
          body.textContent = xhr && xhr.status === 401 ? t('unauthorized') : t('failed');
        });
    }

    function onClick(ev) {
      var target = ev.target;
      if (!target || !target.getAttribute) return;
      var ref = target.getAttribute('data-ref');
      if (!ref) return;
      if (target.className.indexOf(CLASS + '__dispute') >= 0) {
        var reason = window.prompt(t('dispute_prompt'));
        if (reason === null) return;
        request('POST', '/violations/' + ref + '/dispute', { reason: reason })
          .done(function (r) {
            say(r.text);
            load();
          })
          .fail(function (xhr) {
            say((xhr && xhr.responseJSON && xhr.responseJSON.error && xhr.responseJSON.error.message) || t('failed'));
          });
      } else if (target.className.indexOf(CLASS + '__decide') >= 0) {
        request('POST', '/violations/' + ref + '/decide', { withdraw: target.getAttribute('data-withdraw') === '1' })
          .done(function (r) {
            say(r.text);
            load();
          })
          .fail(function (xhr) {
            say((xhr && xhr.responseJSON && xhr.responseJSON.error && xhr.responseJSON.error.message) || t('failed'));
          });
      }
    }

    this.callbacks = {
      render: function () {
        self.render_template({
          caption: { class_name: CLASS },
          body: '',
          render:
            '<div class="' +
            CLASS +
            '"><div class="' +
            CLASS +
            '__title">' +
            esc(t('title')) +
            '</div><div class="' +
            CLASS +
            '__body">' +
            esc(t('loading')) +
            '</div></div>',
        });
        return true;
      },
      init: function () {
        return true;
      },
      bind_actions: function () {
        document.addEventListener('click', onClick);
        load();
        if (timer) clearInterval(timer);
        timer = setInterval(countdown, 1000);
        return true;
      },
      settings: function () {
        return true;
      },
      onSave: function () {
        return true;
      },
      destroy: function () {
        if (timer) clearInterval(timer);
        document.removeEventListener('click', onClick);
      },
    };
    return this;
  };
});
