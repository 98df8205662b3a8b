import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface TempProject {
  readonly root: string;
  write(path: string, text: string): Promise<void>;
  read(path: string): Promise<string>;
  /** Every file under `path` (relative, sorted) with its content: a before/after picture of a folder. */
  snapshot(path: string): Promise<Record<string, string>>;
  /** The names directly in `path`, sorted (dot-files included). */
  list(path: string): Promise<string[]>;
  dispose(): Promise<void>;
}

/**
 * A throw-away project in `packages/codegen/test/.tmp-<name>-XXXXXX` (git-ignored; `dispose` removes it).
 * It sits inside the package so that contract files resolve `@covenant/contract` and `zod` through the
 * package's own node_modules, as the contracts of a real project would.
 */
export async function createTempProject(name: string): Promise<TempProject> {
  const root = await mkdtemp(join(HERE, `.tmp-${name}-`));
  return {
    root,
    async write(path, text) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text, 'utf8');
    },
    read: (path) => readFile(join(root, path), 'utf8'),
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

/** A contract file with one contract; `procedures` is the source of its procedure object's entries. */
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

/** A capability-checked query; the default input makes it a valid definition. */
export function readQuery(key: string, capability: string, input = 'z.strictObject({})'): string {
  return `  ${key}: query({ input: ${input}, output: z.object({ ok: z.boolean() }), capability: '${capability}' }),`;
}
