/** Writes the JSON Schemas of the rules file and the holiday calendar (editor autocompletion). `npm run rules:schema` */
import { writeFileSync } from 'node:fs';
import { calendarJsonSchema, rulesJsonSchema } from '../config/json-schema.js';

export { calendarJsonSchema, rulesJsonSchema };

const write = (file: string, schema: Record<string, unknown>): void =>
  writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);

if (process.argv[1]?.endsWith('rules-schema.ts') || process.argv[1]?.endsWith('rules-schema.js')) {
  write('config/rules.schema.json', rulesJsonSchema());
  write('config/calendar.schema.json', calendarJsonSchema());
  console.log('wrote config/rules.schema.json and config/calendar.schema.json');
}
