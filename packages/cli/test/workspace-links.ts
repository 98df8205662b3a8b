import { mkdir, readFile, readdir, realpath, stat, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export interface WorkspacePackage {
  readonly dir: string;
  readonly json: {
    readonly name: string;
    readonly exports?: unknown;
    readonly dependencies?: Record<string, string>;
    readonly devDependencies?: Record<string, string>;
    readonly peerDependencies?: Record<string, string>;
  };
}

/** The repository's package.json files: the root's, then every folder under packages/ and apps/, and contracts/. */
export async function workspacePackageJsons(): Promise<WorkspacePackage[]> {
  const dirs = [REPO, join(REPO, 'contracts')];
  for (const group of ['packages', 'apps']) {
    for (const name of (await readdir(join(REPO, group))).sort()) dirs.push(join(REPO, group, name));
  }
  const found: WorkspacePackage[] = [];
  for (const dir of dirs) {
    const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => null);
    if (text !== null) found.push({ dir, json: JSON.parse(text) as WorkspacePackage['json'] });
  }
  return found;
}

/**
 * Links `<root>/node_modules/<name>` to this workspace's copy of each package: a workspace package's folder,
 * or the first installed copy found in the workspace's node_modules folders (the root's first). The project
 * then resolves them as it would after an install, without a registry.
 */
export async function linkWorkspacePackages(root: string, names: Iterable<string>): Promise<void> {
  const packages = await workspacePackageJsons();
  for (const name of names) {
    const own = packages.find((pkg) => pkg.json.name === name);
    let target = own?.dir;
    for (const pkg of own === undefined ? packages : []) {
      const installed = join(pkg.dir, 'node_modules', ...name.split('/'));
      if ((await stat(installed).catch(() => null))?.isDirectory()) {
        target = await realpath(installed);
        break;
      }
    }
    if (target === undefined) throw new Error(`${name} is neither a workspace package nor installed in the workspace`);
    const link = join(root, 'node_modules', ...name.split('/'));
    await mkdir(dirname(link), { recursive: true });
    await symlink(target, link, 'dir');
  }
}
