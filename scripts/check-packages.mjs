#!/usr/bin/env node
// `npm test`'s package check (after the build): every public package follows the publishing rules of ADR 0015,
// then its `pnpm pack` tarball passes publint (warnings are errors) and @arethetypeswrong/cli (ESM only).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { packPublicPackages, publicPackages, ROOT } from './packages.mjs';

/** The condition under which the repository resolves a package's TypeScript sources (no build needed). */
const SOURCE_CONDITION = '@covenant/source';
/** Libraries whose instance the user's code shares with ours: peers, never dependencies (ADR 0015). */
const SHARED = ['@trpc/client', '@trpc/server', 'kysely', 'vitest', 'zod'];

const packages = publicPackages();
const byName = new Map(packages.map((p) => [p.manifest.name, p.manifest]));
const problems = packages.flatMap(({ dir, manifest }) => manifestProblems(dir, manifest).map((p) => `${manifest.name}: ${p}`));
if (problems.length > 0) {
  process.stderr.write(`package rules (docs/adr/0015-packages-that-publish.md):\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

const folder = mkdtempSync(join(tmpdir(), 'covenant-pack-'));
try {
  const tarballs = packPublicPackages(folder);
  const bin = (name) => join(ROOT, 'node_modules/.bin', name);
  const checks = tarballs.flatMap(({ name, tarball }) => [
    { name: `publint ${name}`, command: bin('publint'), args: ['run', tarball, '--strict'] },
    { name: `attw ${name}`, command: bin('attw'), args: [tarball, '--profile', 'esm-only', '--format', 'ascii'] },
  ]);
  // publint exits 0 on suggestions too: only its "All good!" is a pass.
  const failed = (await inParallel(checks)).filter((c) => c.code !== 0 || (c.name.startsWith('publint') && !c.output.includes('All good!')));
  for (const c of failed) process.stderr.write(`== ${c.name} failed (exit ${c.code})\n${c.output}\n`);
  if (failed.length > 0) process.exitCode = 1; // not exit(): the folder is removed below
  else console.log(`${tarballs.length} packages packed: publint and attw (ESM only) report nothing`);
} finally {
  rmSync(folder, { recursive: true, force: true });
}

function manifestProblems(dir, m) {
  const found = [];
  const folderName = relative(ROOT, dir);
  for (const field of ['version', 'description', 'license']) if (typeof m[field] !== 'string') found.push(`no "${field}"`);
  if (m.type !== 'module') found.push('"type" is not "module"');
  if (m.sideEffects === undefined) found.push('no "sideEffects"');
  if (typeof m.engines?.node !== 'string') found.push('no "engines.node"');
  if (m.repository?.directory !== folderName) found.push(`"repository.directory" is not "${folderName}"`);
  if (typeof m.scripts?.build !== 'string') found.push('no "build" script');
  if (!existsSync(join(dir, 'tsconfig.build.json'))) found.push('no tsconfig.build.json');
  if (!existsSync(join(dir, 'README.md'))) found.push('no README.md');
  if (!m.files?.includes('dist')) found.push('"files" does not list dist');
  for (const [subpath, target] of Object.entries(m.exports ?? {})) found.push(...exportProblems(dir, subpath, target));
  if (m.exports === undefined) found.push('no "exports"');
  found.push(...dependencyProblems(m));
  return found;
}

/** `{ "@covenant/source": "./src/x.ts", "types": "./dist/x.d.ts", "import": "./dist/x.js" }`, in that order. */
function exportProblems(dir, subpath, target) {
  const keys = typeof target === 'object' && target !== null ? Object.keys(target) : [];
  if (keys.join() !== [SOURCE_CONDITION, 'types', 'import'].join()) {
    return [`exports["${subpath}"] needs exactly the conditions "${SOURCE_CONDITION}", "types", "import", in this order`];
  }
  const stem = target[SOURCE_CONDITION].replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '');
  const found = [];
  if (!/^\.\/src\/.+\.ts$/.test(target[SOURCE_CONDITION])) found.push(`exports["${subpath}"]: the source is not under ./src/`);
  if (target.types !== `${stem}.d.ts` || target.import !== `${stem}.js`) found.push(`exports["${subpath}"]: types and import are not ${stem}.{d.ts,js}`);
  for (const path of Object.values(target)) if (!existsSync(join(dir, path))) found.push(`exports["${subpath}"]: ${path} does not exist (built?)`);
  return found;
}

function dependencyProblems(m) {
  const found = [];
  const deps = m.dependencies ?? {};
  const peers = m.peerDependencies ?? {};
  for (const [name, range] of [...Object.entries(deps), ...Object.entries(peers)]) {
    if (byName.has(name)) {
      if (range !== 'workspace:^') found.push(`${name}: a sibling is "workspace:^" (pnpm pack makes it a range)`);
    } else if (!/^[\^~>]/.test(range)) found.push(`${name}: "${range}" is not a semver range`);
  }
  for (const name of SHARED) {
    if (name in deps) found.push(`${name}: the user shares its instance, so it is a peer dependency`);
    if (name in peers && !(name in (m.devDependencies ?? {}))) found.push(`${name}: a peer is also a devDependency (the tested version)`);
  }
  // A sibling's required peers must reach the user: through this package's own peers (or dependencies).
  for (const sibling of Object.keys(deps).filter((name) => byName.has(name))) {
    const theirs = byName.get(sibling);
    for (const peer of Object.keys(theirs.peerDependencies ?? {})) {
      if (theirs.peerDependenciesMeta?.[peer]?.optional) continue;
      if (!(peer in peers) && !(peer in deps)) found.push(`${peer}: a peer of ${sibling}, so a peer here too`);
    }
  }
  return found;
}

/** Runs the checks, as many at once as there are cores; resolves with each one's exit code and output. */
async function inParallel(checks) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < checks.length) {
      const check = checks[next++];
      results.push({ ...check, ...(await exec(check.command, check.args)) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), checks.length) }, worker));
  return results;
}

function exec(command, args) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, output }));
  });
}
