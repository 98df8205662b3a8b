import { resolve } from 'node:path';
import type { Manifest } from '@covenant/contract/manifest';
import { emitClient } from './emit-client.ts';
import { emitHandlers } from './emit-handlers.ts';
import { emitRouter } from './emit-router.ts';
import { planGeneration } from './generation-plan.ts';
import { GENERATOR_NAME, GENERATOR_VERSION } from './header.ts';
import { loadContracts, type LoadProblem, type LoadedContract } from './load-contracts.ts';

export interface GeneratedFile {
  /** File name inside the output folder. */
  readonly name: string;
  readonly content: string;
}

/** The manifest as written to `manifest.json`: the contract manifest plus where each contract lives. */
export interface GeneratedManifest extends Manifest {
  readonly generator: { readonly name: string; readonly version: string };
  readonly sources: Readonly<Record<string, string>>;
}

/** Contracts that cannot be loaded: generation writes nothing. */
export class ContractLoadError extends Error {
  override readonly name = 'ContractLoadError';
  readonly code = 'ERR_CONTRACT_LOAD' as const;
  readonly problems: ReadonlyArray<LoadProblem>;

  constructor(problems: ReadonlyArray<LoadProblem>) {
    super(`contracts could not be loaded:\n${problems.map((p) => `  ${p.file}: ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
}

export interface GenerateOptions {
  /** Project root: file paths in output and messages are relative to it. */
  readonly root: string;
  readonly contractsDir: string;
  readonly outDir: string;
}

/**
 * Loads the contracts and renders every generated file in memory. Throws `ContractLoadError` (naming
 * each bad file) before anything could be written.
 */
export async function generate(options: GenerateOptions): Promise<ReadonlyArray<GeneratedFile>> {
  const root = resolve(options.root);
  const loaded = await loadContracts({ dir: resolve(root, options.contractsDir), root });
  if (loaded.problems.length > 0) throw new ContractLoadError(loaded.problems);
  return renderFiles(loaded.contracts, resolve(root, options.outDir));
}

export function renderFiles(contracts: ReadonlyArray<LoadedContract>, outDir: string): ReadonlyArray<GeneratedFile> {
  const plan = planGeneration(contracts, outDir);
  const manifest: GeneratedManifest = {
    version: 1,
    generator: { name: GENERATOR_NAME, version: GENERATOR_VERSION },
    sources: Object.fromEntries(plan.contracts.map((contract) => [contract.name, contract.file])),
    procedures: plan.contracts
      .flatMap((contract) => contract.procedures.map((procedure) => procedure.manifest))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
  return [
    { name: 'client.ts', content: emitClient(plan) },
    { name: 'handlers.ts', content: emitHandlers(plan) },
    { name: 'manifest.json', content: `${JSON.stringify(manifest, null, 2)}\n` },
    { name: 'router.ts', content: emitRouter(plan) },
  ];
}
