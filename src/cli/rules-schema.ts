/** Writes the JSON Schemas of the rules file and the holiday calendar (editor autocompletion). `npm run rules:schema` */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { CalendarSchema, RulesConfigSchema } from '../config/schema.js';

export function rulesJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(RulesConfigSchema, { io: 'input', unrepresentable: 'any' }), title: 'amo-discipline rules' };
}

export function calendarJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(CalendarSchema, { io: 'input', unrepresentable: 'any' }), title: 'amo-discipline holiday calendar' };
}

const write = (file: string, schema: Record<string, unknown>): void => writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);

if (process.argv[1]?.endsWith('rules-schema.ts') || process.argv[1]?.endsWith('rules-schema.js')) {
  write('config/rules.schema.json', rulesJsonSchema());
  write('config/calendar.schema.json', calendarJsonSchema());
  console.log('wrote config/rules.schema.json and config/calendar.schema.json');
}
