import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTempProject as createProject, type TempProject } from '@covenant/testkit';

export { contractSource } from '@covenant/testkit';
export type { TempProject } from '@covenant/testkit';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * A throw-away project in `packages/codegen/test/.tmp-<name>-XXXXXX` (git-ignored; `dispose` removes it).
 * It sits inside the package so that contract files resolve `@covenant/contract` and `zod` through the
 * package's own node_modules, as the contracts of a real project would.
 */
export function createTempProject(name: string): Promise<TempProject> {
  return createProject({ parent: HERE, name });
}

/** A capability-checked query; the default input makes it a valid definition. */
export function readQuery(key: string, capability: string, input = 'z.strictObject({})'): string {
  return `  ${key}: query({ input: ${input}, output: z.object({ ok: z.boolean() }), capability: '${capability}' }),`;
}
