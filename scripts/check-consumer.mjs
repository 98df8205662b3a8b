#!/usr/bin/env node
// Covenant as an outside project sees it: builds and packs every public package, installs the tarballs with
// npm into a new project under the system's temp folder, and type-checks a file that imports every export
// of every package with an ordinary strict tsconfig (no exactOptionalPropertyTypes, no
// allowImportingTsExtensions, skipLibCheck off) under node16, nodenext and bundler resolution, with
// TypeScript 7 and 5.9. Then plain node (no tsx) imports each export, and the installed `covenant` runs.
// Needs the registry (npm install).
//
//   node scripts/check-consumer.mjs [--keep]   (--keep leaves the project in place and prints its path)
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packPublicPackages, publicPackages, readJson, ROOT, run } from './packages.mjs';

const TYPESCRIPT = { typescript: '7.0.2', 'typescript-5': 'npm:typescript@5.9.3' };
const RESOLUTIONS = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
};

const started = performance.now();
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const project = mkdtempSync(join(realpathSync(tmpdir()), 'covenant-consumer-'));
try {
  const { packageManager } = readJson(join(ROOT, 'package.json'));
  run('npx', ['-y', packageManager, 'exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: ROOT,
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  mkdirSync(join(project, 'tarballs'));
  const tarballs = packPublicPackages(join(project, 'tarballs'));
  const manifests = publicPackages().map((p) => p.manifest);

  // The user installs the libraries they share with Covenant themselves, in the ranges Covenant accepts.
  const peers = Object.fromEntries(manifests.flatMap((m) => Object.entries(m.peerDependencies ?? {})));
  writeJson('package.json', {
    name: 'covenant-consumer',
    private: true,
    type: 'module',
    dependencies: { ...peers, ...Object.fromEntries(tarballs.map(({ name, tarball }) => [name, `file:${tarball}`])) },
    devDependencies: { '@types/node': readJson(join(ROOT, 'package.json')).devDependencies['@types/node'], ...TYPESCRIPT },
  });
  const install = performance.now();
  // better-sqlite3 compiles here; node-gyp finds Node's headers through this variable (as in test.sh).
  const nodedir = !process.env['npm_config_nodedir'] && existsSync('/usr/include/node') ? { npm_config_nodedir: '/usr' } : {};
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env: { ...process.env, ...nodedir } });
  console.log(`npm install: ${seconds(install)}`);

  const specifiers = manifests.flatMap((m) => Object.keys(m.exports).map((subpath) => m.name + subpath.slice(1)));
  writeFileSync(
    join(project, 'imports.ts'),
    specifiers.map((s, i) => `import * as m${i} from '${s}';\n`).join('') + `export const modules = [${specifiers.map((_, i) => `m${i}`).join(', ')}];\n`,
  );
  for (const [name, options] of Object.entries(RESOLUTIONS)) {
    writeJson(`tsconfig.${name}.json`, {
      compilerOptions: { target: 'es2022', ...options, strict: true, skipLibCheck: false, noEmit: true },
      files: ['imports.ts'],
    });
    for (const [compiler, version] of Object.entries(TYPESCRIPT)) {
      const check = performance.now();
      run(process.execPath, [join(project, 'node_modules', compiler, 'bin/tsc'), '-p', `tsconfig.${name}.json`], { cwd: project, stdio: 'inherit' });
      console.log(`tsc --noEmit (${version.replace('npm:', '')}, ${name}): ${specifiers.length} entry points, no errors, ${seconds(check)}`);
    }
  }

  const script = `for (const s of ${JSON.stringify(specifiers)}) await import(s);`;
  run(process.execPath, ['--input-type=module', '-e', script], { cwd: project });
  console.log(`node: ${specifiers.length} entry points import under plain node`);
  run(join(project, 'node_modules/.bin/covenant'), ['--help'], { cwd: project });
  console.log('covenant --help: the installed CLI runs its built dist/');
  console.log(`check-consumer: ${tarballs.length} packages, ${seconds(started)} in all${process.argv.includes('--keep') ? ` (kept: ${project})` : ''}`);
} finally {
  if (!process.argv.includes('--keep')) rmSync(project, { recursive: true, force: true });
}

function writeJson(file, value) {
  writeFileSync(join(project, file), `${JSON.stringify(value, null, 2)}\n`);
}
