#!/usr/bin/env bash
# The README's `npm start`: installs, regenerates from the contracts, then serves on 127.0.0.1:3000.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${npm_config_nodedir:-}" ] && [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
npx -y pnpm@12.4.2 install --frozen-lockfile --reporter=silent
node packages/cli/bin/covenant.mjs gen
# The service runs its sources, and so do Covenant's packages (their `@covenant/source` export condition).
cd apps/helpdesk && exec node --conditions=@covenant/source --import tsx src/main.ts
