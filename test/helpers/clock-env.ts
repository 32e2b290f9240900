/**
 * The environment that sets a process's clock, for child processes a test starts with a clean environment: under
 * `faketime` (the shifted-clock runs of `.ci/run`) the child keeps the parent's date, so what the test wrote "two
 * days ago" is two days ago for the child too.
 */
const CLOCK_VARS = [
  'TZ',
  'LD_PRELOAD',
  'FAKETIME',
  'FAKETIME_NO_CACHE',
  'FAKETIME_DONT_FAKE_MONOTONIC',
  'FAKETIME_DONT_RESET',
  'DONT_FAKE_MONOTONIC',
  'FAKETIME_SHARED',
];

export function clockEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CLOCK_VARS) {
    const value = process.env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
