import { pipelineFor, type PipelineStep } from '@covenant/contract';
import type { GenerationPlan, PlanTree, PlannedProcedure } from './generation-plan.ts';
import { header, importContracts, indent, quote } from './header.ts';

/**
 * `router.ts`: `createRouter(covenant, handlers)`. Each procedure's chain is spelled out step by step in
 * the order its contract requires (`pipelineFor`), so the file reads as the policy it enforces; the
 * server refuses any router whose chains differ from it.
 */
export function emitRouter(plan: GenerationPlan): string {
  const lines = [
    header(plan, 'The tRPC v11 router: one fixed security pipeline per procedure.'),
    `import type { CovenantRuntime } from '@covenant/server';`,
    ...importContracts(plan, false),
    `import type { Handlers } from './handlers.ts';`,
    '',
    '/**',
    ' * Builds the router from the runtime (identity, authorization and audit ports) and your handlers.',
    ' * Serve it with `createHttpServer(covenant, router)` or call it with `covenant.createCaller(...)`.',
    ' */',
    'export function createRouter(covenant: CovenantRuntime, handlers: Handlers) {',
    '  const { procedure, step } = covenant;',
    '  return covenant.router({',
    ...emitTree(plan.tree, 2, []),
    '  });',
    '}',
    '',
    'export type AppRouter = ReturnType<typeof createRouter>;',
    '',
  ];
  return lines.join('\n');
}

function emitTree(tree: PlanTree, depth: number, handlerPath: ReadonlyArray<string>): string[] {
  const lines: string[] = [];
  for (const [key, value] of tree) {
    if (value instanceof Map) {
      lines.push(`${indent(depth)}${key}: {`, ...emitTree(value, depth + 1, [...handlerPath, key]), `${indent(depth)}},`);
    } else {
      lines.push(...emitProcedure(value.leaf, value.contract.name, depth, [...handlerPath, key]));
    }
  }
  return lines;
}

function emitProcedure(
  procedure: PlannedProcedure,
  contract: string,
  depth: number,
  handlerPath: ReadonlyArray<string>,
): string[] {
  const { manifest, reference: ref } = procedure;
  const path = quote(manifest.path);
  const call = (step: PipelineStep): string => {
    switch (step) {
      case 'requestContext':
        return `.use(step.requestContext(${path}))`;
      case 'refuseTenancyKeys':
        return `.use(step.refuseTenancyKeys())`;
      case 'input':
        return `.input(${ref}['~covenant'].input)`;
      case 'output':
        return `.output(${ref}['~covenant'].output)`;
      case 'handle':
        return `.${manifest.kind}(step.handle(${ref}, handlers.${handlerPath.join('.')}))`;
      default:
        return `.use(step.${step}(${ref}))`;
    }
  };
  const key = handlerPath.at(-1)!;
  const pad = indent(depth + 1);
  const chain = pipelineFor(manifest.security).map((step) => `${pad}${call(step)}`);
  chain[chain.length - 1] += ',';
  return [
    `${indent(depth)}${key}: procedure`,
    `${pad}.meta(covenant.seal(${path}, ${quote(contract)}, ${ref}, ${quote(manifest.definitionHash)}))`,
    ...chain,
  ];
}
