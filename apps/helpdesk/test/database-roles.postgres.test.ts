// The helpdesk on PostgreSQL with two roles (ADR 0013, issue 12 §4): migrations run as the owner of the
// tables (COVENANT_MIGRATION_DATABASE_URL, or `npm run migrate`), the service serves as a member of
// covenant_service (COVENANT_DATABASE_URL), whose own connection cannot take the ledger's triggers away.
// Runs when COVENANT_TEST_PG is set; a schema of its own per test, and roles dropped afterwards.
import { randomBytes } from 'node:crypto';
import { MigrationError, PrivilegedRoleError, SERVICE_ROLE, createDatabase } from '@covenant/db';
import { verifyLedger } from '@covenant/ledger';
import { createTestIssuer } from '@covenant/testkit';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../src/database.ts';
import { createRouter } from '../src/generated/router.ts';
import { createHandlers } from '../src/handlers.ts';
import { createService, type Service } from '../src/service.ts';
import { TEST_LEDGER_SIGNER, startHelpdesk } from './helpdesk-harness.ts';

const baseUrl = postgresTestUrl();
const VERIFY = { origin: TEST_LEDGER_SIGNER.name, keyName: TEST_LEDGER_SIGNER.name, publicKey: TEST_LEDGER_SIGNER.publicKey };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratch(): Promise<{ schema: PostgresTestDatabase; owner: Kysely<any> }> {
  const schema = await postgresTestDatabase(baseUrl);
  cleanups.push(() => schema.drop());
  const owner = createDatabase<any>({ url: schema.url });
  cleanups.push(() => owner.destroy());
  return { schema, owner };
}

/** A LOGIN role of this test's (`%` in `statements` is its name), dropped after the schema; its URL on `schema`. */
async function loginRole(schema: PostgresTestDatabase, owner: Kysely<any>, suffix: string, statements: ReadonlyArray<string>): Promise<string> {
  const name = `${schema.schema}_${suffix}`;
  const password = randomBytes(12).toString('hex');
  await sql.raw(`create role ${name} login password '${password}'`).execute(owner);
  // Registered before the schema's own cleanup runs (cleanups run last-in first-out): dropped after it.
  cleanups.splice(0, 0, async () => {
    const admin = createDatabase<any>({ url: baseUrl! });
    try {
      await sql.raw(`drop owned by ${name}`).execute(admin);
      await sql.raw(`drop role ${name}`).execute(admin);
    } finally {
      await admin.destroy();
    }
  });
  for (const statement of statements) await sql.raw(statement.replaceAll('%', name)).execute(owner);
  const url = new URL(schema.url);
  url.username = name;
  url.password = password;
  return url.toString();
}

async function service(options: { databaseUrl: string; migrationDatabaseUrl?: string }): Promise<Service> {
  const issuer = await createTestIssuer();
  const started = await createService({ identity: issuer.verifierOptions(), logger: pino({ level: 'silent' }), ledgerSigner: TEST_LEDGER_SIGNER, ...options });
  cleanups.push(() => started.close());
  return started;
}

describe.skipIf(baseUrl === undefined)('the helpdesk on PostgreSQL: migrations as the owner, service as covenant_service', () => {
  it('refuses to serve as the owner of the tables (here the superuser, as COVENANT_DATABASE_URL used to be): ERR_DB_ROLE_PRIVILEGED', async () => {
    const { schema } = await scratch();
    const error = await service({ databaseUrl: schema.url, migrationDatabaseUrl: schema.url }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrivilegedRoleError);
    expect(error).toMatchObject({ code: 'ERR_DB_ROLE_PRIVILEGED', findings: [{ privilege: 'SUPERUSER' }] });
  });

  it('refuses to serve a database that is not migrated (its role cannot migrate): MigrationError naming what is pending', async () => {
    const { schema } = await scratch();
    const error = await service({ databaseUrl: schema.servingUrl }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/pending: 0001-rbac, 0002-ledger, 0003-revocations, 0004-service-role, 0005-ledger-checkpoint-covers-log, 1001-helpdesk, 1002-helpdesk-tenancy, 1003-helpdesk-service-role/);
    await expect(service({ databaseUrl: schema.servingUrl, migrationDatabaseUrl: 'data/owner.db' })).rejects.toBeInstanceOf(TypeError);
  });

  it('refuses a serving role that could escape row-level security (BYPASSRLS)', async () => {
    const { schema, owner } = await scratch();
    await migrateDatabase(schema.url);
    const url = await loginRole(schema, owner, 'bypass', [`grant ${SERVICE_ROLE} to %`, 'alter role % bypassrls']);
    await expect(service({ databaseUrl: url })).rejects.toMatchObject({ code: 'ERR_DB_ROLE_PRIVILEGED', findings: [{ privilege: 'BYPASSRLS' }] });
  });

  it('`npm run migrate` as a non-superuser owner (CREATEROLE), then the service with the serving role only: it serves, and the ledger verifies', async () => {
    const { schema, owner } = await scratch();
    const ownerUrl = await loginRole(schema, owner, 'owner', ['alter role % createrole', `alter schema ${schema.schema} owner to %`]);
    expect(await migrateDatabase(ownerUrl)).toEqual(['0001-rbac', '0002-ledger', '0003-revocations', '0004-service-role', '0005-ledger-checkpoint-covers-log', '1001-helpdesk', '1002-helpdesk-tenancy', '1003-helpdesk-service-role']);
    const helpdesk = await startHelpdesk({ databaseUrl: schema.servingUrl });
    cleanups.push(() => helpdesk.close());
    const ann = await helpdesk.as('ann');
    const created = await ann.tickets.create.mutate({ customer: { new: { name: 'Olga Owner', email: 'olga@example.com' } }, subject: 'Two roles', body: 'x' });
    expect((await ann.tickets.get.query({ ticketId: created.id })).subject).toBe('Two roles');
    await helpdesk.service.ledger.flush();
    expect(await verifyLedger(helpdesk.service.db, VERIFY)).toMatchObject({ ok: true });
  });

  it("the service's own connection, and a handler on it that resets its role, cannot disable the ledger's triggers and delete: PostgreSQL refuses", async () => {
    const { schema, owner } = await scratch();
    const helpdesk = await startHelpdesk({ databaseUrl: schema.servingUrl, migrationDatabaseUrl: schema.url });
    cleanups.push(() => helpdesk.close());
    await helpdesk.service.ledger.flush();
    const before = (await owner.selectFrom('ledger_entries').select('seq').execute()).length;
    const db = helpdesk.service.db as unknown as Kysely<any>;
    for (const attack of [
      'alter table ledger_entries disable trigger all',
      'delete from ledger_entries',
      'truncate ledger_entries, ledger_checkpoints',
      'drop trigger ledger_entries_no_delete on ledger_entries',
      'update ledger_checkpoints set note = note',
      'create temporary table ledger_entries (seq bigint)',
    ]) {
      const code = await sql.raw(attack).execute(db).then(() => null, (e: { code?: string }) => e.code);
      expect({ attack, code }).toEqual({ attack, code: '42501' });
    }

    // The same from inside an audited handler: it leaves the tenant role and tries it on the batch's transaction.
    const { service } = helpdesk;
    const handlers = createHandlers({ rbac: service.rbac, ledger: service.ledger, revocations: service.revocations, clock: { now: () => new Date() } });
    let refusal: unknown;
    const router = createRouter(service.runtime, {
      ...handlers,
      customers: {
        ...handlers.customers,
        create: async ({ ctx }) => {
          await sql`reset role`.execute(ctx.db);
          refusal = await sql`alter table ledger_entries disable trigger all`.execute(ctx.db).then(() => null, (e: unknown) => e);
          await sql`delete from ledger_entries`.execute(ctx.db);
          throw new Error('unreachable');
        },
      },
    });
    const caller = service.runtime.createCaller(router, { token: await helpdesk.token('ann') });
    await expect(caller.customers.create({ name: 'Mallory', email: 'mallory@example.com' })).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR' });
    expect(refusal).toMatchObject({ code: '42501' });
    await service.ledger.flush();
    const after = (await owner.selectFrom('ledger_entries').select('seq').orderBy('seq').execute()).map((r) => r.seq);
    // Nothing deleted: the call's intent and its failed outcome were appended, the rest is as it was.
    expect(after).toEqual(Array.from({ length: before + 2 }, (_, i) => i));
    expect(await verifyLedger(owner, VERIFY)).toMatchObject({ ok: true, size: before + 2 });
    const { rows } = await sql<{ enabled: string }>`select distinct tgenabled as enabled from pg_trigger where tgrelid = 'ledger_entries'::regclass and not tgisinternal`.execute(owner);
    expect(rows).toEqual([{ enabled: 'O' }]);
  });
});
