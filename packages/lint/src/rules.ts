import type { DefinitionIssueCode } from '@covenant/contract';
import type { RouterFindingCode } from '@covenant/server';

/** Every rule the lint can report, with the text shown in SARIF and `--help`. */
export const RULES = {
  'contract-load': 'A contract file cannot be imported, exports no contract, or clashes with another file.',
  'public-requires-sanction':
    'requireAuth: false needs a sanction in the sanctions file whose definition hash matches the procedure as it is now.',
  'stale-sanction': 'A sanction names a procedure that no longer exists or is no longer public.',
  'sanctions-file': 'The sanctions file is missing required fields or is not valid JSON.',
  'capability-required': 'An authenticated procedure must name a capability or declare anyPrincipal: true.',
  'invalid-capability': 'Capability names are exact, dot-separated identifiers without wildcards.',
  'tenancy-key-in-input': 'Input schemas may not contain orgId, workspaceId or tenantId: the tenant comes from the session.',
  'non-strict-input': 'Input objects must refuse unknown keys (z.strictObject).',
  'conflicting-security': 'Security options that contradict each other (e.g. a capability on a public procedure).',
  'invalid-definition': 'A contract definition that breaks a DSL rule (names, options, resources, errors, JSON representability).',
  'handwritten-meta': 'A generated procedure had .meta() called on it by hand; tRPC merges meta shallowly, so it could override policy.',
  'procedure-not-generated': 'The served router contains a procedure that covenant gen did not emit: it bypasses the pipeline.',
  'pipeline-modified': "A generated procedure's chain differs from the one its contract requires.",
  'generated-drift': 'The generated code was produced from an older version of the contracts: run covenant gen.',
} as const;

export type RuleId = keyof typeof RULES;

export function ruleForDefinitionIssue(code: DefinitionIssueCode): RuleId {
  switch (code) {
    case 'capability_required':
      return 'capability-required';
    case 'invalid_capability':
      return 'invalid-capability';
    case 'tenancy_key_in_input':
      return 'tenancy-key-in-input';
    case 'non_strict_input_object':
      return 'non-strict-input';
    case 'conflicting_security':
      return 'conflicting-security';
    case 'path_conflict':
      return 'contract-load';
    default:
      return 'invalid-definition';
  }
}

export function ruleForRouterFinding(code: RouterFindingCode): RuleId {
  switch (code) {
    case 'meta_modified':
      return 'handwritten-meta';
    case 'procedure_not_generated':
      return 'procedure-not-generated';
    case 'stale_definition':
      return 'generated-drift';
    case 'chain_modified':
    case 'path_mismatch':
      return 'pipeline-modified';
  }
}
