import { cp, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, writeGenerated } from '@covenant/codegen';
import { createTempProject as createProject, type TempProject as BaseProject } from '@covenant/testkit';
import { lintProject } from '../src/index.ts';
import type { LintReport } from '../src/index.ts';

export { contractSource } from '@covenant/testkit';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface TempProject extends BaseProject {
  /** `lintProject` over `contracts/` with `sanctions.json`, and the generated router in `generated` if given. */
  lint(generated?: string): Promise<LintReport>;
  /** Runs the generator into `folder`. */
  gen(folder: string): Promise<void>;
  /** Copies a generated folder and edits the copy's router.ts (a fresh path: modules load once per path). */
  tamper(from: string, to: string, edit: (router: string) => string): Promise<void>;
}

/**
 * A throw-away project in `packages/lint/test/.tmp-<name>-XXXXXX` (git-ignored; `dispose` removes it).
 * Contract files resolve `@covenant/contract` and `zod` through this package's node_modules.
 */
export async function createTempProject(name: string): Promise<TempProject> {
  const project = await createProject({ parent: HERE, name });
  const root = project.root;
  return {
    ...project,
    lint: (generated) =>
      lintProject({
        root,
        contractsDir: 'contracts',
        sanctionsFile: 'sanctions.json',
        ...(generated === undefined ? {} : { generatedDir: generated }),
      }),
    async gen(folder) {
      await writeGenerated(join(root, folder), await generate({ root, contractsDir: 'contracts', outDir: folder }));
    },
    async tamper(from, to, edit) {
      await cp(join(root, from), join(root, to), { recursive: true });
      const before = await readFile(join(root, to, 'router.ts'), 'utf8');
      const after = edit(before);
      if (after === before) throw new Error('tamper: the edit did not change router.ts');
      await writeFile(join(root, to, 'router.ts'), after);
    },
  };
}

/** The 1-based line of the first line containing `needle`. */
export function lineOf(source: string, needle: string): number {
  const index = source.split('\n').findIndex((line) => line.includes(needle));
  if (index === -1) throw new Error(`no line contains ${needle}`);
  return index + 1;
}

/** A well-formed sanctions file. */
export function sanctionsJson(sanctions: ReadonlyArray<Record<string, unknown>>): string {
  return `${JSON.stringify({ sanctions }, null, 2)}\n`;
}

export const REASON = 'Probed by the uptime monitor, which holds no credentials.';
