import * as z from 'zod';
import { ContractDefinitionError, type DefinitionIssue, type DefinitionIssueCode } from './definition-error.ts';
import {
  DECLARABLE_STATUSES,
  PROCEDURE_OPTION_KEYS,
  isProcedure,
  type Procedure,
  type ProcedureDef,
} from './procedure.ts';
import { schemaAtPath, walkSchema } from './schema-walk.ts';

/** A contract groups procedures under a name; groups may nest (`roles: { create, list }`). */
export type ProcedureTree = { readonly [key: string]: Procedure | ProcedureTree };

export interface ContractProcedure {
  /** The name of the contract that declares it. */
  readonly contract: string;
  /** Full dotted path: the contract name, then the keys (`rbac.roles.create`). */
  readonly path: string;
  /** The keys inside the contract (`['roles', 'create']`). */
  readonly keys: ReadonlyArray<string>;
  readonly procedure: Procedure;
}

export interface ContractDef<N extends string = string> {
  readonly type: 'contract';
  readonly name: N;
  /** Every procedure, sorted by path. */
  readonly procedures: ReadonlyArray<ContractProcedure>;
}

/** `Contract` with no arguments accepts any contract (its procedures are not known to the type). */
export type Contract<N extends string = string, T extends ProcedureTree = {}> = T & {
  readonly '~covenant': ContractDef<N>;
};

/** Names are identifiers joined by dots: they become router paths, file names and capability prefixes. */
const NAME_SEGMENT = /^[a-z][a-zA-Z0-9]*$/;
/** Capabilities: two or more dot-separated segments, ASCII only (so NFC by construction), no wildcards. */
const CAPABILITY = /^[a-z][a-zA-Z0-9-]*(\.[a-z][a-zA-Z0-9-]*)+$/;
const RESOURCE_TYPE = /^[a-z][a-zA-Z0-9-]*$/;
const ERROR_CODE = /^[A-Z][A-Z0-9_]*$/;
const MAX_CAPABILITY_LENGTH = 128;

/**
 * Defines a contract: validates every procedure in it and returns a deeply frozen value.
 * Every rule violation in the contract is collected and thrown together as a `ContractDefinitionError`.
 *
 * @example
 * ```ts
 * export const tickets = defineContract('tickets', {
 *   create: mutation({ input: NewTicket, output: TicketRef, capability: 'tickets.write' }),
 *   get: query({ input: TicketId, output: Ticket, capability: 'tickets.read' }),
 * });
 * ```
 */
export function defineContract<const N extends string, const T extends ProcedureTree>(
  name: N,
  procedures: T,
): Contract<N, T> {
  if (typeof name !== 'string') throw new TypeError('defineContract(): the name must be a string');
  if (procedures === null || typeof procedures !== 'object') {
    throw new TypeError('defineContract(): the procedures must be an object');
  }
  const issues: DefinitionIssue[] = [];
  if (!name.split('.').every((segment) => NAME_SEGMENT.test(segment))) {
    issues.push({
      code: 'invalid_contract_name',
      procedure: name,
      at: '',
      message: 'a contract name is identifiers joined by dots, each starting with a lower-case letter',
    });
  }

  const flat: ContractProcedure[] = [];
  const frozenTree = freezeTree(name, [], procedures, flat, issues);
  for (const entry of flat) issues.push(...validateProcedure(entry.path, entry.procedure['~covenant']));
  if (issues.length > 0) throw new ContractDefinitionError(name, issues);

  flat.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const def: ContractDef<N> = Object.freeze({ type: 'contract', name, procedures: Object.freeze(flat) });
  return Object.freeze({ ...frozenTree, '~covenant': def }) as Contract<N, T>;
}

export function isContract(value: unknown): value is Contract {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { '~covenant'?: { type?: unknown } })['~covenant']?.type === 'contract'
  );
}

function freezeTree(
  contract: string,
  keys: ReadonlyArray<string>,
  tree: object,
  flat: ContractProcedure[],
  issues: DefinitionIssue[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const path = [contract, ...keys, key].join('.');
    if (!NAME_SEGMENT.test(key)) {
      issues.push({
        code: 'invalid_procedure_name',
        procedure: path,
        at: '',
        message: 'a procedure or group name is an identifier starting with a lower-case letter',
      });
      continue;
    }
    if (isProcedure(value)) {
      flat.push(Object.freeze({ contract, path, keys: Object.freeze([...keys, key]), procedure: value }));
      out[key] = value;
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !isContract(value)) {
      out[key] = Object.freeze(freezeTree(contract, [...keys, key], value, flat, issues));
    } else {
      issues.push({
        code: 'invalid_procedure_name',
        procedure: path,
        at: '',
        message: 'not a procedure: use query({...}) or mutation({...}), or an object grouping them',
      });
    }
  }
  return out;
}

function validateProcedure(path: string, def: ProcedureDef): DefinitionIssue[] {
  const issues: DefinitionIssue[] = [];
  const add = (code: DefinitionIssueCode, at: string, message: string): void => {
    issues.push({ code, procedure: path, at, message });
  };
  const options = def.options;

  for (const key of Object.keys(options)) {
    if (!PROCEDURE_OPTION_KEYS.has(key)) {
      add('unknown_option', key, `unknown option "${key}": Covenant refuses options it would not enforce`);
    }
  }
  if ('requireAuth' in options && typeof options['requireAuth'] !== 'boolean') {
    add('invalid_option', 'requireAuth', 'requireAuth must be true or false');
  }
  if ('anyPrincipal' in options && options['anyPrincipal'] !== true) {
    add('invalid_option', 'anyPrincipal', 'anyPrincipal may only be true');
  }
  if ('audit' in options && typeof options['audit'] !== 'boolean') {
    add('invalid_option', 'audit', 'audit must be true or false');
  }
  if ('summary' in options && typeof options['summary'] !== 'string') {
    add('invalid_option', 'summary', 'summary must be a string');
  }

  const { requireAuth, capability, anyPrincipal } = def.security;
  const capabilityGiven = 'capability' in options && options['capability'] !== undefined;
  if (capabilityGiven && (capability === null || !isValidCapability(capability))) {
    add(
      'invalid_capability',
      'capability',
      'a capability is dot-separated lower-camel segments, at least two, ASCII, at most 128 characters, no wildcards (e.g. "tickets.write")',
    );
  }
  if (requireAuth) {
    if (!capabilityGiven && !anyPrincipal) {
      add(
        'capability_required',
        '',
        'an authenticated procedure must name the capability it needs, or declare anyPrincipal: true',
      );
    }
    if (capabilityGiven && anyPrincipal) {
      add('conflicting_security', '', 'capability and anyPrincipal exclude each other: choose one');
    }
    if (anyPrincipal && 'resource' in options && options['resource'] !== undefined) {
      add('conflicting_security', 'resource', 'a resource is authorized with a capability: anyPrincipal has none to check');
    }
  } else {
    if (capabilityGiven || anyPrincipal || 'resource' in options) {
      add(
        'conflicting_security',
        '',
        'a public procedure (requireAuth: false) has no principal: capability, anyPrincipal and resource do not apply',
      );
    }
  }

  if ('resource' in options && options['resource'] !== undefined) {
    issues.push(...validateResource(path, def));
  }
  issues.push(...validateErrors(path, options['errors']));

  const reports = [
    ['input', walkSchema(def.input, 'input')],
    ['output', walkSchema(def.output, 'output')],
  ] as const;
  for (const [side, report] of reports) {
    for (const finding of report.findings) {
      const at = finding.at === '' ? side : `${side}.${finding.at}`;
      switch (finding.kind) {
        case 'tenancy_key':
          add(
            'tenancy_key_in_input',
            at,
            `"${finding.detail}" is a tenancy key: the tenant comes from the verified session, never from the input`,
          );
          break;
        case 'non_strict_object':
          add(
            'non_strict_input_object',
            at,
            'input objects must refuse unknown keys: use z.strictObject() (or say what extra keys may hold with .catchall())',
          );
          break;
        case 'invalid_classification':
          add(
            'invalid_classification',
            at,
            `unknown classification ${finding.detail}: pii is one of name, contact, identifier, financial, health, location, free-text; secret is true`,
          );
          break;
      }
    }
  }

  for (const [side, schema] of [
    ['input', def.input],
    ['output', def.output],
  ] as const) {
    try {
      z.toJSONSchema(schema, { io: side, unrepresentable: 'throw' });
    } catch (error) {
      add(
        'not_json_representable',
        side,
        `the ${side} schema has no JSON representation (${(error as Error).message}); contracts travel as JSON`,
      );
    }
  }
  return issues;
}

function validateResource(path: string, def: ProcedureDef): DefinitionIssue[] {
  const resource = def.options['resource'] as { type?: unknown; id?: unknown } | null;
  const problem = (message: string): DefinitionIssue[] => [
    { code: 'invalid_resource', procedure: path, at: 'resource', message },
  ];
  if (resource === null || typeof resource !== 'object') return problem('resource must be { type, id }');
  const extra = Object.keys(resource).filter((key) => key !== 'type' && key !== 'id');
  if (extra.length > 0) return problem(`unknown resource keys: ${extra.join(', ')}`);
  if (typeof resource.type !== 'string' || !RESOURCE_TYPE.test(resource.type)) {
    return problem('resource.type is a lower-case identifier such as "ticket"');
  }
  if (typeof resource.id !== 'string' || resource.id === '') {
    return problem('resource.id is the dotted path of the resource id in the input, such as "ticketId"');
  }
  const field = schemaAtPath(def.input, resource.id.split('.'));
  if (field === undefined) return problem(`resource.id "${resource.id}" is not a field of the input`);
  const fieldType = field._zod.def.type;
  if (fieldType !== 'string' && fieldType !== 'number') {
    return problem(
      `resource.id "${resource.id}" must be a required string or number field (found ${fieldType}): a missing id cannot be authorized`,
    );
  }
  return [];
}

function validateErrors(path: string, errors: unknown): DefinitionIssue[] {
  if (errors === undefined) return [];
  const problem = (at: string, message: string): DefinitionIssue => ({
    code: 'invalid_error_declaration',
    procedure: path,
    at,
    message,
  });
  if (errors === null || typeof errors !== 'object' || Array.isArray(errors)) {
    return [problem('errors', 'errors is an object of declarations keyed by error code')];
  }
  const issues: DefinitionIssue[] = [];
  for (const [code, declaration] of Object.entries(errors)) {
    const at = `errors.${code}`;
    if (!ERROR_CODE.test(code)) issues.push(problem(at, 'an error code is UPPER_SNAKE_CASE'));
    const d = declaration as { status?: unknown; message?: unknown } | null;
    if (d === null || typeof d !== 'object') {
      issues.push(problem(at, 'a declaration is { status, message }'));
      continue;
    }
    if (!(DECLARABLE_STATUSES as ReadonlyArray<unknown>).includes(d.status)) {
      issues.push(
        problem(at, `status must be one of ${DECLARABLE_STATUSES.join(', ')}: 401, 403 and 5xx belong to the framework`),
      );
    }
    if (typeof d.message !== 'string' || d.message.length === 0 || d.message.length > 200) {
      issues.push(problem(at, 'message is fixed text of 1 to 200 characters'));
    }
    const extra = Object.keys(d).filter((key) => key !== 'status' && key !== 'message');
    if (extra.length > 0) issues.push(problem(at, `unknown keys: ${extra.join(', ')}`));
  }
  return issues;
}

export function isValidCapability(value: string): boolean {
  return value.length <= MAX_CAPABILITY_LENGTH && CAPABILITY.test(value);
}
