import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter } from '../src/generated/router.ts';
import { createHandlers } from '../src/handlers.ts';
import { toTicket } from '../src/helpdesk/tickets.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

// Tenant isolation under the handlers' own filters, on SQLite (ADR 0011): the helpdesk's database scope
// wraps ctx.db in the tenant guard, so a handler that forgets `ofTenant` is caught — the query is refused
// before it runs (500 to the caller, ERR_DB_TENANT_FILTER_MISSING in the log) — instead of returning or
// changing another tenant's rows. The PostgreSQL counterpart (row-level security) is
// tenant-isolation.postgres.test.ts.
let helpdesk: Helpdesk;
beforeAll(async () => {
  helpdesk = await startHelpdesk();
  // A ticket in acme's other workspace, which ann (acme/support) must not see either.
  const bob = await helpdesk.as('bob');
  await bob.tickets.create.mutate({ customer: { new: { name: 'Bea Billing', email: 'bea@example.com' } }, subject: 'Invoice twice', body: 'Help' });
});
afterAll(() => helpdesk.close());

const allTickets = () => helpdesk.service.db.selectFrom('helpdesk_tickets').select(['id', 'org', 'workspace', 'subject', 'updated_at']).orderBy('id').execute();

function buggyRouter() {
  const { service } = helpdesk;
  const handlers = createHandlers({ rbac: service.rbac, ledger: service.ledger, revocations: service.revocations, clock: { now: () => new Date() } });
  return createRouter(service.runtime, {
    ...handlers,
    tickets: {
      ...handlers.tickets,
      // The bug: no tenant filter at all.
      list: async ({ ctx }) => {
        const rows = await ctx.db.selectFrom('helpdesk_tickets').selectAll().execute();
        return { tickets: rows.map(toTicket), next: null };
      },
      // The same bug in an audited mutation: "touches" every ticket, then does the real update.
      update: async (args) => {
        await args.ctx.db.updateTable('helpdesk_tickets').set({ subject: 'overwritten by a bug' }).execute();
        return handlers.tickets.update(args);
      },
    },
  });
}

describe('tenant isolation in the database (SQLite: the tenant guard)', () => {
  it('the seed has tickets in three tenants (acme/support, acme/billing, globex/support)', async () => {
    const tenants = new Set((await allTickets()).map((t) => `${t.org}/${t.workspace}`));
    expect(tenants).toEqual(new Set(['acme/support', 'acme/billing', 'globex/support']));
  });

  it('a deliberately unfiltered query in a handler is caught: refused (500), logged as ERR_DB_TENANT_FILTER_MISSING, nothing returned', async () => {
    const caller = helpdesk.service.runtime.createCaller(buggyRouter(), { token: await helpdesk.token('ann') });
    const logged = helpdesk.logs.length;
    const error = await caller.tickets.list({}).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    expect(JSON.stringify(error)).not.toContain('Cannot sign in');
    expect(helpdesk.logs.slice(logged).some((line) => line.includes('ERR_DB_TENANT_FILTER_MISSING'))).toBe(true);
  });

  it('an unfiltered UPDATE in an audited handler is refused and changes no row of any tenant', async () => {
    const ann = await helpdesk.as('ann');
    const mine = (await ann.tickets.list.query({})).tickets[0]!;
    const before = await allTickets();
    const caller = helpdesk.service.runtime.createCaller(buggyRouter(), { token: await helpdesk.token('ann') });
    await expect(caller.tickets.update({ ticketId: mine.id, priority: 'high' })).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    expect(await allTickets()).toEqual(before);
    expect((await allTickets()).some((t) => t.subject === 'overwritten by a bug')).toBe(false);
  });

  it('the real handlers, filtered, pass the guard: ann lists, updates and comments on her own tickets only', async () => {
    const ann = await helpdesk.as('ann');
    const listed = await ann.tickets.list.query({});
    expect(listed.tickets.map((t) => t.subject)).toEqual(['Printer on fire']);
    const updated = await ann.tickets.update.mutate({ ticketId: listed.tickets[0]!.id, priority: 'urgent' });
    expect(updated.priority).toBe('urgent');
    await ann.comments.add.mutate({ ticketId: listed.tickets[0]!.id, body: 'On it' });
    expect((await ann.comments.list.query({ ticketId: listed.tickets[0]!.id })).comments.map((c) => c.body)).toContain('On it');
    const others = (await allTickets()).filter((t) => t.org !== 'acme' || t.workspace !== 'support');
    expect(others.map((t) => t.subject).sort()).toEqual(['Cannot sign in', 'Invoice twice']);
  });
});
