import { basename, dirname, relative, resolve, sep } from 'node:path';
import type { Manifest } from '@covenant/contract/manifest';
import { emitClient } from './emit-client.ts';
import { emitConformance } from './emit-conformance.ts';
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
  return renderFiles(await load(root, options.contractsDir), resolve(root, options.outDir));
}

/** A reviewed exception to "authentication required", as the sanctions file records it. */
export interface SanctionRef {
  readonly procedure: string;
  readonly definitionHash: string;
}

/** Where the conformance test file goes and what it runs against. Paths are relative to the project root. */
export interface ConformanceOptions {
  /** The test file to write, e.g. `apps/shop/test/generated/conformance.test.ts`. */
  readonly out: string;
  /** The module that exports `createConformanceHarness`, e.g. `apps/shop/test/conformance-harness.ts`. */
  readonly harness: string;
  /** A public procedure is tested as public only with a sanction matching its path and definition hash. */
  readonly sanctions: ReadonlyArray<SanctionRef>;
  readonly sanctionsFile: string;
}

/** Generated files and the folder they belong in. */
export interface GeneratedOutput {
  readonly dir: string;
  readonly files: ReadonlyArray<GeneratedFile>;
}

/**
 * Everything `covenant gen` writes, by folder: the four files in `outDir` and, when `conformance` is given,
 * the conformance test file in its own folder (in the same entry when the folders are the same). The
 * contracts are loaded once; `ContractLoadError` is thrown before anything could be written.
 */
export async function generateOutputs(
  options: GenerateOptions & { readonly conformance?: ConformanceOptions },
): Promise<ReadonlyArray<GeneratedOutput>> {
  const root = resolve(options.root);
  const contracts = await load(root, options.contractsDir);
  const outDir = resolve(root, options.outDir);
  const outputs: GeneratedOutput[] = [{ dir: outDir, files: renderFiles(contracts, outDir) }];
  if (options.conformance !== undefined) {
    const conformance = renderConformance(contracts, root, options.conformance);
    const dir = resolve(root, dirname(options.conformance.out));
    if (dir === outDir) {
      if (outputs[0]!.files.some((f) => f.name === conformance.name)) {
        throw new TypeError(`the conformance test file cannot be named ${conformance.name}: generate writes that file in ${options.outDir}`);
      }
      const files = [...outputs[0]!.files, conformance].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      outputs[0] = { dir, files };
    } else {
      outputs.push({ dir, files: [conformance] });
    }
  }
  return outputs;
}

/**
 * The conformance test file for `contracts`: one `describe` per procedure calling the checks of
 * `@covenant/testkit/conformance` that its security metadata calls for, importing the app's harness by
 * its path relative to the test file.
 */
export function renderConformance(contracts: ReadonlyArray<LoadedContract>, root: string, options: ConformanceOptions): GeneratedFile {
  const file = resolve(root, options.out);
  const plan = planGeneration(contracts, dirname(file));
  let harnessSpecifier = relative(dirname(file), resolve(root, options.harness)).split(sep).join('/');
  if (!harnessSpecifier.startsWith('.')) harnessSpecifier = `./${harnessSpecifier}`;
  const sanctioned = new Set(options.sanctions.map((s) => `${s.procedure}\u0000${s.definitionHash}`));
  return {
    name: basename(file),
    content: emitConformance(plan, {
      harnessSpecifier,
      harnessFile: relative(root, resolve(root, options.harness)).split(sep).join('/'),
      isSanctioned: (procedure) => sanctioned.has(`${procedure.path}\u0000${procedure.definitionHash}`),
      sanctionsFile: options.sanctionsFile,
    }),
  };
}

async function load(root: string, contractsDir: string): Promise<ReadonlyArray<LoadedContract>> {
  const loaded = await loadContracts({ dir: resolve(root, contractsDir), root });
  if (loaded.problems.length > 0) throw new ContractLoadError(loaded.problems);
  return loaded.contracts;
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
