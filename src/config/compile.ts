/**
 * Compiles a validated rules config against the amoCRM account: names → ids, durations → ms, schedules →
 * minute spans. Pure. Every name that does not resolve is an error listing the names that do exist, so an
 * admin's typo stops the start with an answer instead of a silent rule that never fires.
 */
import { Duration } from 'luxon';
import { resolveGroup, resolvePipeline, resolveStatus, resolveUser } from '../amocrm/api/directory.js';
import type { AccountDirectory } from '../rules/directory.js';
import { compileStageRules } from '../rules/stage-rules/config.js';
import type { Calendar, CompiledDepartment, CompiledManager, CompiledRules, CompiledTelegram, Schedule, ShiftSpan } from '../rules/types.js';
import { TelegramRulesSchema, type CalendarConfig, type RulesConfig, type ScheduleConfig, type TelegramRulesConfig } from './schema.js';

export interface ConfigError {
  path: string;
  message: string;
}

export type Compiled = { ok: true; rules: CompiledRules } | { ok: false; errors: ConfigError[] };

export function parseShift(text: string): ShiftSpan {
  const [a = '00:00', b = '00:00'] = text.split('-');
  const minutes = (t: string): number => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  const start = minutes(a);
  let end = minutes(b);
  if (end <= start) end += 1440; // overnight shift
  return { startMin: start, endMin: end };
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

const ms = (iso: string): number => Duration.fromISO(iso).toMillis();

/**
 * The `telegram` section: a `chats` key is a chat id (digits, maybe with a minus), a department name, or a manager's
 * amoCRM name; anything else is an error naming what it can be.
 */
export function compileTelegram(config: TelegramRulesConfig | undefined, departments: string[], dir: AccountDirectory | undefined, errors: ConfigError[] = []): CompiledTelegram {
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
      else errors.push({ path: `telegram.chats.${key}`, message: `not a chat id, a department (${departments.join(', ')}) or a user: ${r.error}` });
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
  };
}

export function compileRules(config: RulesConfig, calendar: Calendar, dir: AccountDirectory): Compiled {
  const errors: ConfigError[] = [];
  const user = (path: string, name: string): number | undefined => {
    const r = resolveUser(dir, name);
    if (r.ok) return r.value.id;
    errors.push({ path, message: r.error });
    return undefined;
  };

  const departments: CompiledDepartment[] = [];
  config.departments.forEach((d, i) => {
    const at = `departments[${i}]`;
    const head = user(`${at}.head`, d.head);
    const fallback = d.fallback !== undefined ? user(`${at}.fallback`, d.fallback) : head;
    const pipelineIds = d.pipelines.flatMap((name, j) => {
      const r = resolvePipeline(dir, name);
      if (r.ok) return [r.value.id];
      errors.push({ path: `${at}.pipelines[${j}]`, message: r.error });
      return [];
    });
    const managers: CompiledManager[] = [];
    const listed = new Set<number>();
    d.managers.forEach((m, j) => {
      const id = user(`${at}.managers[${j}].user`, m.user);
      if (id === undefined) return;
      listed.add(id);
      managers.push({
        userId: id,
        name: dir.users.find((u) => u.id === id)?.name ?? m.user,
        weight: m.weight,
        cap: m.cap,
        schedule: compileSchedule(m.schedule ?? d.schedule),
        absences: m.absences.map((a) => ({ from: a.from, to: a.to, ...(a.reason !== undefined ? { reason: a.reason } : {}) })),
        ...(m.paused ? { paused: m.paused.reason } : {}),
      });
    });
    if (d.group !== undefined) {
      const g = resolveGroup(dir, d.group);
      if (!g.ok) errors.push({ path: `${at}.group`, message: g.error });
      else {
        // Group members not listed are managers with the department's defaults; the РОП and fallback are not.
        for (const u of dir.users) {
          if (u.groupId !== g.value.id || listed.has(u.id) || u.id === head || u.id === fallback || u.isAdmin) continue;
          managers.push({ userId: u.id, name: u.name, weight: 1, cap: 10, schedule: compileSchedule(d.schedule), absences: [] });
        }
      }
    }
    if (managers.length === 0) errors.push({ path: `${at}.managers`, message: 'the department has no managers: list them under "managers" or name its amoCRM user "group"' });
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

  const p = config.rules.pickup;
  const stage = resolveStatus(dir, p.pipeline, p.stage);
  if (!stage.ok) errors.push({ path: 'rules.pickup.stage', message: stage.error });
  const robots = new Set<number>([0]);
  if (dir.currentUserId !== undefined) robots.add(dir.currentUserId);
  p.robotUsers.forEach((name, i) => {
    const id = user(`rules.pickup.robotUsers[${i}]`, name);
    if (id !== undefined) robots.add(id);
  });

  const stageRules = config.stageRules ? compileStageRules(config.stageRules, dir, (path, message) => errors.push({ path, message })) : undefined;
  const telegram = compileTelegram(config.telegram, config.departments.map((d) => d.name), dir, errors);

  if (errors.length > 0 || !stage.ok) return { ok: false, errors };
  return {
    ok: true,
    rules: {
      timeZone: config.timeZone ?? dir.timeZone,
      calendar,
      departments,
      pickup: {
        enabled: p.enabled,
        pipelineId: stage.value.pipelineId,
        statusId: stage.value.statusId,
        stageName: p.stage,
        timeoutMs: ms(p.timeout),
        maxMisses: p.maxMisses,
        takenBy: new Set(p.takenBy),
        stageMoveRequiresCall: p.stageMoveRequiresCall,
        clockRunsOnlyOnShift: p.clockRunsOnlyOnShift,
        pinTag: p.pinTag,
        strategy: p.strategy,
        robotUserIds: robots,
        batchWindowMs: ms(p.batchWindow),
        sweepIntervalMs: ms(p.sweepInterval),
      },
      ...(stageRules ? { stageRules } : {}),
      ...(config.routing
        ? {
            routing: {
              returningClient: config.routing.returningClient,
              ...(config.routing.listingOwnerFieldId !== undefined ? { listingOwnerFieldId: config.routing.listingOwnerFieldId } : {}),
              ...(config.routing.listingOwnerTagPrefix !== undefined ? { listingOwnerTagPrefix: config.routing.listingOwnerTagPrefix } : {}),
            },
          }
        : {}),
      userNames: new Map(dir.users.map((u) => [u.id, u.name])),
      activeUserIds: new Set(dir.users.filter((u) => u.isActive).map((u) => u.id)),
      telegram,
    },
  };
}
