#!/usr/bin/env bash
# Checks the production install the image makes (scripts/install-production.sh): the compiled service starts from
# runtime dependencies only (every static import resolves; it stops at the environment check, exit 78), and nothing
# that only builds or tests the project is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
npm run build >/dev/null
cp package.json package-lock.json "$dir"/
sh scripts/install-production.sh "$dir" >/dev/null
cp -r dist config "$dir"/
status=0
for dev in typescript jest eslint tsx prettier nock playwright-core autocannon; do
  if [ -e "$dir/node_modules/$dev" ]; then
    echo "production install: $dev is installed but only builds or tests the project"
    status=1
  fi
done
set +e
out=$(cd "$dir" && env -i PATH="$PATH" node dist/src/main.js 2>&1)
rc=$?
set -e
if [ "$rc" -ne 78 ] || ! grep -q '^Invalid environment:' <<<"$out"; then
  echo "production install: the service did not reach its environment check (exit $rc):"
  echo "$out"
  status=1
fi
echo "production install: $(du -sm "$dir/node_modules" | cut -f1) MB, $(ls "$dir/node_modules" | wc -l) top-level entries; starts to its environment check"
exit "$status"
