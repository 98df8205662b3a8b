#!/usr/bin/env node
// The proof that a team outside this repository can use Covenant (issue 13 §6): builds and packs every public
// package, scaffolds a project with `covenant init` under the system's temp folder, installs the tarballs
// with npm (and tRPC's React Query adapter, which must not bring a second tRPC), then, in that project:
// `covenant gen`, `covenant lint`, `tsc --noEmit` with its ordinary strict tsconfig, its own tests, the build,
// and the server under plain `node`, called over HTTP with the generated typed client: 401 without a token,
// 200 with one, 403 for a caller without the capability. Prints the time of each step. Needs the registry.
//
//   node scripts/outside-project.mjs [--keep]   (--keep leaves the project in place and prints its path)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packPublicPackages, readJson, ROOT, run } from './packages.mjs';

const started = performance.now();
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const step = (name, fn) => {
  const at = performance.now();
  const value = fn();
  console.log(`${name}: ${seconds(at)}`);
  return value;
};
const root = mkdtempSync(join(realpathSync(tmpdir()), 'covenant-outside-'));
const project = join(root, 'invoices');
let server;
try {
  const { packageManager } = readJson(join(ROOT, 'package.json'));
  step('build', () =>
    run('npx', ['-y', packageManager, 'exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], { cwd: ROOT, env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' } }),
  );
  mkdirSync(join(root, 'tarballs'));
  const tarballs = step('pack', () => packPublicPackages(join(root, 'tarballs')));
  step('covenant init', () => run(process.execPath, [join(ROOT, 'packages/cli/bin/covenant.mjs'), 'init', project], { cwd: root }));

  // The scaffold names Covenant's packages by range; here they come from the tarballs, transitive ones too.
  const manifest = readJson(join(project, 'package.json'));
  const local = Object.fromEntries(tarballs.map(({ name, tarball }) => [name, `file:${tarball}`]));
  for (const field of ['dependencies', 'devDependencies']) {
    for (const name of Object.keys(manifest[field] ?? {})) if (name in local) manifest[field][name] = local[name];
  }
  // tRPC's React Query adapter, at exactly the application's tRPC version (tRPC pins its packages' peers to
  // one another exactly). If the registry does not have that version, say so: that part cannot be shown.
  const trpc = readJson(join(ROOT, 'packages/server/package.json')).devDependencies['@trpc/server'];
  const adapter = spawnSync('npm', ['view', `@trpc/tanstack-react-query@${trpc}`, 'version'], { encoding: 'utf8' }).stdout.trim();
  if (adapter === trpc) {
    Object.assign(manifest.dependencies, { '@trpc/tanstack-react-query': trpc, '@tanstack/react-query': '^5.80.3', react: '^19.0.0' });
  } else {
    console.log(`BLOCKED: @trpc/tanstack-react-query ${trpc} is not on the configured registry, so the one-copy check runs without the adapter`);
  }
  manifest.overrides = local;
  writeFileSync(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  const nodedir = !process.env['npm_config_nodedir'] && existsSync('/usr/include/node') ? { npm_config_nodedir: '/usr' } : {};
  step('npm install', () => run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env: { ...process.env, ...nodedir } }));

  // One tRPC: the adapter shares the application's (and Covenant's) instance.
  const copies = findPackages(join(project, 'node_modules'), '@trpc/server');
  if (copies.length !== 1) throw new Error(`expected one copy of @trpc/server, found ${copies.length}: ${copies.join(', ')}`);
  run('npm', ['ls', '@trpc/server'], { cwd: project });
  console.log(`npm ls @trpc/server: one copy${adapter === trpc ? ', with @trpc/tanstack-react-query installed' : ''}`);

  const bin = (name) => join(project, 'node_modules/.bin', name);
  step('covenant gen', () => run(bin('covenant'), ['gen'], { cwd: project }));
  step('covenant gen --check', () => run(bin('covenant'), ['gen', '--check'], { cwd: project }));
  step('covenant lint', () => run(bin('covenant'), ['lint'], { cwd: project }));
  step('tsc --noEmit (the scaffold tsconfig: strict, no exactOptionalPropertyTypes, skipLibCheck off)', () => run(bin('tsc'), ['--noEmit', '-p', '.'], { cwd: project }));
  step('npm test (the scaffold test)', () => run('npm', ['test', '--silent'], { cwd: project }));
  step('npm run build', () => run('npm', ['run', '--silent', 'build'], { cwd: project }));

  // The server under plain node, on SQLite in its data folder, on a free port.
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: join(project, 'data') };
  delete env.DATABASE_URL;
  const booted = performance.now();
  server = spawn(process.execPath, ['dist/src/main.js'], { cwd: project, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    server.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening:\n${out}`)));
    setTimeout(() => reject(new Error(`the server did not listen in 60 s:\n${out}`)), 60_000).unref();
  });
  console.log(`node dist/src/main.js: listening on ${url} after ${seconds(booted)}`);

  // Tokens of the development identity, minted by the project's own command (plain node too).
  const admin = run(process.execPath, ['dist/src/token.js'], { cwd: project, env }).trim();
  const guest = run(process.execPath, ['dist/src/token.js', 'guest'], { cwd: project, env }).trim();
  writeFileSync(
    join(project, 'outside-call.mjs'),
    `import { isCovenantError } from '@covenant/client';
import { createClient } from './dist/src/generated/client.js';
const [url, admin, guest] = process.argv.slice(2);
const as = (token) => createClient({ url, token: () => token });
const status = (call) => call.then(() => 200, (error) => (isCovenantError(error) ? error.httpStatus : String(error)));
const seen = {
  withoutToken: await status(as(undefined).invoices.list.query({})),
  withToken: await status(as(admin).invoices.list.query({})),
  withoutCapability: await status(as(guest).invoices.list.query({})),
};
console.log(JSON.stringify(seen));
if (seen.withoutToken !== 401 || seen.withToken !== 200 || seen.withoutCapability !== 403) process.exit(1);
`,
  );
  const seen = run(process.execPath, ['outside-call.mjs', url, admin, guest], { cwd: project }).trim();
  console.log(`the typed client over HTTP: ${seen} (401 without a token, 200 with one, 403 without the capability)`);
  console.log(`outside project: ${tarballs.length} packages, ${seconds(started)} in all${process.argv.includes('--keep') ? ` (kept: ${project})` : ''}`);
} finally {
  server?.kill('SIGTERM');
  if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
}

/** Every installed copy of `name` under `modules` (nested node_modules included). */
function findPackages(modules, name) {
  const found = [];
  const visit = (dir) => {
    if (!existsSync(dir)) return;
    if (existsSync(join(dir, name, 'package.json'))) found.push(join(dir, name));
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const scoped = entry.name.startsWith('@') ? readdirSync(join(dir, entry.name)).map((n) => join(dir, entry.name, n)) : [join(dir, entry.name)];
      for (const pkg of scoped) visit(join(pkg, 'node_modules'));
    }
  };
  visit(modules);
  return found;
}
