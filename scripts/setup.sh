#!/bin/sh
# One-time set-up for a fresh clone, run by `npm test` and `npm run demo` before anything else:
# installs the pinned toolchains (deno, supabase CLI) and libraries from npm into node_modules.
# Debian packages (PostgreSQL 15, pg_cron, pgTAP, plpgsql_check, pg_prove) are installed by the
# local stack itself (`deno task stack up`) when run as root.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ] \
  || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing pinned toolchains and libraries from npm" >&2
  # `npm ci`: installs exactly the committed lock and never rewrites it, so a fresh clone stays
  # clean. The lock lists the binary packages of deno and supabase for every platform (npm
  # installs only this platform's); `npm install` would add the missing ones to the lock.
  npm ci --no-audit --no-fund --loglevel=error
fi
