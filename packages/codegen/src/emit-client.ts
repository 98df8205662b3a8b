import type { GenerationPlan, PlanTree } from './generation-plan.ts';
import { header, importContracts, indent, quote } from './header.ts';

/**
 * `client.ts`: a typed client that imports the contracts as types only and `@covenant/client` at run
 * time; no server code (and no contract code) reaches a client bundle.
 */
export function emitClient(plan: GenerationPlan): string {
  return [
    header(plan, 'The typed client. It imports contracts as types only: nothing server-side reaches a bundle.'),
    `import { createCovenantClient, type CovenantClientOptions } from '@covenant/client';`,
    ...importContracts(plan, true),
    '',
    '/**',
    ' * @example',
    ' * ```ts',
    " * const api = createClient({ url: 'http://127.0.0.1:3000', token: () => session.accessToken });",
    ' * ```',
    ' */',
    'export function createClient(options: CovenantClientOptions) {',
    '  const client = createCovenantClient(options);',
    '  return {',
    ...emitTree(plan.tree, 2),
    '  };',
    '}',
    '',
    'export type Client = ReturnType<typeof createClient>;',
    '',
  ].join('\n');
}

function emitTree(tree: PlanTree, depth: number): string[] {
  const lines: string[] = [];
  for (const [key, value] of tree) {
    if (value instanceof Map) {
      lines.push(`${indent(depth)}${key}: {`, ...emitTree(value, depth + 1), `${indent(depth)}},`);
    } else {
      const { manifest, reference } = value.leaf;
      lines.push(`${indent(depth)}${key}: client.${manifest.kind}<typeof ${reference}>(${quote(manifest.path)}),`);
    }
  }
  return lines;
}
