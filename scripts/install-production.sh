#!/usr/bin/env sh
# The production install, shared by the image (Dockerfile) and CI's check of it: the lock file's runtime dependencies
# only. npm installs an optional peer of a runtime package when the project also lists it as a dev dependency
# (npm/cli#7772): bull-board's valibot names TypeScript as an optional peer for its types, so TypeScript, which nothing
# needs at run time, is removed after the install.
set -eu
cd "${1:-.}"
npm ci --omit=dev --no-audit --no-fund
rm -rf node_modules/typescript node_modules/.bin/tsc node_modules/.bin/tsserver
