import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

/** A throw-away project folder for tests of tools that read a project (codegen, lint, the CLI). */
export interface TempProject {
  readonly root: string;
  write(path: string, text: string): Promise<void>;
  read(path: string): Promise<string>;
  remove(path: string): Promise<void>;
  /** Every file under `path` (relative, sorted) with its content: a before/after picture of a folder. */
  snapshot(path: string): Promise<Record<string, string>>;
  /** The names directly in `path`, sorted (dot-files included). */
  list(path: string): Promise<string[]>;
  dispose(): Promise<void>;
}

export interface TempProjectOptions {
  /** The folder to create it in. Inside the repository, contract files resolve packages as real ones do. */
  readonly parent: string;
  /** Part of the folder name (`.tmp-<name>-XXXXXX`, which the repository's .gitignore ignores). */
  readonly name: string;
  /** Written as the project's package.json when given. */
  readonly packageJson?: Readonly<Record<string, unknown>>;
  /** `node_modules/<name>` → absolute target, for packages the parent folder does not resolve. */
  readonly links?: Readonly<Record<string, string>>;
}

/**
 * Creates a temporary project folder. `dispose` removes it; tests call it in `afterEach`.
 *
 * @example
 * ```ts
 * const project = await createTempProject({ parent: here, name: 'lint' });
 * await project.write('contracts/a.contract.ts', contractSource('a', 'a', procedures));
 * ```
 */
export async function createTempProject(options: TempProjectOptions): Promise<TempProject> {
  const root = await mkdtemp(join(options.parent, `.tmp-${options.name}-`));
  for (const [name, target] of Object.entries(options.links ?? {})) {
    await mkdir(dirname(join(root, 'node_modules', name)), { recursive: true });
    await symlink(target, join(root, 'node_modules', name), 'dir');
  }
  if (options.packageJson !== undefined) {
    await writeFile(join(root, 'package.json'), `${JSON.stringify(options.packageJson, null, 2)}\n`);
  }
  return {
    root,
    async write(path, text) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text, 'utf8');
    },
    read: (path) => readFile(join(root, path), 'utf8'),
    remove: (path) => rm(join(root, path), { recursive: true, force: true }),
    async snapshot(path) {
      const out: Array<[string, string]> = [];
      const walk = async (dir: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const full = join(dir, entry.name);
          if (entry.isDirectory()) await walk(full);
          else out.push([relative(join(root, path), full), await readFile(full, 'utf8')]);
        }
      };
      await walk(join(root, path));
      return Object.fromEntries(out.sort(([a], [b]) => (a < b ? -1 : 1)));
    },
    list: async (path) => (await readdir(join(root, path))).sort(),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/** The source of a contract file with one contract; `procedures` is the body of its procedure object. */
export function contractSource(exportName: string, name: string, procedures: string): string {
  return [
    "import { defineContract, mutation, query } from '@covenant/contract';",
    "import * as z from 'zod';",
    '',
    `export const ${exportName} = defineContract('${name}', {`,
    procedures,
    '});',
    '',
  ].join('\n');
}
