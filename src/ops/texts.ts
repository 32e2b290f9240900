/**
 * What the on-call chat reads (Russian), from the readiness checks and the incidents the robot meets. Every number
 * comes from the check that found it (its limits are the ones in force); the technical reason goes in as it was
 * logged, so the message and the log line can be matched.
 */
import { DateTime } from 'luxon';
import type { ReadinessCheck } from '../http/routes/health.js';
import { ruDuration } from '../lib/ru-duration.js';
import { escapeHtml } from '../telegram/html.js';

export interface IncidentText {
  /** What the incident is about now: the message is edited when this changes, not when a counter ticks. */
  signature: string;
  html: string;
}

const detail = (reason: unknown): string =>
  typeof reason === 'string' && reason ? `\nПодробности: <code>${escapeHtml(reason)}</code>` : '';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The message for a degraded readiness check, or undefined for a check the chat is not told about. */
export function checkIncident(check: ReadinessCheck): IncidentText | undefined {
  switch (check.name) {
    case 'amocrm': {
      const state = String(check.state ?? '');
      const head =
        state === 'auth_revoked'
          ? '🔴 <b>Доступ к amoCRM отозван</b>\nТокен интеграции больше не принимается: робот ничего не читает и не пишет в amoCRM. Установите интеграцию заново (страница /oauth/install сервиса).'
          : state === 'backoff'
            ? '🟠 <b>amoCRM ограничил запросы робота</b>\nРобот выждет паузу и продолжит сам; таймеры и задачи будут сделаны с опозданием.'
            : '🔴 <b>amoCRM не отвечает</b>\nРобот не может читать и менять сделки; работа ждёт и будет сделана, когда amoCRM ответит.';
      return { signature: `amocrm:${state}`, html: head + detail(check.reason) };
    }
    case 'timers': {
      const lag = num(check.lagSeconds) ?? 0;
      return {
        signature: 'timers',
        html: `🟠 <b>Таймеры робота запаздывают</b>\nСамый старый ждёт ${escapeHtml(ruDuration(lag * 1000))}: взятие в работу и каденции срабатывают позже, чем настроено. Проверьте, что процесс worker запущен и успевает.${detail(check.reason)}`,
      };
    }
    case 'webhooks':
      return {
        signature: 'webhooks',
        html: `🟠 <b>Нет вебхуков от amoCRM</b>\nВ рабочее время давно не было ни одного события: amoCRM мог отключить вебхук или перестать достучаться до сервиса.${detail(check.reason)}`,
      };
    case 'rules': {
      const warnings = Array.isArray(check.warnings) ? (check.warnings as Array<Record<string, unknown>>) : [];
      const lines = warnings
        .slice(0, 10)
        .map((w) => `• <code>${escapeHtml(String(w.path))}</code>: ${escapeHtml(String(w.message))}`);
      const more = warnings.length > 10 ? `\n… и ещё ${warnings.length - 10}` : '';
      return {
        signature: `rules:${warnings.map((w) => String(w.path)).join(',')}`,
        html: `🟠 <b>Часть правил отключена</b>\nИмена из конфигурации не найдены в amoCRM (переименованы или удалены), и то, что от них зависит, не работает:\n${lines.join('\n')}${more}\nИсправьте их на странице администратора.`,
      };
    }
    case 'dead_letters': {
      const count = num(check.recent) ?? 0;
      return {
        signature: `dead_letters:${count}`,
        html: `🟠 <b>Действия робота не выполнены</b>\nЗа последний час в очередь неразобранных попало: ${count}. amoCRM отказал в записи или вебхук не разобран; записи видны в /admin/api/dead-letters и в <code>npm run lead:explain</code>.${detail(check.reason)}`,
      };
    }
    default:
      return check.reason
        ? { signature: check.name, html: `🟠 <b>${escapeHtml(check.name)}</b>${detail(check.reason)}` }
        : undefined;
  }
}

/** What the resolved message says ended, by check. */
export const RESOLVED_NOTES: Readonly<Record<string, string>> = {
  amocrm: 'amoCRM снова отвечает',
  timers: 'таймеры снова срабатывают вовремя',
  webhooks: 'вебхуки снова приходят',
  rules: 'все имена из конфигурации снова находятся в amoCRM',
  dead_letters: 'за последний час новых нет',
};

export const WEBHOOK_DISABLED: IncidentText = {
  signature: 'webhook_disabled',
  html: '🔴 <b>amoCRM отключил вебхук сервиса</b>\nПосле ошибок доставки amoCRM перестал присылать события. Робот регистрирует вебхук заново; доставки, что не дошли, потеряны, их наверстают проверки по расписанию.',
};

export const WEBHOOK_RE_ENABLED_NOTE = 'вебхук зарегистрирован заново';

/** The incident's message once it ended: when, how long, and what it said. */
export function resolvedHtml(html: string, at: { openedAt: number; at: number; note: string; zone: string }): string {
  const time = (ms: number): string => DateTime.fromMillis(ms, { zone: at.zone }).toFormat('dd.MM HH:mm');
  const lasted = Math.max(0, at.at - at.openedAt);
  const note = at.note ? `: ${escapeHtml(at.note)}` : '';
  return `✅ <b>Решено</b> ${time(at.at)}${note} (длилось ${escapeHtml(ruDuration(Math.max(lasted, 1000)))}, с ${time(at.openedAt)})\n\n<s>${stripTags(html)}</s>`;
}

/** Telegram allows nesting, but a struck-through copy reads better flat. */
const stripTags = (html: string): string => html.replace(/<[^>]+>/g, '');
