import { relative, sep } from 'node:path';
import type { ContractProcedure } from '@covenant/contract';
import { describeProcedure, type ManifestProcedure } from '@covenant/contract/manifest';
import type { LoadedContract } from './load-contracts.ts';

/** One contract as the emitters see it: its import, the identifier it is bound to, its procedures. */
export interface PlannedContract {
  readonly name: string;
  readonly file: string;
  /** Module specifier relative to the output folder, with the `.ts` extension. */
  readonly specifier: string;
  readonly exportName: string;
  /** The local identifier in generated files (the export name unless two contracts share it). */
  readonly identifier: string;
  readonly procedures: ReadonlyArray<PlannedProcedure>;
}

export interface PlannedProcedure {
  readonly entry: ContractProcedure;
  readonly manifest: ManifestProcedure;
  /** `tickets.create`, or `rbac.roles['create']` style access, as TypeScript source. */
  readonly reference: string;
}

/** A router or handler tree: nested by path segments, leaves are procedures. */
export type PlanTree = Map<string, PlanTree | { readonly leaf: PlannedProcedure; readonly contract: PlannedContract }>;

export interface GenerationPlan {
  readonly contracts: ReadonlyArray<PlannedContract>;
  readonly tree: PlanTree;
}

/**
 * Everything the emitters need, computed once and in a fixed order, so that every emitted file is a
 * pure function of the contracts (deterministic output, byte for byte).
 */
export function planGeneration(loaded: ReadonlyArray<LoadedContract>, outDir: string): GenerationPlan {
  const taken = new Map<string, number>();
  const ordered = [...loaded].sort((a, b) => compare(a.contract['~covenant'].name, b.contract['~covenant'].name) || compare(a.file, b.file));
  const contracts = ordered.map((item): PlannedContract => {
    const def = item.contract['~covenant'];
    const used = taken.get(item.exportName) ?? 0;
    taken.set(item.exportName, used + 1);
    const identifier = used === 0 ? item.exportName : `${item.exportName}$${used + 1}`;
    let specifier = relative(outDir, item.absoluteFile).split(sep).join('/');
    if (!specifier.startsWith('.')) specifier = `./${specifier}`;
    return {
      name: def.name,
      file: item.file,
      specifier,
      exportName: item.exportName,
      identifier,
      procedures: def.procedures.map((entry) => ({
        entry,
        manifest: describeProcedure(entry),
        reference: [identifier, ...entry.keys].join('.'),
      })),
    };
  });

  const tree: PlanTree = new Map();
  for (const contract of contracts) {
    for (const procedure of contract.procedures) {
      const segments = procedure.entry.path.split('.');
      let node = tree;
      for (const segment of segments.slice(0, -1)) {
        let next = node.get(segment);
        if (next === undefined) {
          next = new Map();
          node.set(segment, next);
        }
        // Path conflicts were refused by the loader; a leaf here would be a bug.
        if (!(next instanceof Map)) throw new Error(`internal: path conflict at ${procedure.entry.path}`);
        node = next;
      }
      node.set(segments.at(-1)!, { leaf: procedure, contract });
    }
  }
  return { contracts, tree: sortTree(tree) };
}

function sortTree(tree: PlanTree): PlanTree {
  const sorted: PlanTree = new Map();
  for (const key of [...tree.keys()].sort()) {
    const value = tree.get(key)!;
    sorted.set(key, value instanceof Map ? sortTree(value) : value);
  }
  return sorted;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
