import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ContractDefinitionError, collectProcedures, isContract, type Contract, type DefinitionIssue } from '@covenant/contract';

/** A contract and where it came from. */
export interface LoadedContract {
  /** Path relative to the project root, with `/` separators. */
  readonly file: string;
  readonly absoluteFile: string;
  readonly exportName: string;
  readonly contract: Contract;
}

export type LoadProblemCode = 'import_failed' | 'invalid_definition' | 'not_a_contract' | 'duplicate';

/** A file that could not be loaded as contracts. Data; the CLI renders it. */
export interface LoadProblem {
  readonly code: LoadProblemCode;
  readonly file: string;
  readonly message: string;
  /** For `invalid_definition`: the rule violations, each with its procedure path. */
  readonly issues?: ReadonlyArray<DefinitionIssue>;
}

export interface LoadResult {
  /** Sorted by contract name. */
  readonly contracts: ReadonlyArray<LoadedContract>;
  readonly problems: ReadonlyArray<LoadProblem>;
}

export const CONTRACT_FILE_SUFFIX = '.contract.ts';

/**
 * Finds `**\/*.contract.ts` under `dir` and imports each, reading the resolved values (so a spread, a
 * helper or a computed key cannot hide anything). Every file is tried; problems are collected, not
 * thrown, so one run reports them all.
 *
 * Imports carry the file's content hash as a query, so a long-lived process (a test, a watch mode)
 * sees an edited contract file instead of its cached module.
 */
export async function loadContracts(options: { readonly dir: string; readonly root: string }): Promise<LoadResult> {
  const files = await findContractFiles(options.dir);
  const contracts: LoadedContract[] = [];
  const problems: LoadProblem[] = [];
  for (const absoluteFile of files) {
    const file = relative(options.root, absoluteFile).split(sep).join('/');
    let namespace: Record<string, unknown>;
    try {
      const hash = createHash('sha256').update(await readFile(absoluteFile)).digest('hex').slice(0, 16);
      namespace = (await import(`${pathToFileURL(absoluteFile).href}?covenant=${hash}`)) as Record<string, unknown>;
    } catch (error) {
      if (isDefinitionError(error)) {
        problems.push({ code: 'invalid_definition', file, message: error.message, issues: error.issues });
      } else {
        problems.push({ code: 'import_failed', file, message: `cannot be imported: ${summary(error, options.root)}` });
      }
      continue;
    }
    const found = contractExports(namespace).map(({ exportName, contract }) => ({ file, absoluteFile, exportName, contract }));
    if (found.length === 0) {
      problems.push({
        code: 'not_a_contract',
        file,
        message: 'exports no contract: a *.contract.ts file exports at least one defineContract(...) value',
      });
    }
    contracts.push(...found);
  }
  problems.push(...duplicates(contracts));
  contracts.sort((a, b) => compare(a.contract['~covenant'].name, b.contract['~covenant'].name));
  return { contracts, problems };
}

/**
 * The contracts a module exports, each once (an alias `export const b = a` is the same contract), under
 * its first export name in sorted order. A TypeScript file loaded as CommonJS (a package without
 * `"type": "module"`) exposes its exports as properties of `default`; those count too.
 */
function contractExports(namespace: Record<string, unknown>): Array<{ exportName: string; contract: Contract }> {
  const candidates = Object.keys(namespace)
    .sort()
    .map((exportName) => ({ exportName, value: namespace[exportName] }));
  const fallback = namespace['default'];
  if (fallback !== null && typeof fallback === 'object' && !isContract(fallback)) {
    for (const exportName of Object.keys(fallback).sort()) {
      candidates.push({ exportName, value: (fallback as Record<string, unknown>)[exportName] });
    }
  }
  const seen = new Set<unknown>();
  const found: Array<{ exportName: string; contract: Contract }> = [];
  for (const { exportName, value } of candidates) {
    if (!isContract(value) || seen.has(value)) continue;
    seen.add(value);
    found.push({ exportName, contract: value });
  }
  return found;
}

function duplicates(contracts: ReadonlyArray<LoadedContract>): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const byName = new Map<string, LoadedContract>();
  for (const loaded of contracts) {
    const name = loaded.contract['~covenant'].name;
    const first = byName.get(name);
    if (first === undefined) {
      byName.set(name, loaded);
    } else if (first.contract !== loaded.contract) {
      problems.push({
        code: 'duplicate',
        file: loaded.file,
        message: `contract "${name}" is also defined in ${first.file} (export ${first.exportName})`,
      });
    }
  }
  const unique = [...byName.values()];
  try {
    collectProcedures(unique.map((loaded) => loaded.contract));
  } catch (error) {
    if (!isDefinitionError(error)) throw error;
    for (const issue of error.issues) {
      const owners = unique
        .filter((loaded) => loaded.contract['~covenant'].procedures.some((p) => p.path === issue.procedure || p.path.startsWith(`${issue.procedure}.`)))
        .map((loaded) => loaded.file);
      problems.push({
        code: 'duplicate',
        file: owners[0] ?? '(unknown)',
        message: `${issue.message}: ${issue.procedure} (in ${[...new Set(owners)].join(', ')})`,
      });
    }
  }
  return problems;
}

async function findContractFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const full = join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && entry.name.endsWith(CONTRACT_FILE_SUFFIX)) out.push(full);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Structural, so that it holds even if the contract module was loaded through another module instance. */
function isDefinitionError(error: unknown): error is ContractDefinitionError {
  return (
    error !== null &&
    typeof error === 'object' &&
    (error as { code?: unknown }).code === 'ERR_CONTRACT_DEFINITION' &&
    Array.isArray((error as { issues?: unknown }).issues)
  );
}

/** The first lines of an import error (a syntax error's location is on the second), paths made relative. */
function summary(error: unknown, root: string): string {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(0, 3)
    .join(' ')
    .split(root + sep)
    .join('');
  return `${name}: ${lines.length > 400 ? `${lines.slice(0, 400)}…` : lines}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
