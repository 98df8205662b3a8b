import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { DECLARABLE_STATUSES, defineContract, isContract, isValidCapability, mutation, query } from '../src/index.ts';
import { Ok, TicketId, definitionIssues } from './support/definition-issues.ts';

/** Defines a one-procedure contract `c.p` from options the types may not allow (run-time checks under test). */
function defineOne(options: Record<string, unknown>, kind: 'query' | 'mutation' = 'query') {
  const all = { input: TicketId, output: Ok, ...options };
  const p = kind === 'query' ? query(all as never) : mutation(all as never);
  return defineContract('c', { p });
}

function issuesOf(options: Record<string, unknown>, kind: 'query' | 'mutation' = 'query') {
  return definitionIssues(() => defineOne(options, kind));
}

function accepts(options: Record<string, unknown>, kind: 'query' | 'mutation' = 'query'): boolean {
  return isContract(defineOne(options, kind));
}

describe('every issue of a contract is reported at once', () => {
  it('collects issues from several procedures and groups into one ContractDefinitionError', () => {
    const issues = definitionIssues(() =>
      defineContract('tickets', {
        get: query({ input: TicketId, output: Ok } as never),
        admin: {
          purge: mutation({
            input: z.object({ orgId: z.string() }),
            output: Ok,
            capability: 'tickets.*',
            capabilty: 'tickets.purge',
          } as never),
        },
        health: query({ input: TicketId, output: Ok, requireAuth: false, anyPrincipal: true } as never),
      }),
    );
    // In declaration order, procedure by procedure.
    expect(issues).toEqual([
      { code: 'capability_required', procedure: 'tickets.get', at: '' },
      { code: 'unknown_option', procedure: 'tickets.admin.purge', at: 'capabilty' },
      { code: 'invalid_capability', procedure: 'tickets.admin.purge', at: 'capability' },
      { code: 'tenancy_key_in_input', procedure: 'tickets.admin.purge', at: 'input.orgId' },
      { code: 'non_strict_input_object', procedure: 'tickets.admin.purge', at: 'input' },
      { code: 'conflicting_security', procedure: 'tickets.health', at: '' },
    ]);
  });

  it('reports name issues and procedure issues together', () => {
    const issues = definitionIssues(() =>
      defineContract('Tickets', {
        'get-ticket': query({ input: TicketId, output: Ok, capability: 'tickets.read' }),
        list: query({ input: TicketId, output: Ok, capability: 'tickets' }),
      }),
    );
    expect(issues).toEqual([
      { code: 'invalid_contract_name', procedure: 'Tickets', at: '' },
      { code: 'invalid_procedure_name', procedure: 'Tickets.get-ticket', at: '' },
      { code: 'invalid_capability', procedure: 'Tickets.list', at: 'capability' },
    ]);
  });
});

describe('capability_required', () => {
  it('refuses an authenticated procedure with neither capability nor anyPrincipal', () => {
    expect(issuesOf({})).toEqual([{ code: 'capability_required', procedure: 'c.p', at: '' }]);
  });

  it('refuses requireAuth: true with neither', () => {
    expect(issuesOf({ requireAuth: true })).toEqual([{ code: 'capability_required', procedure: 'c.p', at: '' }]);
  });

  it('treats capability: undefined as no capability', () => {
    expect(issuesOf({ capability: undefined })).toEqual([{ code: 'capability_required', procedure: 'c.p', at: '' }]);
  });

  it('refuses anyPrincipal: false as a way of saying neither', () => {
    expect(issuesOf({ anyPrincipal: false })).toEqual([
      { code: 'invalid_option', procedure: 'c.p', at: 'anyPrincipal' },
      { code: 'capability_required', procedure: 'c.p', at: '' },
    ]);
  });

  it('accepts a capability', () => {
    expect(accepts({ capability: 'tickets.read' })).toBe(true);
  });

  it('accepts anyPrincipal: true', () => {
    expect(accepts({ anyPrincipal: true })).toBe(true);
  });

  it('accepts requireAuth: true with a capability', () => {
    expect(accepts({ requireAuth: true, capability: 'tickets.read' })).toBe(true);
  });
});

describe('conflicting_security', () => {
  it('refuses capability together with anyPrincipal', () => {
    expect(issuesOf({ capability: 'tickets.read', anyPrincipal: true })).toEqual([
      { code: 'conflicting_security', procedure: 'c.p', at: '' },
    ]);
  });

  it('refuses a capability on a public procedure', () => {
    expect(issuesOf({ requireAuth: false, capability: 'tickets.read' })).toEqual([
      { code: 'conflicting_security', procedure: 'c.p', at: '' },
    ]);
  });

  it('refuses anyPrincipal on a public procedure', () => {
    expect(issuesOf({ requireAuth: false, anyPrincipal: true })).toEqual([
      { code: 'conflicting_security', procedure: 'c.p', at: '' },
    ]);
  });

  it('refuses a resource on a public procedure', () => {
    expect(issuesOf({ requireAuth: false, resource: { type: 'ticket', id: 'ticketId' } })).toEqual([
      { code: 'conflicting_security', procedure: 'c.p', at: '' },
    ]);
  });

  it('refuses even resource: undefined on a public procedure', () => {
    expect(issuesOf({ requireAuth: false, resource: undefined })).toEqual([
      { code: 'conflicting_security', procedure: 'c.p', at: '' },
    ]);
  });

  it('accepts a public procedure that names none of them', () => {
    expect(accepts({ requireAuth: false })).toBe(true);
    expect(accepts({ requireAuth: false }, 'mutation')).toBe(true);
  });

  it('accepts a capability with a resource', () => {
    expect(accepts({ capability: 'tickets.read', resource: { type: 'ticket', id: 'ticketId' } })).toBe(true);
  });
});

describe('invalid_capability', () => {
  const tooLong = `a.${'b'.repeat(127)}`;
  const longest = `a.${'b'.repeat(126)}`;
  const refused: ReadonlyArray<[string, unknown]> = [
    ['a wildcard segment', 'tickets.*'],
    ['a bare wildcard', '*'],
    ['a single segment', 'tickets'],
    ['an upper-case first character', 'Tickets.read'],
    ['an upper-case first character in a later segment', 'tickets.Read'],
    ['a digit first', 'tickets.1read'],
    ['an empty segment', 'tickets..read'],
    ['a trailing dot', 'tickets.read.'],
    ['a leading dot', '.tickets.read'],
    ['a Cyrillic "е" look-alike', 'tick\u0435ts.read'],
    ['an accented character in NFC form', 'caf\u00e9.read'],
    ['the same accented character in NFD form', 'cafe\u0301.read'],
    ['a surrounding space', ' tickets.read'],
    ['a trailing newline', 'tickets.read\n'],
    ['an underscore', 'tickets.read_all'],
    ['more than 128 characters', tooLong],
    ['the empty string', ''],
    ['a number', 42],
  ];

  it.each(refused)('refuses %s', (_label, capability) => {
    expect(issuesOf({ capability })).toEqual([{ code: 'invalid_capability', procedure: 'c.p', at: 'capability' }]);
  });

  it('refuses NFC and NFD spellings alike, so the two cannot name different capabilities', () => {
    expect('caf\u00e9.read'.normalize('NFD')).toBe('cafe\u0301.read');
    expect(isValidCapability('caf\u00e9.read')).toBe(false);
    expect(isValidCapability('cafe\u0301.read')).toBe(false);
  });

  const accepted = [
    'tickets.read',
    'rbac.roles.write',
    'tickets.readAll',
    'billing.line-items.read',
    'v2.tickets.read',
    longest,
  ];

  it.each(accepted)('accepts %s', (capability) => {
    expect(isValidCapability(capability)).toBe(true);
    expect(accepts({ capability })).toBe(true);
  });

  it('puts the limit at exactly 128 characters', () => {
    expect(longest).toHaveLength(128);
    expect(tooLong).toHaveLength(129);
    expect(isValidCapability(longest)).toBe(true);
    expect(isValidCapability(tooLong)).toBe(false);
  });
});

describe('unknown_option', () => {
  it('refuses a misspelt capabilty, which would otherwise leave the procedure without one', () => {
    expect(issuesOf({ capabilty: 'tickets.read' })).toEqual([
      { code: 'unknown_option', procedure: 'c.p', at: 'capabilty' },
      { code: 'capability_required', procedure: 'c.p', at: '' },
    ]);
  });

  it('refuses an option Covenant would not enforce, such as consent', () => {
    expect(issuesOf({ capability: 'tickets.read', consent: 'marketing' })).toEqual([
      { code: 'unknown_option', procedure: 'c.p', at: 'consent' },
    ]);
  });

  it('refuses each unknown option separately', () => {
    expect(issuesOf({ anyPrincipal: true, rateLimit: 10, roles: ['admin'] })).toEqual([
      { code: 'unknown_option', procedure: 'c.p', at: 'rateLimit' },
      { code: 'unknown_option', procedure: 'c.p', at: 'roles' },
    ]);
  });

  it('accepts every known option at once', () => {
    expect(
      accepts({
        capability: 'tickets.read',
        requireAuth: true,
        resource: { type: 'ticket', id: 'ticketId' },
        audit: true,
        summary: 'Read a ticket',
        errors: { NOT_FOUND: { status: 404, message: 'No such ticket' } },
      }),
    ).toBe(true);
  });
});

describe('invalid_option', () => {
  it.each([
    ['requireAuth', 'false'],
    ['requireAuth', 0],
    ['requireAuth', null],
    ['anyPrincipal', 'true'],
    ['anyPrincipal', 1],
    ['audit', 'yes'],
    ['audit', undefined],
    ['summary', 42],
    ['summary', null],
  ])('refuses %s: %o', (key, value) => {
    const issues = issuesOf({ capability: 'tickets.read', [key]: value });
    expect(issues).toContainEqual({ code: 'invalid_option', procedure: 'c.p', at: key });
  });

  it('accepts audit: false and a string summary', () => {
    expect(accepts({ capability: 'tickets.read', audit: false, summary: '' })).toBe(true);
  });
});

describe('invalid_resource', () => {
  const Input = z.strictObject({
    ticketId: z.string(),
    seq: z.int(),
    email: z.email(),
    maybe: z.string().optional(),
    nullableId: z.string().nullable(),
    defaulted: z.string().default('x'),
    flag: z.boolean(),
    tags: z.array(z.string()),
    parent: z.strictObject({ id: z.string() }),
  });
  const resourceIssues = (resource: unknown) => issuesOf({ input: Input, capability: 'tickets.read', resource });
  const resourceAccepted = (resource: unknown) => accepts({ input: Input, capability: 'tickets.read', resource });

  it.each([
    ['a field the input does not have', { type: 'ticket', id: 'nope' }],
    ['an optional field', { type: 'ticket', id: 'maybe' }],
    ['a nullable field', { type: 'ticket', id: 'nullableId' }],
    ['a field with a default', { type: 'ticket', id: 'defaulted' }],
    ['a boolean field', { type: 'ticket', id: 'flag' }],
    ['an array field', { type: 'ticket', id: 'tags' }],
    ['an object field', { type: 'ticket', id: 'parent' }],
    ['a path through a non-object', { type: 'ticket', id: 'ticketId.length' }],
    ['an inherited property name', { type: 'ticket', id: 'toString' }],
    ['an empty id', { type: 'ticket', id: '' }],
    ['a non-string id', { type: 'ticket', id: 7 }],
    ['a missing id', { type: 'ticket' }],
    ['extra keys', { type: 'ticket', id: 'ticketId', scope: 'org' }],
    ['an upper-case type', { type: 'Ticket', id: 'ticketId' }],
    ['a type with an underscore', { type: 'support_ticket', id: 'ticketId' }],
    ['a type with a colon', { type: 'ticket:x', id: 'ticketId' }],
    ['an empty type', { type: '', id: 'ticketId' }],
    ['a missing type', { id: 'ticketId' }],
    ['null', null],
    ['a string', 'ticket:ticketId'],
  ])('refuses %s', (_label, resource) => {
    expect(resourceIssues(resource)).toEqual([{ code: 'invalid_resource', procedure: 'c.p', at: 'resource' }]);
  });

  it.each([
    ['a required string field', 'ticketId'],
    ['a required integer field', 'seq'],
    ['a string format field', 'email'],
    ['a nested required field', 'parent.id'],
  ])('accepts %s', (_label, id) => {
    expect(resourceAccepted({ type: 'ticket', id })).toBe(true);
  });

  it('accepts a hyphenated lower-case type', () => {
    expect(resourceAccepted({ type: 'line-item', id: 'ticketId' })).toBe(true);
  });

  it('accepts resource: undefined on an authenticated procedure as no resource', () => {
    expect(resourceAccepted(undefined)).toBe(true);
  });
});

describe('invalid_error_declaration', () => {
  const errorIssues = (errors: unknown) => issuesOf({ capability: 'tickets.read', errors });

  it.each([[401], [403], [500], [503], [200], [418], ['404']])('refuses status %o', (status) => {
    expect(errorIssues({ NOT_FOUND: { status, message: 'No such ticket' } })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.NOT_FOUND' },
    ]);
  });

  it.each(DECLARABLE_STATUSES.map((status) => [status]))('accepts status %i', (status) => {
    expect(accepts({ capability: 'tickets.read', errors: { SOME_ERROR: { status, message: 'Refused' } } })).toBe(true);
  });

  it.each([['not_found'], ['NotFound'], ['NOT-FOUND'], ['1_NOT_FOUND'], ['_NOT_FOUND'], ['']])(
    'refuses the code %o',
    (code) => {
      expect(errorIssues({ [code]: { status: 404, message: 'No such ticket' } })).toEqual([
        { code: 'invalid_error_declaration', procedure: 'c.p', at: `errors.${code}` },
      ]);
    },
  );

  it.each([['NOT_FOUND'], ['E'], ['RATE_LIMITED_2']])('accepts the code %o', (code) => {
    expect(accepts({ capability: 'tickets.read', errors: { [code]: { status: 404, message: 'Refused' } } })).toBe(true);
  });

  it.each([
    ['an empty message', ''],
    ['a message over 200 characters', 'x'.repeat(201)],
    ['a missing message', undefined],
    ['a non-string message', 404],
  ])('refuses %s', (_label, message) => {
    expect(errorIssues({ NOT_FOUND: { status: 404, message } })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.NOT_FOUND' },
    ]);
  });

  it('accepts a message of exactly 200 characters', () => {
    expect(accepts({ capability: 'tickets.read', errors: { LONG: { status: 400, message: 'x'.repeat(200) } } })).toBe(true);
  });

  it('refuses extra keys in a declaration, such as data it would send', () => {
    expect(errorIssues({ NOT_FOUND: { status: 404, message: 'No such ticket', cause: 'db' } })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.NOT_FOUND' },
    ]);
  });

  it('refuses a declaration that is not an object', () => {
    expect(errorIssues({ NOT_FOUND: 404 })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.NOT_FOUND' },
    ]);
    expect(errorIssues({ NOT_FOUND: null })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.NOT_FOUND' },
    ]);
  });

  it.each([[null], [[]], ['NOT_FOUND']])('refuses errors: %o', (errors) => {
    expect(errorIssues(errors)).toEqual([{ code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors' }]);
  });

  it('reports every problem of one declaration', () => {
    expect(errorIssues({ oops: { status: 500, message: '' } })).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.oops' },
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.oops' },
      { code: 'invalid_error_declaration', procedure: 'c.p', at: 'errors.oops' },
    ]);
  });
});

describe('not_json_representable', () => {
  it('refuses z.date() in an input', () => {
    expect(issuesOf({ capability: 'tickets.read', input: z.strictObject({ since: z.date() }) })).toEqual([
      { code: 'not_json_representable', procedure: 'c.p', at: 'input' },
    ]);
  });

  it('refuses z.bigint() in an output', () => {
    expect(issuesOf({ capability: 'tickets.read', output: z.strictObject({ total: z.bigint() }) })).toEqual([
      { code: 'not_json_representable', procedure: 'c.p', at: 'output' },
    ]);
  });

  it('refuses a transform in an output, whose result has no schema', () => {
    const output = z.strictObject({ n: z.string().transform((s) => s.length) });
    expect(issuesOf({ capability: 'tickets.read', output })).toEqual([
      { code: 'not_json_representable', procedure: 'c.p', at: 'output' },
    ]);
  });

  it('accepts an ISO date-time string and a number in place of a date and a bigint', () => {
    expect(
      accepts({
        capability: 'tickets.read',
        input: z.strictObject({ since: z.iso.datetime() }),
        output: z.strictObject({ total: z.int() }),
      }),
    ).toBe(true);
  });
});

describe('invalid_procedure_name', () => {
  const get = query({ input: TicketId, output: Ok, capability: 'tickets.read' });

  it.each([['Get'], ['get-ticket'], ['get_ticket'], ['_get'], ['1get'], ['get ticket'], ['~covenant'], ['']])(
    'refuses the key %o',
    (key) => {
      expect(definitionIssues(() => defineContract('tickets', { [key]: get }))).toEqual([
        { code: 'invalid_procedure_name', procedure: `tickets.${key}`, at: '' },
      ]);
    },
  );

  it('refuses a bad group name and does not descend into it', () => {
    expect(definitionIssues(() => defineContract('tickets', { Admin: { get } }))).toEqual([
      { code: 'invalid_procedure_name', procedure: 'tickets.Admin', at: '' },
    ]);
  });

  it.each([
    ['a string', 'tickets.read'],
    ['null', null],
    ['an array', [get]],
    ['a number', 1],
    ['a function', () => get],
  ])('refuses %s where a procedure or group belongs', (_label, value) => {
    expect(definitionIssues(() => defineContract('tickets', { get: value as never }))).toEqual([
      { code: 'invalid_procedure_name', procedure: 'tickets.get', at: '' },
    ]);
  });

  it('refuses a contract nested inside another contract', () => {
    const inner = defineContract('inner', { get });
    // @ts-expect-error the types refuse a contract as a group too: its '~covenant' member is no procedure
    const nest = () => defineContract('outer', { inner });
    expect(definitionIssues(nest)).toEqual([
      { code: 'invalid_procedure_name', procedure: 'outer.inner', at: '' },
    ]);
  });

  it.each([['get'], ['getTicket'], ['v2']])('accepts the key %o', (key) => {
    expect(isContract(defineContract('tickets', { [key]: get }))).toBe(true);
  });
});

describe('invalid_contract_name', () => {
  const get = query({ input: TicketId, output: Ok, capability: 'tickets.read' });

  it.each([['Tickets'], ['tickets.'], ['.tickets'], [''], ['tick-ets'], ['tickets..admin'], ['2tickets']])(
    'refuses %o',
    (name) => {
      expect(definitionIssues(() => defineContract(name, { get }))).toEqual([
        { code: 'invalid_contract_name', procedure: name, at: '' },
      ]);
    },
  );

  it.each([['tickets'], ['platform.rbac'], ['v2Tickets']])('accepts %o', (name) => {
    expect(isContract(defineContract(name, { get }))).toBe(true);
  });
});
