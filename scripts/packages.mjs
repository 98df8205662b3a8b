// The public packages (every packages/*/package.json that is not `private`) and their tarballs, shared by
// check-packages.mjs (publint, attw, the manifest rules) and check-consumer.mjs (an outside project).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/** `{ dir, manifest }` of each public package under packages/, by folder name. */
export function publicPackages() {
  return readdirSync(join(ROOT, 'packages'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, 'packages', entry.name, 'package.json')))
    .map((entry) => ({ dir: join(ROOT, 'packages', entry.name), manifest: readJson(join(ROOT, 'packages', entry.name, 'package.json')) }))
    .filter(({ manifest }) => manifest.private !== true)
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name));
}

export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Runs a command, inheriting stderr; returns stdout, or ends the process with the command's status. */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? '');
    process.stderr.write(`${command} ${args.join(' ')}: exit ${result.status ?? result.signal}\n`);
    process.exit(1);
  }
  return result.stdout;
}

/**
 * `pnpm pack` of every public package into `destination` (pnpm, not npm: it rewrites `workspace:^` to a
 * version range). Returns `{ name, tarball }` per package. The packages must be built.
 */
export function packPublicPackages(destination) {
  const { packageManager } = readJson(join(ROOT, 'package.json'));
  const filters = publicPackages().flatMap(({ manifest }) => ['--filter', manifest.name]);
  const out = run('npx', ['-y', packageManager, '-r', ...filters, 'pack', '--pack-destination', destination, '--json'], { cwd: ROOT });
  return [JSON.parse(out)].flat().map(({ name, filename }) => ({ name, tarball: filename }));
}
