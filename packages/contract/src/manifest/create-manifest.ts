import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { ClassifiedField } from '../classification.ts';
import { collectProcedures } from '../collect-procedures.ts';
import type { Contract, ContractProcedure } from '../define-contract.ts';
import type { ErrorDeclarations, ProcedureKind, ResolvedSecurity } from '../procedure.ts';
import { walkSchema } from '../schema-walk.ts';
import { canonicalJson } from './canonical-json.ts';

export type JsonSchema = { readonly [key: string]: unknown };

/** One procedure as tools see it: the resolved values, never the source text. */
export interface ManifestProcedure {
  readonly path: string;
  readonly contract: string;
  readonly kind: ProcedureKind;
  readonly summary: string | null;
  readonly security: ResolvedSecurity;
  readonly errors: ErrorDeclarations;
  readonly classified: { readonly input: ReadonlyArray<ClassifiedField>; readonly output: ReadonlyArray<ClassifiedField> };
  readonly input: JsonSchema;
  readonly output: JsonSchema;
  /** `sha256:<hex>` of the canonical definition: what a sanction is bound to. */
  readonly definitionHash: string;
}

export interface Manifest {
  readonly version: 1;
  readonly procedures: ReadonlyArray<ManifestProcedure>;
}

/**
 * The manifest of a set of contracts: per procedure, its path, kind, security metadata, input and output
 * JSON Schema and a definition hash. Sorted by path, so equal contracts give byte-equal manifests.
 *
 * @example
 * ```ts
 * const manifest = createManifest([tickets, platform]);
 * manifest.procedures.find((p) => p.path === 'tickets.create')?.definitionHash; // 'sha256:…'
 * ```
 */
export function createManifest(contracts: Iterable<Contract>): Manifest {
  return { version: 1, procedures: collectProcedures(contracts).map(describeProcedure) };
}

/** The manifest entry of one procedure, hash included. */
export function describeProcedure({ contract, path, procedure }: ContractProcedure): ManifestProcedure {
  const def = procedure['~covenant'];
  const body = {
    path,
    contract,
    kind: def.kind,
    summary: def.summary,
    security: def.security,
    errors: def.errors,
    classified: {
      input: walkSchema(def.input, 'input').classified,
      output: walkSchema(def.output, 'output').classified,
    },
    input: normalizeSchema(z.toJSONSchema(def.input, { io: 'input', unrepresentable: 'throw' })),
    output: normalizeSchema(z.toJSONSchema(def.output, { io: 'output', unrepresentable: 'throw' })),
  };
  return { ...body, definitionHash: definitionHash(body) };
}

/**
 * The hash of everything in a manifest entry except the hash itself. Canonical JSON makes it independent
 * of the order in which object keys were written; `required` lists are sorted for the same reason.
 */
export function definitionHash(entry: Omit<ManifestProcedure, 'definitionHash'>): string {
  const { definitionHash: _ignored, ...body } = entry as ManifestProcedure;
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

/**
 * JSON Schema lists whose order only reflects the order keys were written in (`required`) are sorted,
 * so reordering the fields of an object does not change the definition.
 */
function normalizeSchema(value: unknown): JsonSchema {
  const normalize = (node: unknown, key?: string): unknown => {
    if (Array.isArray(node)) {
      const items = node.map((item) => normalize(item));
      return key === 'required' && items.every((item) => typeof item === 'string') ? [...items].sort() : items;
    }
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(node).sort()) out[k] = normalize((node as Record<string, unknown>)[k], k);
      return out;
    }
    return node;
  };
  return normalize(value) as JsonSchema;
}
