import { describe, expectTypeOf, it } from 'vitest';
import { createClient, type Client } from './fixtures/generated/client.ts';
import type { Handlers } from './fixtures/generated/handlers.ts';

// These are type tests: `tsc --noEmit` (run by `npm test`) checks every line, including that each
// `@ts-expect-error` really marks an error. Vitest runs the file too, but calls nothing over the network.

describe('the generated client follows the contract', () => {
  const api = createClient({ url: 'http://127.0.0.1:9' });

  it('types inputs and outputs from the zod schemas', () => {
    expectTypeOf(api.tickets.create.mutate).parameter(0).toEqualTypeOf<{
      title: string;
      requesterEmail: string;
      tags?: string[] | undefined;
    }>();
    expectTypeOf(api.tickets.create.mutate).returns.resolves.toEqualTypeOf<{
      id: string;
      title: string;
      requesterEmail: string;
      org: string;
    }>();
    // A default in the schema makes the field optional for callers.
    expectTypeOf(api.tickets.list.query).parameter(0).toEqualTypeOf<{ limit?: number | undefined }>();
    expectTypeOf(api.tickets.admin.purge.mutate).parameter(0).toEqualTypeOf<{ before: string }>();
  });

  it('makes a missing procedure, a wrong input and the wrong verb type errors', () => {
    const unused = (): void => {
      // @ts-expect-error: no such procedure
      void api.tickets.remove;
      // @ts-expect-error: no such namespace
      void api.billing;
      // @ts-expect-error: title must be a string
      void api.tickets.create.mutate({ title: 1, requesterEmail: 'a@example.com' });
      // @ts-expect-error: requesterEmail is required
      void api.tickets.create.mutate({ title: 'x' });
      // @ts-expect-error: queries have query(), not mutate()
      void api.tickets.get.mutate({ ticketId: 't1' });
      // @ts-expect-error: mutations have mutate(), not query()
      void api.tickets.create.query({ title: 'x', requesterEmail: 'a@example.com' });
    };
    expectTypeOf(unused).toBeFunction();
    expectTypeOf<Client>().toEqualTypeOf<ReturnType<typeof createClient>>();
  });
});

describe('the generated handler interface follows the contract', () => {
  it('makes a missing handler or a wrong return type a type error', () => {
    const complete: Handlers = {
      tickets: {
        admin: { purge: () => ({ removed: 0 }) },
        create: ({ input, ctx }) => ({ id: 'x', title: input.title, requesterEmail: input.requesterEmail, org: ctx.tenant.org }),
        get: ({ ctx }) => ctx.fail('TICKET_NOT_FOUND'),
        list: ({ input }) => {
          // Handlers see the parsed input: the default has been applied.
          expectTypeOf(input.limit).toEqualTypeOf<number>();
          return { items: [] };
        },
        mine: ({ ctx }) => ({ subject: ctx.principal.subject, org: ctx.tenant.org }),
        status: ({ ctx }) => {
          // A public procedure has no principal in its types.
          expectTypeOf(ctx.principal).toEqualTypeOf<import('@covenant/identity').Principal | null>();
          return { open: true };
        },
      },
    };
    // @ts-expect-error: a handler is missing
    const missing: Handlers = { tickets: { ...complete.tickets, get: undefined } };
    const wrongOutput: Handlers = {
      // @ts-expect-error: status must return { open: boolean }
      tickets: { ...complete.tickets, status: () => ({ open: 'yes' }) },
    };
    const wrongError: Handlers = {
      // @ts-expect-error: create declares DUPLICATE_TITLE, not TICKET_NOT_FOUND
      tickets: { ...complete.tickets, create: ({ ctx }) => ctx.fail('TICKET_NOT_FOUND') },
    };
    const undeclared: Handlers = {
      // @ts-expect-error: list declares no errors, so there is no code to fail with
      tickets: { ...complete.tickets, list: ({ ctx }) => ctx.fail('ANYTHING') },
    };
    expectTypeOf(missing).toEqualTypeOf<Handlers>();
    expectTypeOf(undeclared).toEqualTypeOf<Handlers>();
    expectTypeOf(wrongOutput).toEqualTypeOf<Handlers>();
    expectTypeOf(wrongError).toEqualTypeOf<Handlers>();
  });
});
