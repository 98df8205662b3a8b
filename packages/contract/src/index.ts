export { PII_CATEGORIES, isPiiCategory } from './classification.ts';
export type { ClassificationMeta, ClassifiedField, PiiCategory } from './classification.ts';
export { collectProcedures } from './collect-procedures.ts';
export { defineContract, isContract, isValidCapability } from './define-contract.ts';
export type { Contract, ContractDef, ContractProcedure, ProcedureTree } from './define-contract.ts';
export { ContractDefinitionError, formatIssue } from './definition-error.ts';
export type { DefinitionIssue, DefinitionIssueCode } from './definition-error.ts';
export type { ErrorCodeOf, HandlerOutputOf, InputOf, IsAuthenticated, OutputOf, ParsedInputOf } from './infer.ts';
export { pipelineFor } from './pipeline.ts';
export type { PipelineStep } from './pipeline.ts';
export { DECLARABLE_STATUSES, isProcedure, mutation, query } from './procedure.ts';
export type {
  AuthenticatedSecurity,
  DeclarableStatus,
  ErrorDeclaration,
  ErrorDeclarations,
  Procedure,
  ProcedureDef,
  ProcedureKind,
  ProcedureOptions,
  PublicSecurity,
  ResolvedSecurity,
  ResourceRef,
  SecurityOptions,
} from './procedure.ts';
export { canonicalRedactedInput, inputDigestOf, redactClassified } from './redact.ts';
export type { Digester } from './redact.ts';
export { readMeta, walkSchema } from './schema-walk.ts';
export type { SchemaFinding, SchemaReport } from './schema-walk.ts';
export { TENANCY_KEY_NAMES, findTenancyKey, isTenancyKey } from './tenancy.ts';
