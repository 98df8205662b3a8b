export { ContractLoadError, generate, generateOutputs, renderConformance, renderFiles } from './generate.ts';
export type {
  ConformanceOptions,
  GenerateOptions,
  GeneratedFile,
  GeneratedManifest,
  GeneratedOutput,
  SanctionRef,
} from './generate.ts';
export { GENERATED_MARKER, GENERATOR_VERSION } from './header.ts';
export { CONTRACT_FILE_SUFFIX, loadContracts } from './load-contracts.ts';
export type { LoadProblem, LoadProblemCode, LoadResult, LoadedContract } from './load-contracts.ts';
export { checkGenerated, writeGenerated } from './write-generated.ts';
export type { DriftReport } from './write-generated.ts';
