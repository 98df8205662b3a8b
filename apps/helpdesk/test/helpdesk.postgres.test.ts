// The helpdesk on PostgreSQL: createService on a postgres:// URL (migration 1001-helpdesk in its PostgreSQL
// form), the demo seed, and a few behaviours over HTTP with the generated client. Runs when COVENANT_TEST_PG
// is set (see @covenant/testkit/postgres), in a schema of its own, dropped afterwards.
import { randomUUID } from 'node:crypto';
import { createDatabase } from '@covenant/db';
import { decodeEntry, verifyLedger } from '@covenant/ledger';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from '../src/database.ts';
import { isUniqueViolation } from '../src/helpdesk/scope.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { expectRefused } from './refusals.ts';

const baseUrl = postgresTestUrl();

let schema: PostgresTestDatabase | undefined;
let helpdesk: Helpdesk | undefined;
/** The owner's connection (the test superuser): the service's own role sees no helpdesk row outside a tenant. */
let owner: Kysely<any> | undefined;
beforeAll(async () => {
  if (baseUrl === undefined) return;
  schema = await postgresTestDatabase(baseUrl);
  helpdesk = await startHelpdesk({ databaseUrl: schema.servingUrl, migrationDatabaseUrl: schema.url });
  owner = createDatabase<any>({ url: schema.url });
});
afterAll(async () => {
  await helpdesk?.close();
  await owner?.destroy();
  await schema?.drop();
});

const tag = (): string => randomUUID().slice(0, 8);
const hd = (): Helpdesk => helpdesk!;

describe.skipIf(baseUrl === undefined)('the helpdesk on PostgreSQL', () => {
  it('takes a postgres:// COVENANT_DATABASE_URL as is, and migrates 1001-helpdesk in its PostgreSQL form', async () => {
    expect(databaseUrl({ COVENANT_DATABASE_URL: schema!.url })).toBe(schema!.url);
    expect(databaseUrl({ COVENANT_DATABASE_URL: 'postgresql://db.internal/helpdesk' })).toBe('postgresql://db.internal/helpdesk');
    const columns = await sql<{ table_name: string; column_name: string; data_type: string; is_identity: string }>`
      select table_name, column_name, data_type, is_identity from information_schema.columns
      where table_schema = ${schema!.schema} and table_name like 'helpdesk_%' and column_name in ('seq', 'id', 'internal')
      order by table_name, column_name`.execute(owner!);
    expect(columns.rows.map((c) => [c.table_name, c.column_name, c.data_type, c.is_identity])).toEqual([
      ['helpdesk_comments', 'id', 'text', 'NO'],
      ['helpdesk_comments', 'internal', 'bigint', 'NO'],
      ['helpdesk_comments', 'seq', 'bigint', 'YES'],
      ['helpdesk_customers', 'id', 'text', 'NO'],
      ['helpdesk_customers', 'seq', 'bigint', 'YES'],
      ['helpdesk_tickets', 'id', 'text', 'NO'],
      ['helpdesk_tickets', 'seq', 'bigint', 'YES'],
    ]);
    const constraints = await sql<{ conname: string }>`select conname from pg_constraint c join pg_namespace n on n.oid = c.connamespace
      where n.nspname = ${schema!.schema} and conname like 'helpdesk_%' and contype in ('u', 'f') order by conname`.execute(owner!);
    expect(constraints.rows.map((c) => c.conname)).toEqual(
      expect.arrayContaining(['helpdesk_comments_ticket', 'helpdesk_tickets_customer', 'helpdesk_tickets_external_ref', 'helpdesk_customers_email']),
    );
  });

  it('creates and lists tickets, each call an intent and an ok outcome on the ledger', async () => {
    const ann = await hd().as('ann');
    const customer = await ann.customers.create.mutate({ name: `Customer ${tag()}`, email: `c-${tag()}@example.com` });
    const subjects = [`Printer ${tag()}`, `Network ${tag()}`];
    const created = [];
    for (const subject of subjects) created.push(await ann.tickets.create.mutate({ customer: { id: customer.id }, subject, body: 'Help' }));
    const listed = await ann.tickets.list.query({ limit: 100 });
    expect(listed.tickets.map((t) => t.id)).toEqual(expect.arrayContaining(created.map((t) => t.id)));
    expect(await ann.tickets.get.query({ ticketId: created[0]!.id })).toMatchObject({ subject: subjects[0], status: 'open' });

    await hd().service.ledger.flush();
    const rows = await hd().service.db.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
    const entries = rows.map((row) => decodeEntry(new Uint8Array(row.body)));
    const creates = entries.filter((e) => e.action === 'tickets.create');
    expect(creates.filter((e) => e.kind === 'outcome').map((e) => e.outcome)).toEqual(expect.arrayContaining(['ok', 'ok']));
    // On PostgreSQL the intent names its writer (the service's audit port).
    expect(creates.find((e) => e.kind === 'intent')!.data).toEqual({ call: 'mutation', writer: hd().service.audit.writer });
    expect(await verifyLedger(hd().service.db, { origin: hd().signer.name, keyName: hd().signer.name, publicKey: hd().signer.publicKey })).toMatchObject({
      ok: true,
      size: entries.length,
    });
  });

  it('DUPLICATE_REFERENCE (409) from SQLSTATE 23505 rolls back the customer created in the same call', async () => {
    const ann = await hd().as('ann');
    const ref = `INC-${tag()}`;
    const first = await ann.customers.create.mutate({ name: `First ${tag()}`, email: `f-${tag()}@example.com` });
    await ann.tickets.create.mutate({ customer: { id: first.id }, subject: 'First', body: 'x', externalRef: ref });
    const email = `rolled-back-${tag()}@example.com`;
    const error = await expectRefused(
      ann.tickets.create.mutate({ customer: { new: { name: 'Rolled Back', email } }, subject: 'Second', body: 'y', externalRef: ref }),
      409,
      'DUPLICATE_REFERENCE',
    );
    expect(await owner!.selectFrom('helpdesk_customers').select('id').where('email', '=', email).execute()).toEqual([]);
    await expect(ann.customers.create.mutate({ name: 'Rolled Back', email })).resolves.toMatchObject({ email });
    await hd().service.ledger.flush();
    const rows = await hd().service.db.selectFrom('ledger_entries').select('body').where('request_id', '=', error.requestId!).orderBy('seq').execute();
    expect(rows.map((row) => decodeEntry(new Uint8Array(row.body))).map((e) => [e.kind, e.outcome, e.data])).toEqual([
      ['intent', null, { call: 'mutation', writer: hd().service.audit.writer }],
      ['outcome', 'failed', { code: 'DUPLICATE_REFERENCE' }],
    ]);
  });

  it('recognises the unique violation by its key columns, not by any 23505', async () => {
    let caught: unknown;
    try {
      await sql`insert into helpdesk_customers (id, org, workspace, name, email, created_at, created_by)
        select id, org, workspace, name, email, created_at, created_by from helpdesk_customers limit 1`.execute(owner!);
    } catch (error) {
      caught = error;
    }
    expect((caught as { code?: string }).code).toBe('23505');
    expect(isUniqueViolation(caught, 'id')).toBe(true);
    expect(isUniqueViolation(caught, 'external_ref')).toBe(false);
  });

  it('keeps tenants apart: another org gets TICKET_NOT_FOUND (404) for a ticket id', async () => {
    const ann = await hd().as('ann');
    const customer = await ann.customers.create.mutate({ name: `Acme ${tag()}`, email: `a-${tag()}@example.com` });
    const ticket = await ann.tickets.create.mutate({ customer: { id: customer.id }, subject: 'Private', body: 'x' });
    const gus = await hd().as('gus');
    await expectRefused(gus.tickets.get.query({ ticketId: ticket.id }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(gus.comments.add.mutate({ ticketId: ticket.id, body: 'Hijacked' }), 404, 'TICKET_NOT_FOUND');
    expect((await gus.tickets.list.query({ limit: 100 })).tickets.map((t) => t.id)).not.toContain(ticket.id);
    expect(await ann.tickets.get.query({ ticketId: ticket.id })).toMatchObject({ subject: 'Private' });
  });
});
