/**
 * `npm run rules:check [file] [--directory account.json]`: validates a rules file and its calendar, printing
 * every error with its path. With --directory (an AccountDirectory JSON, e.g. saved from the account), it also
 * resolves every stage and user name. Exit code 1 on errors.
 */
import { readFileSync } from 'node:fs';
import { compileRules } from '../config/compile.js';
import { loadRulesFile } from '../config/load.js';
import type { AccountDirectory } from '../rules/directory.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const dirAt = args.indexOf('--directory');
  const directoryFile = dirAt >= 0 ? args[dirAt + 1] : undefined;
  const file = args.find((a, i) => !a.startsWith('--') && (dirAt < 0 || i !== dirAt + 1)) ?? 'config/rules.yaml';
  const loaded = await loadRulesFile(file);
  if (!loaded.ok) {
    console.error(`${file}: ${loaded.errors.length} error(s)`);
    for (const e of loaded.errors) console.error(`  ${e.path}: ${e.message}`);
    return 1;
  }
  const { config } = loaded;
  if (directoryFile !== undefined) {
    const dir = JSON.parse(readFileSync(directoryFile, 'utf8')) as AccountDirectory;
    const compiled = compileRules(config, loaded.calendar, dir);
    const problems = compiled.ok
      ? compiled.warnings
      : compiled.errors.map((e) => ({ ...e, disabled: 'the whole config' }));
    if (problems.length > 0) {
      // The service would run with these parts switched off; a check before applying treats that as a failure.
      console.error(`${file}: ${problems.length} name(s) do not resolve against ${directoryFile}`);
      for (const e of problems) console.error(`  ${e.path}: ${e.message} (disabled: ${e.disabled})`);
      return 1;
    }
  }
  const managers = config.departments.reduce((n, d) => n + d.managers.length, 0);
  const p = config.rules.pickup;
  console.log(
    `${file}: OK — ${config.departments.length} department(s), ${managers} listed manager(s); pickup ${p.enabled ? 'on' : 'off'} in "${p.pipeline}" / "${p.stage}", ${p.timeout}, ${p.maxMisses} misses, ${p.strategy}`,
  );
  const on = config.cadences.bindings.filter((b) => b.enabled);
  console.log(
    `  cadences: ${Object.keys(config.cadences.profiles).length} profile(s) (${Object.keys(config.cadences.profiles).join(', ') || 'none'}); on: ${on.map((b) => `${b.profile} in "${b.pipeline}" / "${b.stage}"`).join(', ') || 'none'}`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
