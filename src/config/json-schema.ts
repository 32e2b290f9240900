/** The JSON Schemas of the rules file and the holiday calendar, from the zod schemas the service validates with. */
import { z } from 'zod';
import { CalendarSchema, RulesConfigSchema } from './schema.js';

export function rulesJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(RulesConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'amo-discipline rules',
  };
}

export function calendarJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(CalendarSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'amo-discipline holiday calendar',
  };
}
