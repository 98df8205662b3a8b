import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  ContractDefinitionError,
  defineContract,
  formatIssue,
  isContract,
  isProcedure,
  mutation,
  query,
} from '../src/index.ts';
import { Ok, TicketId, definitionIssues } from './support/definition-issues.ts';

/** Assigns in strict mode (test files are ES modules), so a frozen target throws. */
function assign(target: unknown, key: string, value: unknown): void {
  (target as Record<string, unknown>)[key] = value;
}

describe('security defaults', () => {
  it('requires authentication when requireAuth is not written', () => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read' });
    expect(get['~covenant'].security.requireAuth).toBe(true);
  });

  it('treats requireAuth: undefined as authenticated', () => {
    const options = { input: TicketId, output: Ok, capability: 'tickets.read', requireAuth: undefined };
    const get = query(options as unknown as Parameters<typeof query>[0]);
    expect(get['~covenant'].security.requireAuth).toBe(true);
  });

  it.each([['false'], [0], [null], ['']])('treats requireAuth: %o as authenticated (fail closed)', (value) => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', requireAuth: value as never });
    expect(get['~covenant'].security.requireAuth).toBe(true);
  });

  it('refuses requireAuth: "false" as invalid_option rather than reading it as public', () => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', requireAuth: 'false' as never });
    expect(definitionIssues(() => defineContract('tickets', { get }))).toEqual([
      { code: 'invalid_option', procedure: 'tickets.get', at: 'requireAuth' },
    ]);
  });

  it('refuses a requireAuth key that is present but undefined, like every other boolean option', () => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', requireAuth: undefined as never });
    expect(definitionIssues(() => defineContract('tickets', { get }))).toEqual([
      { code: 'invalid_option', procedure: 'tickets.get', at: 'requireAuth' },
    ]);
  });

  it('makes a procedure public only for a literal requireAuth: false', () => {
    const health = query({ input: TicketId, output: Ok, requireAuth: false });
    expect(health['~covenant'].security).toEqual({
      requireAuth: false,
      capability: null,
      anyPrincipal: false,
      resource: null,
      audit: false,
    });
  });

  it('audits mutations by default', () => {
    const create = mutation({ input: TicketId, output: Ok, capability: 'tickets.write' });
    expect(create['~covenant'].security.audit).toBe(true);
  });

  it('does not audit queries by default', () => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read' });
    expect(get['~covenant'].security.audit).toBe(false);
  });

  it('lets audit be turned off for a mutation and on for a query', () => {
    const create = mutation({ input: TicketId, output: Ok, capability: 'tickets.write', audit: false });
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', audit: true });
    expect(create['~covenant'].security.audit).toBe(false);
    expect(get['~covenant'].security.audit).toBe(true);
  });

  it('resolves a capability procedure to exactly its security metadata', () => {
    const get = query({
      input: TicketId,
      output: Ok,
      capability: 'tickets.read',
      resource: { type: 'ticket', id: 'ticketId' },
      summary: 'Read one ticket',
    });
    const def = get['~covenant'];
    expect(def.type).toBe('procedure');
    expect(def.kind).toBe('query');
    expect(def.summary).toBe('Read one ticket');
    expect(def.errors).toEqual({});
    expect(def.input).toBe(TicketId);
    expect(def.output).toBe(Ok);
    expect(def.security).toEqual({
      requireAuth: true,
      capability: 'tickets.read',
      anyPrincipal: false,
      resource: { type: 'ticket', id: 'ticketId' },
      audit: false,
    });
  });

  it('leaves the summary null when none is given', () => {
    expect(query({ input: TicketId, output: Ok, anyPrincipal: true })['~covenant'].summary).toBeNull();
  });
});

describe('requireAuth: false is read from resolved values, however it was written', () => {
  const publicOptions = { requireAuth: false } as const;
  function publicProcedure() {
    return { requireAuth: false } as const;
  }

  it('sees requireAuth: false behind a spread', () => {
    const health = query({ input: TicketId, output: Ok, ...publicOptions });
    expect(health['~covenant'].security.requireAuth).toBe(false);
  });

  it('sees requireAuth: false returned by a helper function', () => {
    const health = query({ input: TicketId, output: Ok, ...publicProcedure() });
    expect(health['~covenant'].security.requireAuth).toBe(false);
  });

  it('sees requireAuth: false held in a variable', () => {
    const requireAuth = false;
    const health = query({ input: TicketId, output: Ok, requireAuth });
    expect(health['~covenant'].security.requireAuth).toBe(false);
  });

  it('sees requireAuth: false under a computed key', () => {
    const key = 'requireAuth';
    const health = query({ input: TicketId, output: Ok, [key]: false });
    expect(health['~covenant'].security.requireAuth).toBe(false);
  });

  it('sees requireAuth: false from a getter, read once at definition', () => {
    let reads = 0;
    const options = {
      input: TicketId,
      output: Ok,
      get requireAuth() {
        reads += 1;
        return false as const;
      },
    };
    const health = query(options);
    expect(health['~covenant'].security.requireAuth).toBe(false);
    expect(reads).toBe(1);
    expect(health['~covenant'].security.requireAuth).toBe(false);
  });

  it('refuses a spread { requireAuth: boolean } at the type level', () => {
    const sometimesPublic: { requireAuth: boolean } = { requireAuth: false };
    // @ts-expect-error a `boolean` requireAuth matches neither the public nor the authenticated overload
    const health = query({ input: TicketId, output: Ok, ...sometimesPublic });
    // At run time the resolved value still decides: it is public, and defineContract accepts it as such.
    expect(health['~covenant'].security.requireAuth).toBe(false);
    expect(isContract(defineContract('health', { health }))).toBe(true);
  });

  it('refuses a capability smuggled next to a spread requireAuth: false', () => {
    const health = query({ input: TicketId, output: Ok, ...publicOptions, ...({ capability: 'ops.read' } as object) });
    expect(health['~covenant'].security.requireAuth).toBe(false);
    expect(definitionIssues(() => defineContract('ops', { health }))).toEqual([
      { code: 'conflicting_security', procedure: 'ops.health', at: '' },
    ]);
  });
});

describe('immutability', () => {
  const contract = defineContract('rbac', {
    roles: {
      create: mutation({
        input: TicketId,
        output: Ok,
        capability: 'rbac.roles.write',
        resource: { type: 'role', id: 'ticketId' },
        errors: { ROLE_EXISTS: { status: 409, message: 'The role exists' } },
      }),
    },
    whoami: query({ input: TicketId, output: Ok, anyPrincipal: true }),
  });
  const create = contract.roles.create;
  const def = create['~covenant'];

  it('freezes the procedure and its definition', () => {
    expect(Object.isFrozen(create)).toBe(true);
    expect(Object.isFrozen(def)).toBe(true);
    expect(() => assign(create, '~covenant', {})).toThrow(TypeError);
    expect(() => assign(def, 'kind', 'query')).toThrow(TypeError);
    expect(def.kind).toBe('mutation');
  });

  it('freezes the resolved security metadata and its resource', () => {
    expect(Object.isFrozen(def.security)).toBe(true);
    expect(Object.isFrozen(def.security.resource)).toBe(true);
    expect(() => assign(def.security, 'requireAuth', false)).toThrow(TypeError);
    expect(() => assign(def.security, 'capability', 'rbac.admin')).toThrow(TypeError);
    expect(() => assign(def.security.resource, 'id', 'other')).toThrow(TypeError);
    expect(def.security.requireAuth).toBe(true);
  });

  it('freezes the error declarations, each of them too', () => {
    expect(Object.isFrozen(def.errors)).toBe(true);
    expect(Object.isFrozen(def.errors['ROLE_EXISTS'])).toBe(true);
    expect(() => assign(def.errors, 'OOPS', { status: 400, message: 'x' })).toThrow(TypeError);
    expect(() => assign(def.errors['ROLE_EXISTS'], 'message', 'leaked detail')).toThrow(TypeError);
  });

  it('freezes the options as written', () => {
    expect(Object.isFrozen(def.options)).toBe(true);
    expect(() => assign(def.options, 'requireAuth', false)).toThrow(TypeError);
  });

  it('freezes the contract, its nested groups and its procedure list', () => {
    expect(Object.isFrozen(contract)).toBe(true);
    expect(Object.isFrozen(contract.roles)).toBe(true);
    expect(Object.isFrozen(contract['~covenant'])).toBe(true);
    expect(Object.isFrozen(contract['~covenant'].procedures)).toBe(true);
    for (const entry of contract['~covenant'].procedures) {
      expect(Object.isFrozen(entry)).toBe(true);
      expect(Object.isFrozen(entry.keys)).toBe(true);
    }
    expect(() => assign(contract, 'extra', query({ input: TicketId, output: Ok, anyPrincipal: true }))).toThrow(TypeError);
    expect(() => assign(contract.roles, 'create', contract.whoami)).toThrow(TypeError);
    expect(() => (contract['~covenant'].procedures as unknown[]).push({})).toThrow(TypeError);
  });

  it('does not change the definition when the options object is mutated after query()', () => {
    const options = { input: TicketId, output: Ok, capability: 'tickets.read', summary: 'before', audit: false };
    const get = query(options);
    const mutable = options as Record<string, unknown>;
    mutable['capability'] = 'tickets.admin';
    mutable['requireAuth'] = false;
    mutable['summary'] = 'after';
    mutable['audit'] = true;
    mutable['output'] = z.strictObject({});
    expect(get['~covenant'].security).toEqual({
      requireAuth: true,
      capability: 'tickets.read',
      anyPrincipal: false,
      resource: null,
      audit: false,
    });
    expect(get['~covenant'].summary).toBe('before');
    expect(get['~covenant'].output).toBe(Ok);
    expect(get['~covenant'].options).not.toHaveProperty('requireAuth');
  });

  it('does not change the resolved resource or errors when the caller mutates the objects it passed', () => {
    const resource = { type: 'ticket', id: 'ticketId' };
    const errors = { NOT_FOUND: { status: 404 as const, message: 'No such ticket' } };
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', resource, errors });
    resource.id = 'other';
    errors.NOT_FOUND.message = 'changed';
    expect(get['~covenant'].security.resource).toEqual({ type: 'ticket', id: 'ticketId' });
    expect(get['~covenant'].errors).toEqual({ NOT_FOUND: { status: 404, message: 'No such ticket' } });
  });

  it('returns a new contract object instead of freezing the caller tree in place', () => {
    const tree = { get: query({ input: TicketId, output: Ok, capability: 'tickets.read' }) };
    const contract2 = defineContract('tickets', tree);
    expect(contract2).not.toBe(tree);
    expect(Object.isFrozen(tree)).toBe(false);
    expect(contract2.get).toBe(tree.get);
  });
});

describe('the contract value', () => {
  const get = query({ input: TicketId, output: Ok, capability: 'rbac.roles.read' });
  const create = mutation({ input: TicketId, output: Ok, capability: 'rbac.roles.write' });
  const whoami = query({ input: TicketId, output: Ok, anyPrincipal: true });
  const contract = defineContract('rbac', { whoami, roles: { get, create } });

  it('lists every procedure sorted by path, with its contract and keys', () => {
    expect(contract['~covenant'].name).toBe('rbac');
    expect(contract['~covenant'].type).toBe('contract');
    const listed = contract['~covenant'].procedures.map(({ contract: c, path, keys, procedure }) => ({ c, path, keys, procedure }));
    expect(listed).toEqual([
      { c: 'rbac', path: 'rbac.roles.create', keys: ['roles', 'create'], procedure: create },
      { c: 'rbac', path: 'rbac.roles.get', keys: ['roles', 'get'], procedure: get },
      { c: 'rbac', path: 'rbac.whoami', keys: ['whoami'], procedure: whoami },
    ]);
  });

  it('keeps the procedure tree reachable by its keys', () => {
    expect(contract.roles.get).toBe(get);
    expect(contract.whoami).toBe(whoami);
  });

  it('is recognised by isContract, and procedures by isProcedure', () => {
    expect(isContract(contract)).toBe(true);
    expect(isContract(contract.roles)).toBe(false);
    expect(isContract({ '~covenant': { type: 'procedure' } })).toBe(false);
    expect(isContract(null)).toBe(false);
    expect(isProcedure(get)).toBe(true);
    expect(isProcedure(contract)).toBe(false);
    expect(isProcedure({ '~covenant': null })).toBe(false);
    expect(isProcedure('query')).toBe(false);
  });

  it('accepts a dotted contract name and prefixes every path with it', () => {
    const dotted = defineContract('platform.rbac', { get });
    expect(dotted['~covenant'].procedures.map((p) => p.path)).toEqual(['platform.rbac.get']);
  });
});

describe('caller misuse throws TypeError', () => {
  it.each([
    ['null options', null],
    ['a string instead of options', 'tickets.read'],
    ['an input that is not a zod schema', { input: { ticketId: 'string' }, output: Ok, anyPrincipal: true }],
    ['a missing input', { output: Ok, anyPrincipal: true }],
    ['the zod namespace as input', { input: z, output: Ok, anyPrincipal: true }],
    ['an output that is not a zod schema', { input: TicketId, output: 'Ok', anyPrincipal: true }],
    ['a missing output', { input: TicketId, anyPrincipal: true }],
  ])('query() with %s', (_label, options) => {
    expect(() => query(options as never)).toThrow(TypeError);
    expect(() => mutation(options as never)).toThrow(TypeError);
  });

  it('names the option at fault', () => {
    expect(() => query({ input: {}, output: Ok, anyPrincipal: true } as never)).toThrow('query(): "input" must be a zod schema');
    expect(() => mutation({ input: TicketId, output: 1, anyPrincipal: true } as never)).toThrow(
      'mutation(): "output" must be a zod schema',
    );
  });

  it('defineContract() with a name that is not a string', () => {
    expect(() => defineContract(42 as never, {})).toThrow(TypeError);
  });

  it('defineContract() with procedures that are not an object', () => {
    expect(() => defineContract('tickets', null as never)).toThrow(TypeError);
    expect(() => defineContract('tickets', 'get' as never)).toThrow(TypeError);
  });
});

describe('ContractDefinitionError', () => {
  it('carries a stable code, a name, frozen issues and one formatted line per issue', () => {
    const noCapability = query({ input: TicketId, output: Ok } as never);
    let caught: unknown;
    try {
      defineContract('tickets', { get: noCapability, Bad: noCapability });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ContractDefinitionError);
    const error = caught as ContractDefinitionError;
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ERR_CONTRACT_DEFINITION');
    expect(error.name).toBe('ContractDefinitionError');
    expect(Object.isFrozen(error.issues)).toBe(true);
    expect(error.issues).toHaveLength(2);
    expect(error.message.split('\n')).toEqual([
      'contract "tickets" is invalid:',
      ...error.issues.map((issue) => `  - ${formatIssue(issue)}`),
    ]);
  });

  it('formats an issue with its location when it has one, without when it does not', () => {
    expect(formatIssue({ code: 'unknown_option', procedure: 'tickets.get', at: 'consent', message: 'no' })).toBe(
      'tickets.get (consent): no [unknown_option]',
    );
    expect(formatIssue({ code: 'capability_required', procedure: 'tickets.get', at: '', message: 'no' })).toBe(
      'tickets.get: no [capability_required]',
    );
  });
});

// Regression tests for defects found while writing this suite.
describe('definitions are snapshotted when declared', () => {
  it('validates the declarations it will enforce, not the caller’s objects changed afterwards', () => {
    const errors: Record<string, { status: number; message: string }> = { BOOM: { status: 500, message: 'x' } };
    const resource = { type: 'ticket', id: 'missing' };
    const procedure = query({
      input: z.strictObject({ ticketId: z.string() }),
      output: z.string(),
      capability: 'tickets.read',
      resource,
      errors: errors as never,
    });
    errors['BOOM'] = { status: 404, message: 'x' };
    resource.id = 'ticketId';
    let thrown: unknown;
    try {
      defineContract('snap', { get: procedure });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ContractDefinitionError);
    const codes = (thrown as InstanceType<typeof ContractDefinitionError>).issues.map((issue) => issue.code).sort();
    expect(codes).toEqual(['invalid_error_declaration', 'invalid_resource']);
    expect(procedure['~covenant'].security.resource?.id).toBe('missing');
  });

  it('refuses a resource on an anyPrincipal procedure (no capability to check it with)', () => {
    expect(() =>
      defineContract('snap', {
        get: query({
          input: z.strictObject({ ticketId: z.string() }),
          output: z.string(),
          anyPrincipal: true,
          ...({ resource: { type: 'ticket', id: 'ticketId' } } as object),
        }),
      }),
    ).toThrow(/conflicting_security/);
  });

  it('refuses a resource id behind an optional object', () => {
    expect(() =>
      defineContract('snap', {
        get: query({
          input: z.strictObject({ ref: z.strictObject({ id: z.string() }).optional() }),
          output: z.string(),
          capability: 'tickets.read',
          resource: { type: 'ticket', id: 'ref.id' },
        }),
      }),
    ).toThrow(/invalid_resource/);
  });
});
