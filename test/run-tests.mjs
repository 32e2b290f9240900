// `npm test`: Jest with most test files in parallel workers (every file has its own Redis key prefix), then, one at a
// time, the few files whose assertions measure timing inside one process (amoCRM's 7 requests per sliding second
// counted by an in-process server, Telegram's per-chat spacing): beside other workers on a 2-core machine their own
// event loop lags and bunches what they count. Arguments are Jest's: paths narrow the run, flags go to both runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const SERIAL = [
  'test/integration/amocrm-rate-limit.test.ts',
  'test/integration/telegram-working-day.test.ts',
  'test/e2e/pickup.e2e.test.ts',
  'test/e2e/oauth.e2e.test.ts',
  'test/e2e/stage-rules-sweep.e2e.test.ts',
  'test/sim/simulator.test.ts',
];
const WORKERS = 3;

const args = process.argv.slice(2);
const isPath = (a) => !a.startsWith('-') && existsSync(a);
const flags = args.filter((a) => !isPath(a));
const listed = spawnSync('npx', ['jest', '--listTests', '--json', ...args], { encoding: 'utf8' });
if (listed.status !== 0) {
  process.stderr.write(listed.stderr);
  process.exit(listed.status ?? 1);
}
const files = JSON.parse(listed.stdout.slice(listed.stdout.indexOf('[')));
const serial = files.filter((f) => SERIAL.some((s) => f.endsWith(s)));
const parallel = files.filter((f) => !serial.includes(f));

const jest = (extra, list) =>
  list.length === 0
    ? 0
    : (spawnSync('npx', ['jest', ...extra, ...flags, '--runTestsByPath', ...list], { stdio: 'inherit' }).status ?? 1);

const first = jest([`--maxWorkers=${WORKERS}`], parallel);
const second = jest(['--runInBand'], serial);
process.exit(first !== 0 ? first : second);
