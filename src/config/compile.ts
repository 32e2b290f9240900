/**
 * Compiles a validated rules config against the amoCRM account: names → ids, durations → ms, schedules →
 * minute spans. Pure. A name that does not resolve (a renamed stage, a deactivated manager) is a warning listing
 * the names that do exist, and only the part of the config that needs it is disabled (that manager, that
 * department, that rule): the service keeps running on the rest, and an admin sees what to fix.
 */
import { compileDisputes } from '../rules/disputes/config.js';
import { ms } from '../rules/duration.js';
import { RULE_CODES } from '../rules/registry.js';
import { resolveGroup, resolvePipeline, resolveUser, type AccountDirectory } from '../rules/directory.js';
import { compileCadences } from '../rules/cadence/config.js';
import { compileRouting } from '../rules/distribution/config.js';
import { compilePickup } from '../rules/pickup/config.js';
import { compileReports } from '../rules/reports/config.js';
import { parseShift } from '../rules/schedule/config.js';
import { compileStageRules } from '../rules/stage-rules/registry.js';
import type {
  Calendar,
  CompiledDepartment,
  CompiledManager,
  CompiledRules,
  CompiledTelegram,
  Schedule,
  ShiftSpan,
} from '../rules/types.js';
import {
  TelegramRulesSchema,
  type CalendarConfig,
  type RulesConfig,
  type ScheduleConfig,
  type TelegramRulesConfig,
} from './schema.js';

export interface ConfigError {
  path: string;
  message: string;
}

/** A name that no longer resolves, and the part of the config switched off because of it. */
export interface ConfigWarning extends ConfigError {
  disabled: string;
}

/**
 * Names never fail a compilation: they degrade per part with warnings. `ok: false` is kept for structural
 * errors callers may add on top (a draft that does not validate).
 */
export type Compiled =
  { ok: true; rules: CompiledRules; warnings: ConfigWarning[] } | { ok: false; errors: ConfigError[] };

/** Rules running in shadow mode: evaluated and recorded, but their plans make no amoCRM writes. */
export function isShadow(rules: Pick<CompiledRules, 'shadowRules'>, rule: string): boolean {
  return rules.shadowRules?.has(rule) ?? false;
}

export { RULE_CODES } from '../rules/registry.js';
export { compileCadences } from '../rules/cadence/config.js';
export { parseShift } from '../rules/schedule/config.js';

/** `shadow: true` on any rule block of the config (pickup, and any rule added later with the same flag): names and codes. */
export function shadowRulesOf(config: Pick<RulesConfig, 'rules'>): Set<string> {
  return new Set(
    Object.entries(config.rules)
      .filter(
        ([, block]) => typeof block === 'object' && block !== null && (block as { shadow?: unknown }).shadow === true,
      )
      .flatMap(([name]) => (RULE_CODES[name] !== undefined ? [name, RULE_CODES[name]] : [name])),
  );
}

export function compileSchedule(s: ScheduleConfig): Schedule {
  switch (s.kind) {
    case 'always':
      return { kind: 'always' };
    case 'weekly':
      return {
        kind: 'weekly',
        followHolidays: s.followHolidays,
        days: Object.fromEntries(Object.entries(s.days).map(([day, shifts]) => [day, (shifts ?? []).map(parseShift)])),
      };
    case 'cycle': {
      const [on = 1, off = 1] = s.pattern.split('/').map(Number);
      return { kind: 'cycle', on, off, anchor: s.anchor, shifts: s.shifts.map(parseShift) };
    }
  }
}

export function compileCalendar(c: CalendarConfig): Calendar {
  const years = Object.values(c.years);
  return { nonWorking: new Set(years.flatMap((y) => y.nonWorking)), working: new Set(years.flatMap((y) => y.working)) };
}

/**
 * The `telegram` section: a `chats` key is a chat id (digits, maybe with a minus), a department name, or a manager's
 * amoCRM name; anything else is an error naming what it can be.
 */
export function compileTelegram(
  config: TelegramRulesConfig | undefined,
  departments: string[],
  dir: AccountDirectory | undefined,
  errors: ConfigError[] = [],
): CompiledTelegram {
  const t = config ?? TelegramRulesSchema.parse({});
  const quiet = (q: string): ShiftSpan | null => (q === 'off' ? null : parseShift(q));
  const byChat = new Map<string, ShiftSpan | null>();
  const byDepartment = new Map<string, ShiftSpan | null>();
  const byUser = new Map<number, ShiftSpan | null>();
  for (const [key, value] of Object.entries(t.chats)) {
    if (/^-?\d+$/.test(key)) byChat.set(key, quiet(value.quietHours));
    else if (departments.includes(key)) byDepartment.set(key, quiet(value.quietHours));
    else if (dir) {
      const r = resolveUser(dir, key);
      if (r.ok) byUser.set(r.value.id, quiet(value.quietHours));
      else
        errors.push({
          path: `telegram.chats.${key}`,
          message: `not a chat id, a department (${departments.join(', ')}) or a user: ${r.error}`,
        });
    }
  }
  const defaultQuiet = quiet(t.quietHours);
  return {
    ...(defaultQuiet ? { quietHours: defaultQuiet } : {}),
    quietByChat: byChat,
    quietByDepartment: byDepartment,
    quietByUserId: byUser,
    alertWindowMs: ms(t.alertWindow),
    burstThreshold: t.burstThreshold,
    escalateAfterMs: ms(t.escalateAfter),
    escalateAtOnce: new Set(t.escalateAtOnce),
    silentTemplates: new Set(t.silentTemplates),
    linkCodeTtlMs: ms(t.linkCodeTtl),
    sweepIntervalMs: ms(t.sweepInterval),
    ...(t.operatorChat ? { operatorChat: t.operatorChat } : {}),
  };
}

export function compileRules(config: RulesConfig, calendar: Calendar, dir: AccountDirectory): Compiled {
  const warnings: ConfigWarning[] = [];
  const user = (path: string, name: string, disabled: string): number | undefined => {
    const r = resolveUser(dir, name);
    if (r.ok) return r.value.id;
    warnings.push({ path, message: r.error, disabled });
    return undefined;
  };

  const departments: CompiledDepartment[] = [];
  config.departments.forEach((d, i) => {
    const at = `departments[${i}]`;
    const head = user(`${at}.head`, d.head, `department "${d.name}" (nobody to hand its missed leads to)`);
    const fallback =
      d.fallback !== undefined
        ? (user(`${at}.fallback`, d.fallback, `fallback of "${d.name}" (its head gets the leads instead)`) ?? head)
        : head;
    const pipelineIds = d.pipelines.flatMap((name, j) => {
      const r = resolvePipeline(dir, name);
      if (r.ok) return [r.value.id];
      warnings.push({
        path: `${at}.pipelines[${j}]`,
        message: r.error,
        disabled: `pipeline "${name}" of department "${d.name}"`,
      });
      return [];
    });
    const managers: CompiledManager[] = [];
    const listed = new Set<number>();
    d.managers.forEach((m, j) => {
      const id = user(`${at}.managers[${j}].user`, m.user, `manager "${m.user}" (gets no leads)`);
      if (id === undefined) return;
      listed.add(id);
      managers.push({
        userId: id,
        name: dir.users.find((u) => u.id === id)?.name ?? m.user,
        weight: m.weight,
        cap: m.cap,
        schedule: compileSchedule(m.schedule ?? d.schedule),
        absences: m.absences.map((a) => ({
          from: a.from,
          to: a.to,
          ...(a.reason !== undefined ? { reason: a.reason } : {}),
        })),
        ...(m.paused ? { paused: m.paused.reason } : {}),
      });
    });
    if (d.group !== undefined) {
      const g = resolveGroup(dir, d.group);
      if (!g.ok)
        warnings.push({
          path: `${at}.group`,
          message: g.error,
          disabled: `the group's members as managers of "${d.name}"`,
        });
      else {
        // Group members not listed are managers with the department's defaults; the РОП and fallback are not.
        for (const u of dir.users) {
          if (u.groupId !== g.value.id || listed.has(u.id) || u.id === head || u.id === fallback || u.isAdmin) continue;
          managers.push({
            userId: u.id,
            name: u.name,
            weight: 1,
            cap: 10,
            schedule: compileSchedule(d.schedule),
            absences: [],
          });
        }
      }
    }
    if (managers.length === 0) {
      warnings.push({
        path: `${at}.managers`,
        message: 'the department has no managers: list them under "managers" or name its amoCRM user "group"',
        disabled: `distribution in "${d.name}" (its leads go to the fallback user)`,
      });
    }
    if (head !== undefined && fallback !== undefined) {
      departments.push({
        name: d.name,
        headUserId: head,
        fallbackUserId: fallback,
        pipelineIds,
        managers,
        ...(d.telegramChat !== undefined ? { telegramChat: d.telegramChat } : {}),
        ...(d.paused ? { paused: d.paused.reason } : {}),
      });
    }
  });

  const pickup = compilePickup(config.rules.pickup, dir, user, (w) => warnings.push(w));

  // A stage rule whose stage no longer resolves is switched off alone; the service and the other rules go on.
  const stageRules = config.stageRules
    ? compileStageRules(config.stageRules, dir, (path, message) =>
        warnings.push({ path, message, disabled: `the stage rule at ${path}` }),
      )
    : undefined;
  // A cadence binding whose stages no longer resolve disables only that binding.
  const cadenceErrors: ConfigError[] = [];
  const cadences = compileCadences(config.cadences, dir, cadenceErrors);
  for (const e of cadenceErrors) warnings.push({ ...e, disabled: `the cadence binding at ${e.path}` });
  // Names in the Telegram and reports sections that no longer resolve disable only what they name.
  const telegramErrors: ConfigError[] = [];
  const telegram = compileTelegram(
    config.telegram,
    config.departments.map((d) => d.name),
    dir,
    telegramErrors,
  );
  for (const e of telegramErrors) warnings.push({ ...e, disabled: `the Telegram setting at ${e.path}` });
  const reportErrors: ConfigError[] = [];
  const reports = compileReports(config.rules.reports, dir, departments, reportErrors);
  for (const e of reportErrors) warnings.push({ ...e, disabled: `the report milestone or source at ${e.path}` });

  return {
    ok: true,
    warnings,
    rules: {
      shadowRules: shadowRulesOf(config),
      timeZone: config.timeZone ?? dir.timeZone,
      calendar,
      departments,
      pickup,
      ...(stageRules ? { stageRules } : {}),
      ...(config.routing ? { routing: compileRouting(config.routing) } : {}),
      cadences,
      userNames: new Map(dir.users.map((u) => [u.id, u.name])),
      activeUserIds: new Set(dir.users.filter((u) => u.isActive).map((u) => u.id)),
      telegram,
      disputes: compileDisputes(config.disputes),
      reports,
    },
  };
}
