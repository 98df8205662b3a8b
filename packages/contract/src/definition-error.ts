/** Why a contract definition was refused. Each code is a rule the lint reports under the same name. */
export type DefinitionIssueCode =
  | 'invalid_contract_name'
  | 'invalid_procedure_name'
  | 'path_conflict'
  | 'capability_required'
  | 'invalid_capability'
  | 'conflicting_security'
  | 'unknown_option'
  | 'invalid_option'
  | 'tenancy_key_in_input'
  | 'non_strict_input_object'
  | 'invalid_classification'
  | 'invalid_resource'
  | 'invalid_error_declaration'
  | 'not_json_representable';

/** A definition problem as data; rendered to text only at the edge (CLI, error message). */
export interface DefinitionIssue {
  readonly code: DefinitionIssueCode;
  /** Dotted procedure path, or the contract name for contract-level issues. */
  readonly procedure: string;
  /** Where inside the procedure, e.g. `input.customer.orgId`; empty when it is the procedure itself. */
  readonly at: string;
  readonly message: string;
}

/**
 * Thrown by `defineContract` when a definition breaks a rule. It carries every issue found in the
 * contract, not only the first, so one run shows the whole list.
 */
export class ContractDefinitionError extends Error {
  override readonly name = 'ContractDefinitionError';
  readonly code = 'ERR_CONTRACT_DEFINITION' as const;
  readonly issues: ReadonlyArray<DefinitionIssue>;

  constructor(contract: string, issues: ReadonlyArray<DefinitionIssue>) {
    super(
      `contract "${contract}" is invalid:\n` +
        issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n'),
    );
    this.issues = Object.freeze([...issues]);
  }
}

export function formatIssue(issue: DefinitionIssue): string {
  const where = issue.at === '' ? issue.procedure : `${issue.procedure} (${issue.at})`;
  return `${where}: ${issue.message} [${issue.code}]`;
}
