/**
 * The bot people talk to: linking by a one-time deep link (`/start <code>`), the inline buttons under alerts
 * ("Взял в работу", "Переназначить", "Приостановить приём заявок" / "Возобновить") and the commands `/today`,
 * `/violations`, `/report`. Only linked users and the departments' configured chats get answers; anyone else gets
 * one polite refusal. Every button acts through the injected rule interfaces and is recorded with who pressed it.
 */
import type { Bot } from 'grammy';
import type { CompiledRules } from '../rules/types.js';
import type { RecordStore } from '../store/record-store.js';
import { installCommands } from './bot/commands.js';
import { createBotContext } from './bot/context.js';
import { installDisputes } from './bot/disputes.js';
import { installLeadButtons } from './bot/lead-buttons.js';
import { installRankingButtons } from './bot/ranking-buttons.js';
import type { BotDeps, ReportsPort } from './bot/types.js';
import { escapeHtml } from './html.js';
import { botText } from './templates/index.js';

export * from './bot/types.js';

export function installBot(deps: BotDeps): Bot {
  const c = createBotContext(deps);
  installCommands(c);
  installLeadButtons(c);
  installRankingButtons(c);
  // Last: its message handler answers whatever the commands did not.
  installDisputes(c);
  const { bot, log } = c;
  bot.catch((err) =>
    log.error({ err: { message: err.message }, update: err.ctx.update.update_id }, 'telegram: update handling failed'),
  );
  return bot;
}

/** The `/report` stand-in when no reports module is wired: counts per manager from the record. */
export function recordReports(deps: { records: RecordStore; rules: () => CompiledRules | undefined }): ReportsPort {
  return {
    async report({ department, from, to }) {
      const rules = deps.rules();
      const dept = rules?.departments.find((d) => d.name === department);
      const managers = dept
        ? dept.managers.map((m) => m.userId)
        : [...new Set((rules?.departments ?? []).flatMap((d) => d.managers.map((m) => m.userId)))];
      const records = await deps.records.range(from.toISOString(), to.toISOString());
      const row = (userId: number): string => {
        const rs = records.filter((r) => r.userId === userId);
        const received = rs.filter((r) => r.kind === 'assignment' || r.kind === 'reassignment').length;
        const taken = rs.filter((r) => r.kind === 'pickup_taken').length;
        const missed = rs.filter((r) => r.kind === 'violation' && r.type === 'pickup_missed').length;
        const violations = rs.filter((r) => r.kind === 'violation').length;
        return `• ${escapeHtml(rules?.userNames.get(userId) ?? String(userId))}: получено ${received}, взято ${taken}, пропущено ${missed}, нарушений ${violations}`;
      };
      return [botText.reportHeader(department ?? 'все отделы'), ...managers.map(row)].join('\n');
    },
  };
}
