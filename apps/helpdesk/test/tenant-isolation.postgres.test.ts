// Tenant isolation in the database on PostgreSQL (ADR 0011): the helpdesk's handlers run as the role
// covenant_tenant with the caller's tenant set for the transaction, and row-level security (migration
// 1002-helpdesk-tenancy) confines every statement — even one a handler forgot to filter, even raw SQL — to
// the caller's tenant. The service serves as the schema's serving role (a member of covenant_service, not the
// owner: ADR 0013), which sees no helpdesk row outside a tenant scope; the test reads every row through the
// owner's connection (the test superuser, which bypasses RLS). Runs when COVENANT_TEST_PG is set.
import { createDatabase } from '@covenant/db';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { decodeEntry, verifyLedger } from '@covenant/ledger';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter } from '../src/generated/router.ts';
import { createHandlers } from '../src/handlers.ts';
import { toTicket } from '../src/helpdesk/tickets.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { expectRefused } from './refusals.ts';

const baseUrl = postgresTestUrl();

let schema: PostgresTestDatabase | undefined;
let helpdesk: Helpdesk | undefined;
let owner: Kysely<any> | undefined;
beforeAll(async () => {
  if (baseUrl === undefined) return;
  schema = await postgresTestDatabase(baseUrl);
  helpdesk = await startHelpdesk({ databaseUrl: schema.servingUrl, migrationDatabaseUrl: schema.url });
  owner = createDatabase<any>({ url: schema.url });
  const bob = await helpdesk.as('bob');
  await bob.tickets.create.mutate({ customer: { new: { name: 'Bea Billing', email: 'bea@example.com' } }, subject: 'Invoice twice', body: 'Help' });
});
afterAll(async () => {
  await helpdesk?.close();
  await owner?.destroy();
  await schema?.drop();
});

const hd = (): Helpdesk => helpdesk!;
const allTickets = () => owner!.selectFrom('helpdesk_tickets').select(['id', 'org', 'workspace', 'subject', 'priority']).orderBy('id').execute();

function buggyRouter() {
  const { service } = hd();
  const handlers = createHandlers({ rbac: service.rbac, ledger: service.ledger, revocations: service.revocations, clock: { now: () => new Date() } });
  return createRouter(service.runtime, {
    ...handlers,
    tickets: {
      ...handlers.tickets,
      // The bug: no tenant filter at all.
      list: async ({ ctx }) => {
        const rows = await ctx.db.selectFrom('helpdesk_tickets').selectAll().orderBy('seq').execute();
        return { tickets: rows.map(toTicket), next: null };
      },
      // The same bug in an audited mutation, in raw SQL: "touches" every ticket, then does the real update.
      update: async (args) => {
        await sql`update helpdesk_tickets set subject = subject || ' (touched)'`.execute(args.ctx.db);
        return handlers.tickets.update(args);
      },
    },
  });
}

describe.skipIf(baseUrl === undefined)('tenant isolation in the database (PostgreSQL: row-level security)', () => {
  it("migration 1002 forced RLS on the helpdesk tables; the owner sees every tenant's rows, the service's own role none outside a tenant scope", async () => {
    const tables = await sql<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>`
      select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema!.schema} and c.relname like 'helpdesk_%' and c.relkind = 'r' order by c.relname`.execute(hd().service.db);
    expect(tables.rows).toEqual([
      { relname: 'helpdesk_comments', relrowsecurity: true, relforcerowsecurity: true },
      { relname: 'helpdesk_customers', relrowsecurity: true, relforcerowsecurity: true },
      { relname: 'helpdesk_tickets', relrowsecurity: true, relforcerowsecurity: true },
    ]);
    const tenants = new Set((await allTickets()).map((t) => `${t.org}/${t.workspace}`));
    expect(tenants).toEqual(new Set(['acme/support', 'acme/billing', 'globex/support']));
    expect(await hd().service.db.selectFrom('helpdesk_tickets').select('id').execute()).toEqual([]);
  });

  it("a deliberately unfiltered query in a handler returns only the caller's tenant rows", async () => {
    const ann = hd().service.runtime.createCaller(buggyRouter(), { token: await hd().token('ann') });
    const listed = await ann.tickets.list({});
    expect(listed.tickets.map((t) => t.subject)).toEqual(['Printer on fire']);
    // gus (globex/support) gets globex's only; ada (acme, every workspace) gets both of acme's.
    const gus = hd().service.runtime.createCaller(buggyRouter(), { token: await hd().token('gus') });
    expect((await gus.tickets.list({})).tickets.map((t) => t.subject)).toEqual(['Cannot sign in']);
    const ada = hd().service.runtime.createCaller(buggyRouter(), { token: await hd().token('ada') });
    expect((await ada.tickets.list({})).tickets.map((t) => t.subject)).toEqual(['Printer on fire', 'Invoice twice']);
  });

  it('a table with no tenant set is empty to the tenant role: a missing setting sees nothing', async () => {
    const seen = await hd().service.db.transaction().execute(async (trx) => {
      await sql`set local role covenant_tenant`.execute(trx);
      return (await trx.selectFrom('helpdesk_tickets').select('id').execute()).length;
    });
    expect(seen).toBe(0);
    const blocked = await hd()
      .service.db.transaction()
      .execute(async (trx) => {
        await sql`set local role covenant_tenant`.execute(trx);
        await sql`select set_config('covenant.org', 'acme', true)`.execute(trx);
        return trx.selectFrom('ledger_entries').select('seq' as never).execute();
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(blocked).toMatchObject({ code: '42501' }); // permission denied: the role reaches the helpdesk tables only
  });

  it('an unfiltered UPDATE (raw SQL) in an audited handler changes only the caller tenant rows; the ledger batch still commits and verifies', async () => {
    const before = await allTickets();
    const mine = before.find((t) => t.org === 'acme' && t.workspace === 'support')!;
    const caller = hd().service.runtime.createCaller(buggyRouter(), { token: await hd().token('ann') });
    const updated = await caller.tickets.update({ ticketId: mine.id, priority: 'high' });
    expect(updated.priority).toBe('high');
    const after = await allTickets();
    for (const row of before) {
      const now = after.find((t) => t.id === row.id)!;
      if (row.org === 'acme' && row.workspace === 'support') expect(now.subject).toBe(`${row.subject} (touched)`);
      else expect(now).toEqual(row);
    }
    // The outcome was appended after the handler, in the same transaction, as the serving role.
    await hd().service.ledger.flush();
    const rows = await hd().service.db.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
    const updates = rows.map((row) => decodeEntry(new Uint8Array(row.body))).filter((e) => e.action === 'tickets.update');
    expect(updates.map((e) => [e.kind, e.outcome])).toEqual([
      ['intent', null],
      ['outcome', 'ok'],
    ]);
    const verified = await verifyLedger(hd().service.db, { origin: hd().signer.name, keyName: hd().signer.name, publicKey: hd().signer.publicKey });
    expect(verified).toMatchObject({ ok: true });
  });

  it('the real handlers work under RLS: create, list, update, comment, and a failed call rolls back cleanly', async () => {
    const ann = await hd().as('ann');
    const created = await ann.tickets.create.mutate({ customer: { new: { name: 'Rita RLS', email: 'rita@example.com' } }, subject: 'Under RLS', body: 'Hi' });
    const listed = await ann.tickets.list.query({});
    expect(listed.tickets.map((t) => t.subject)).toContain('Under RLS');
    await ann.tickets.update.mutate({ ticketId: created.id, priority: 'urgent' });
    await ann.comments.add.mutate({ ticketId: created.id, body: 'Looking' });
    expect((await ann.comments.list.query({ ticketId: created.id })).comments.map((c) => c.body)).toEqual(['Hi', 'Looking']);
    // A declared failure (a duplicate email) inside the scope, then a normal call on the same service.
    await expectRefused(ann.customers.create.mutate({ name: 'Rita again', email: 'rita@example.com' }), 409, 'EMAIL_TAKEN');
    expect((await ann.tickets.get.query({ ticketId: created.id })).priority).toBe('urgent');
    // gus cannot see it by id either.
    const gus = await hd().as('gus');
    await expectRefused(gus.tickets.get.query({ ticketId: created.id }), 404, 'TICKET_NOT_FOUND');
  });
});
