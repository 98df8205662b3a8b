// Type tests: tsc checks them (`tsc --noEmit -p .` includes packages/*/test); vitest runs the runtime halves.
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as z from 'zod';
import { defineContract, mutation, query } from '../src/index.ts';
import type {
  ErrorCodeOf,
  HandlerOutputOf,
  InputOf,
  IsAuthenticated,
  OutputOf,
  ParsedInputOf,
  Procedure,
} from '../src/index.ts';
import { Ok, TicketId, definitionIssues } from './support/definition-issues.ts';

const Search = z.strictObject({
  text: z.string(),
  limit: z.number().default(20),
  cursor: z.string().optional(),
});
const Page = z.strictObject({
  items: z.array(z.strictObject({ id: z.string() })),
  total: z.number().default(0),
});

const search = query({
  input: Search,
  output: Page,
  capability: 'tickets.read',
  errors: {
    NOT_FOUND: { status: 404, message: 'No such ticket' },
    RATE_LIMITED: { status: 429, message: 'Slow down' },
  },
});
const health = query({ input: TicketId, output: Ok, requireAuth: false });
const whoami = query({ input: TicketId, output: Ok, anyPrincipal: true });
const create = mutation({ input: TicketId, output: Ok, capability: 'tickets.write' });

describe('inferred types', () => {
  it('InputOf is what a caller sends: defaults and optionals may be left out', () => {
    expectTypeOf<InputOf<typeof search>>().toEqualTypeOf<{
      text: string;
      limit?: number | undefined;
      cursor?: string | undefined;
    }>();
    expect(Search.parse({ text: 'x' })).toEqual({ text: 'x', limit: 20 });
  });

  it('ParsedInputOf is what a handler receives: defaults applied', () => {
    expectTypeOf<ParsedInputOf<typeof search>>().toEqualTypeOf<{
      text: string;
      limit: number;
      cursor?: string | undefined;
    }>();
    expectTypeOf<ParsedInputOf<typeof search>['limit']>().toEqualTypeOf<number>();
  });

  it('OutputOf is what a caller receives, HandlerOutputOf what a handler may return', () => {
    expectTypeOf<OutputOf<typeof search>>().toEqualTypeOf<{ items: { id: string }[]; total: number }>();
    expectTypeOf<HandlerOutputOf<typeof search>>().toEqualTypeOf<{
      items: { id: string }[];
      total?: number | undefined;
    }>();
  });

  it('ErrorCodeOf is the union of the declared error codes', () => {
    expectTypeOf<ErrorCodeOf<typeof search>>().toEqualTypeOf<'NOT_FOUND' | 'RATE_LIMITED'>();
    expectTypeOf<ErrorCodeOf<typeof create>>().toEqualTypeOf<never>();
  });

  it('keeps error statuses as literals', () => {
    expectTypeOf(search['~covenant'].errors.NOT_FOUND.status).toEqualTypeOf<404>();
    expect(search['~covenant'].errors.NOT_FOUND.status).toBe(404);
  });

  it('IsAuthenticated is false only for requireAuth: false', () => {
    expectTypeOf<IsAuthenticated<typeof health>>().toEqualTypeOf<false>();
    expectTypeOf<IsAuthenticated<typeof search>>().toEqualTypeOf<true>();
    expectTypeOf<IsAuthenticated<typeof whoami>>().toEqualTypeOf<true>();
    expectTypeOf<IsAuthenticated<typeof create>>().toEqualTypeOf<true>();
    expect(health['~covenant'].security.requireAuth).toBe(false);
    expect(whoami['~covenant'].security.requireAuth).toBe(true);
  });

  it('IsAuthenticated agrees with requireAuth: true written out', () => {
    const explicit = query({ input: TicketId, output: Ok, requireAuth: true, capability: 'tickets.read' });
    expectTypeOf<IsAuthenticated<typeof explicit>>().toEqualTypeOf<true>();
  });

  it('keeps the kind as a literal', () => {
    expectTypeOf(search['~covenant'].kind).toEqualTypeOf<'query'>();
    expectTypeOf(create['~covenant'].kind).toEqualTypeOf<'mutation'>();
  });

  it('keeps procedures reachable with their types through a contract', () => {
    const tickets = defineContract('tickets', { search, admin: { create } });
    expectTypeOf(tickets.search).toEqualTypeOf<typeof search>();
    expectTypeOf(tickets.admin.create).toEqualTypeOf<typeof create>();
    expectTypeOf(tickets['~covenant'].name).toEqualTypeOf<'tickets'>();
    expectTypeOf(search).toExtend<Procedure>();
  });
});

describe('security mistakes are type errors, and refused at run time too', () => {
  it('refuses capability and anyPrincipal together', () => {
    // @ts-expect-error an authenticated procedure names exactly one of capability or anyPrincipal
    const both = query({ input: TicketId, output: Ok, capability: 'tickets.read', anyPrincipal: true });
    expect(definitionIssues(() => defineContract('c', { both }))).toEqual([
      { code: 'conflicting_security', procedure: 'c.both', at: '' },
    ]);
  });

  it('refuses requireAuth: false with a capability', () => {
    // @ts-expect-error a public procedure has no principal to hold a capability
    const leaky = query({ input: TicketId, output: Ok, requireAuth: false, capability: 'tickets.read' });
    expect(definitionIssues(() => defineContract('c', { leaky }))).toEqual([
      { code: 'conflicting_security', procedure: 'c.leaky', at: '' },
    ]);
  });

  it('refuses requireAuth: false with a resource', () => {
    // @ts-expect-error a public procedure has no principal to authorize against a resource
    const leaky = query({ input: TicketId, output: Ok, requireAuth: false, resource: { type: 'ticket', id: 'ticketId' } });
    expect(definitionIssues(() => defineContract('c', { leaky }))).toEqual([
      { code: 'conflicting_security', procedure: 'c.leaky', at: '' },
    ]);
  });

  it('refuses an authenticated procedure with neither capability nor anyPrincipal', () => {
    // @ts-expect-error an authenticated procedure must say what it requires
    const bare = mutation({ input: TicketId, output: Ok });
    expect(definitionIssues(() => defineContract('c', { bare }))).toEqual([
      { code: 'capability_required', procedure: 'c.bare', at: '' },
    ]);
  });

  it('refuses anyPrincipal: false', () => {
    // @ts-expect-error anyPrincipal is only ever `true`
    const vague = query({ input: TicketId, output: Ok, anyPrincipal: false });
    expect(definitionIssues(() => defineContract('c', { vague }))).toEqual([
      { code: 'invalid_option', procedure: 'c.vague', at: 'anyPrincipal' },
      { code: 'capability_required', procedure: 'c.vague', at: '' },
    ]);
  });

  it('refuses an undeclarable error status', () => {
    const wrong = query({
      input: TicketId,
      output: Ok,
      capability: 'tickets.read',
      // @ts-expect-error 500 belongs to the framework, not to a declared error
      errors: { BOOM: { status: 500, message: 'Boom' } },
    });
    expect(definitionIssues(() => defineContract('c', { wrong }))).toEqual([
      { code: 'invalid_error_declaration', procedure: 'c.wrong', at: 'errors.BOOM' },
    ]);
  });

  it('refuses an input that is not a zod schema', () => {
    // @ts-expect-error input is a zod schema
    expect(() => query({ input: { ticketId: 'string' }, output: Ok, anyPrincipal: true })).toThrow(TypeError);
  });
});
