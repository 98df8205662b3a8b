#!/usr/bin/env node
// A package's `build` script (run in the package's folder): compiles src/ to dist/ with the package's
// tsconfig.build.json, then makes the declaration files import what dist/ holds.
//
// Sources import `./x.ts`. `rewriteRelativeImportExtensions` turns that into `./x.js` in the JavaScript but
// leaves `./x.ts` in the .d.ts files (TypeScript accepts it there; other tools and older compilers do not).
// This script rewrites those specifiers (same length, so the declaration maps stay exact), then checks that
// every relative specifier of every emitted file names a file that exists in dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const DIST = resolve('dist');
const TS_EXTENSION = /\.([cm]?)tsx?$/;

rmSync(DIST, { recursive: true, force: true });
const typescript = dirname(createRequire(import.meta.url).resolve('typescript/package.json'));
const tsc = spawnSync(process.execPath, [join(typescript, 'bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const problems = [];
for (const file of filesUnder(DIST)) {
  if (!/\.(d\.ts|js)$/.test(file)) continue;
  const text = readFileSync(file, 'utf8');
  const specifiers = moduleSpecifiers(text);
  let rewritten = text;
  for (const { start, end, value } of specifiers.reverse()) {
    if (!value.startsWith('./') && !value.startsWith('../')) continue;
    const target = value.replace(TS_EXTENSION, '.$1js');
    if (target !== value) rewritten = rewritten.slice(0, start) + target + rewritten.slice(end);
    const onDisk = resolve(dirname(file), file.endsWith('.d.ts') ? target.replace(/\.([cm]?)js$/, '.d.$1ts') : target);
    if (!existsSync(onDisk)) problems.push(`${relative(DIST, file)}: '${value}' names no file in dist/`);
  }
  if (rewritten !== text) writeFileSync(file, rewritten);
}
if (problems.length > 0) {
  process.stderr.write(`build: relative imports that do not resolve in dist/:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

function filesUnder(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * The string literals of `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`, found by a
 * small scanner that skips comments (JSDoc examples are text, not imports), strings and template literals.
 */
function moduleSpecifiers(text) {
  const found = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') i = lineEnd(text, i);
    else if (c === '/' && next === '*') i = text.indexOf('*/', i + 2) === -1 ? text.length : text.indexOf('*/', i + 2) + 2;
    else if (c === "'" || c === '"') {
      const end = stringEnd(text, i, c);
      if (/(?:\bfrom|\bimport|\bimport\s*\()\s*$/.test(text.slice(Math.max(0, i - 40), i))) {
        found.push({ start: i + 1, end: end - 1, value: text.slice(i + 1, end - 1) });
      }
      i = end;
    } else if (c === '`') i = stringEnd(text, i, '`');
    else i += 1;
  }
  return found;
}

function lineEnd(text, from) {
  const end = text.indexOf('\n', from);
  return end === -1 ? text.length : end;
}

function stringEnd(text, from, quote) {
  let i = from + 1;
  while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}
