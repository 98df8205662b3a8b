import { pipelineFor, type PipelineStep, type Procedure } from '@covenant/contract';
import { describeProcedure } from '@covenant/contract/manifest';
import type { AnyTRPCRouter } from '@trpc/server';
import type { BuildRegistry } from './seal.ts';

export type RouterFindingCode =
  | 'procedure_not_generated'
  | 'meta_modified'
  | 'path_mismatch'
  | 'stale_definition'
  | 'chain_modified';

/** A procedure that is not exactly what the generator emitted for its contract. */
export interface RouterFinding {
  readonly code: RouterFindingCode;
  readonly path: string;
  readonly message: string;
}

interface ProcedureInternals {
  readonly _def: {
    readonly type: string;
    readonly meta?: unknown;
    readonly inputs: ReadonlyArray<unknown>;
    readonly output?: unknown;
    readonly middlewares: ReadonlyArray<Function & { _type?: string }>;
    readonly resolver?: Function;
  };
}

/**
 * Checks every procedure of a router against what this runtime built: the seal the generator put in its
 * meta (by identity: a later `.meta()` replaces it), the definition hash (stale generated code), and the
 * exact chain of steps its contract requires, in order, with no middleware added or removed.
 *
 * This reads tRPC's router internals (`_def.procedures`, `_def.middlewares`); the version is pinned and
 * the tests build tampered routers to keep this honest.
 */
export function inspectRouter(router: AnyTRPCRouter, registry: BuildRegistry): RouterFinding[] {
  const findings: RouterFinding[] = [];
  const procedures = router._def.procedures as Record<string, ProcedureInternals>;
  for (const path of Object.keys(procedures).sort()) {
    const def = procedures[path]!._def;
    const add = (code: RouterFindingCode, message: string): void => {
      findings.push({ code, path, message });
    };
    const meta = def.meta;
    const sealed = meta !== null && typeof meta === 'object' ? registry.seals.get(meta) : undefined;
    if (sealed === undefined) {
      const keys = meta !== null && typeof meta === 'object' ? Object.keys(meta).sort().join(',') : '';
      if (keys === 'contract,definitionHash,path') {
        add('procedure_not_generated', 'sealed by another Covenant runtime: build the router with the runtime that serves it');
      } else if (keys.includes('definitionHash')) {
        add('meta_modified', 'its meta is not the one the generator set: a hand-written .meta() replaced it');
      } else {
        add('procedure_not_generated', 'not built by covenant gen: it would bypass the security pipeline');
      }
      continue;
    }
    const { seal, procedure } = sealed;
    if (seal.path !== path) {
      add('path_mismatch', `generated for "${seal.path}" but mounted at "${path}"`);
      continue;
    }
    const current = describeProcedure({ contract: seal.contract, path, keys: [], procedure }).definitionHash;
    if (current !== seal.definitionHash) {
      add('stale_definition', 'the contract changed after the code was generated: run covenant gen');
    }
    const problem = chainProblem(def, procedure, registry);
    if (problem !== null) add('chain_modified', problem);
  }
  return findings;
}

function chainProblem(def: ProcedureInternals['_def'], procedure: Procedure, registry: BuildRegistry): string | null {
  const contractDef = procedure['~covenant'];
  if (def.type !== contractDef.kind) return `it is a ${def.type} but the contract declares a ${contractDef.kind}`;
  const expected = pipelineFor(contractDef.security);
  const actual = def.middlewares.map((fn, index): PipelineStep | string => {
    if (fn._type === 'input') return 'input';
    if (fn._type === 'output') return 'output';
    // tRPC appends the resolver as the last middleware; the resolver must be our `handle` step.
    const record = registry.steps.get(index === def.middlewares.length - 1 && def.resolver ? def.resolver : fn);
    if (record === undefined) return `unknown middleware "${fn.name || 'anonymous'}"`;
    if (record.procedure !== null && record.procedure !== procedure) return `${record.step} of another procedure`;
    return record.step;
  });
  if (actual.length !== expected.length || actual.some((step, i) => step !== expected[i])) {
    return `its chain is [${actual.join(', ')}], the contract requires [${expected.join(', ')}]`;
  }
  if (def.inputs.length !== 1 || def.inputs[0] !== contractDef.input) return 'its input parser is not the contract input schema';
  if (def.output !== contractDef.output) return 'its output parser is not the contract output schema';
  return null;
}
