#!/usr/bin/env node
// The CLI and the contract modules it loads are TypeScript: register tsx's loader, then run.
// Installed (under node_modules), the CLI is the package's built dist/. In a checkout of the Covenant
// repository it is the sources: every Covenant package resolves under its `@covenant/source` export
// condition there, so `npx covenant` needs no build in the repository and never runs a stale one.
import { realpathSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
if (!realpathSync(fileURLToPath(import.meta.url)).split(/[\\/]/).includes('node_modules')) {
  register('./source-condition.mjs', import.meta.url);
}
const { main } = await import('@covenant/cli');
process.exitCode = await main(process.argv.slice(2));
