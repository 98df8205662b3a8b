import type { GenerationPlan, PlanTree } from './generation-plan.ts';
import { header, importContracts, indent } from './header.ts';

/**
 * `handlers.ts`: the interface your implementation satisfies. One `Handler<typeof procedure>` per
 * procedure, nested like the router, so a missing handler or a wrong input or output type is a type error.
 */
export function emitHandlers(plan: GenerationPlan): string {
  return [
    header(plan, 'The handler interfaces to implement, one entry per procedure.'),
    `import type { Handler } from '@covenant/server';`,
    ...importContracts(plan, true),
    '',
    'export interface Handlers {',
    ...emitTree(plan.tree, 1),
    '}',
    '',
  ].join('\n');
}

function emitTree(tree: PlanTree, depth: number): string[] {
  const lines: string[] = [];
  for (const [key, value] of tree) {
    if (value instanceof Map) {
      lines.push(`${indent(depth)}readonly ${key}: {`, ...emitTree(value, depth + 1), `${indent(depth)}};`);
    } else {
      const { manifest, reference } = value.leaf;
      const security = manifest.security;
      const who = !security.requireAuth
        ? 'public (requireAuth: false; needs a sanction)'
        : security.capability !== null
          ? `requires ${security.capability}${security.resource ? ` on ${security.resource.type}` : ''}`
          : 'any signed-in principal';
      const doc = [manifest.kind, who, security.audit ? 'audited' : null, manifest.summary].filter(Boolean).join(' · ');
      lines.push(`${indent(depth)}/** ${manifest.path}: ${doc.replace(/\*\//g, '* /')} */`);
      lines.push(`${indent(depth)}readonly ${key}: Handler<typeof ${reference}>;`);
    }
  }
  return lines;
}
