#!/usr/bin/env bash
# Runs the date-sensitive tests again with the process clock moved to other dates (Debian's `faketime`, i.e.
# libfaketime preloaded into Node): a month and year boundary in Moscow, a leap day, and a day inside the last
# year of the shipped production calendar. Redis keeps real time: give REDIS_URL of a server started outside
# faketime (the test setup starts one with the real clock when none answers). Usage: npm run test:dates
set -euo pipefail
cd "$(dirname "$0")/.."

command -v faketime >/dev/null 2>&1 || { echo "test:dates needs faketime: apt-get install faketime" >&2; exit 2; }

# The last year of the shipped production calendar, and 30 December of it (10:00 in Moscow).
last_year=$(node --input-type=module -e '
  import { readFileSync, readdirSync } from "node:fs";
  import { parse } from "yaml";
  const years = readdirSync("config/calendars").filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => Object.keys(parse(readFileSync(`config/calendars/${f}`, "utf8")).years ?? {}).map(Number));
  console.log(Math.max(...years));')
dates=(
  "2026-12-31 21:05:00" # 2027-01-01 00:05 in Moscow: a new month, quarter and year
  "2028-02-29 09:00:00" # a leap day, 12:00 in Moscow
  "${last_year}-12-30 07:00:00" # inside the last period of config/calendars
)
# Reports, ranking, digests, cadences, stage rules, the calendar and the Telegram working day.
tests=(
  test/unit/rules test/unit/reports test/unit/config test/unit/telegram/hygiene.test.ts
  test/integration/reports.test.ts test/integration/reports-schedule.test.ts test/integration/telegram-ranking.test.ts
  test/integration/late-records.test.ts test/integration/record-store.test.ts
  test/integration/cadence.test.ts test/integration/cadence-in-flight.test.ts test/integration/cadence-amo-seconds.test.ts
  test/integration/meeting-confirmations.test.ts test/integration/telegram-working-day.test.ts
  test/integration/telegram-delivery.test.ts test/integration/admin/rules-preview.test.ts
  test/e2e/stage-rules.e2e.test.ts test/e2e/stage-rules-sweep.e2e.test.ts
)

status=0
for at in "${dates[@]}"; do
  # The shift must take: a run that silently kept today's date would prove nothing.
  seen=$(TZ=UTC faketime "$at" node -e 'console.log(new Date().toISOString().slice(0, 16).replace("T", " "))')
  if [ "$seen" != "${at:0:16}" ]; then
    echo "test:dates: faketime did not move Node's clock to $at (Node saw $seen)" >&2
    exit 2
  fi
  echo "test:dates: process clock at $at UTC"
  TZ=UTC faketime "$at" npm test -- "${tests[@]}" || status=$?
done
exit "$status"
