#!/usr/bin/env bash
# The README's test command (`npm test`): installs, then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

export TURBO_TELEMETRY_DISABLED=1
# better-sqlite3 compiles from source here; node-gyp finds Node's headers only through this variable.
if [ -z "${npm_config_nodedir:-}" ] && [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi

pnpm() { npx -y pnpm@12.4.2 "$@"; }

echo "== install (frozen lockfile)"
pnpm install --frozen-lockfile --reporter=append-only

covenant() { node packages/cli/bin/covenant.mjs "$@"; }

echo "== covenant gen --check (this repository's contracts, and the test fixture's)"
covenant gen --check
covenant gen --check --contracts apps/helpdesk/test/fixtures/contracts --out apps/helpdesk/test/fixtures/generated

echo "== covenant lint (this repository's contracts: a public procedure needs a sanction here too)"
covenant lint
covenant lint --contracts apps/helpdesk/test/fixtures/contracts --sanctions apps/helpdesk/test/fixtures/sanctions.json \
  --generated apps/helpdesk/test/fixtures/generated

echo "== type-check"
pnpm exec tsc --noEmit -p .

echo "== build (every public package to dist/: ESM and .d.ts)"
pnpm exec turbo run build --output-logs=errors-only

echo "== packages (the rules of ADR 0015; publint and attw on each pnpm pack tarball)"
node scripts/check-packages.mjs

echo "== tests"
pnpm exec vitest run
