#!/usr/bin/env node
// The CLI and the contract modules it loads are TypeScript: register tsx's loader, then run.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
