import type { PipelineStep, Procedure } from '@covenant/contract';

/**
 * The meta the generator gives every procedure: which contract procedure it serves and the definition
 * hash the code was generated from. The server knows each seal by identity; tRPC copies meta into a new
 * object on any later `.meta()` call, so a hand-written `.meta()` loses the seal and is detected.
 */
export interface Seal {
  readonly path: string;
  readonly contract: string;
  readonly definitionHash: string;
}

export interface SealRecord {
  readonly seal: Seal;
  readonly procedure: Procedure;
}

export interface StepRecord {
  readonly step: PipelineStep;
  readonly procedure: Procedure | null;
}

/**
 * What one runtime has built: its seals and its step functions. `inspectRouter` compares a router's
 * procedures against it.
 */
export interface BuildRegistry {
  readonly seals: WeakMap<object, SealRecord>;
  readonly steps: WeakMap<Function, StepRecord>;
}

export function createBuildRegistry(): BuildRegistry {
  return { seals: new WeakMap(), steps: new WeakMap() };
}
