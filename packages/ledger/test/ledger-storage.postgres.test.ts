// On PostgreSQL a writable ledger store serves only through a role that cannot change its tables (ADR 0013):
// the owner, a superuser or any role with more than SELECT and INSERT is refused at start-up, unless the
// development opt-out says otherwise. Runs when COVENANT_TEST_PG is set; a schema of its own per test.
import { PrivilegedRoleError } from '@covenant/db';
import { postgresSchemasPerTest, postgresTestUrl } from '@covenant/testkit/postgres';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createLedgerStore, verifyLedger } from '../src/index.ts';
import { ORIGIN, VERIFY, sample, signer } from './ledger-fixtures.ts';

const baseUrl = postgresTestUrl();

const { migrated: setup } = postgresSchemasPerTest(baseUrl);

describe.skipIf(baseUrl === undefined)('the ledger store on PostgreSQL serves only as a role that can only append', () => {
  it('refuses to open for writing as the owner of the tables (here a superuser): ERR_DB_ROLE_PRIVILEGED, nothing written', async () => {
    const { owner } = await setup();
    const error = await createLedgerStore({ db: owner, origin: ORIGIN, signer }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrivilegedRoleError);
    expect(error).toMatchObject({ code: 'ERR_DB_ROLE_PRIVILEGED', findings: [{ privilege: 'SUPERUSER' }] });
    expect(await owner.selectFrom('ledger_entries').select('seq').execute()).toEqual([]);
    // Read-only (no signer), it signs nothing: an operator may read the log as anyone.
    expect(await (await createLedgerStore({ db: owner, origin: ORIGIN })).size()).toBe(0);
  });

  it('refuses a serving role granted more than SELECT and INSERT on a ledger table', async () => {
    const { owner, serving } = await setup();
    const { rows } = await sql<{ role: string }>`select current_user::text as role`.execute(serving);
    await sql.raw(`grant delete on ledger_checkpoints to ${rows[0]!.role}`).execute(owner);
    await expect(createLedgerStore({ db: serving, origin: ORIGIN, signer })).rejects.toMatchObject({
      code: 'ERR_DB_ROLE_PRIVILEGED',
      findings: [{ privilege: 'DELETE', on: 'ledger_checkpoints' }],
    });
    await sql.raw(`revoke delete on ledger_checkpoints from ${rows[0]!.role}`).execute(owner);
    expect(await (await createLedgerStore({ db: serving, origin: ORIGIN, signer })).append([sample(0)])).toEqual([0]);
  });

  it('unsafeAllowPrivilegedRole (development, tests) lets the owner serve; the schema check still runs, before each signature too', async () => {
    const { owner } = await setup();
    const store = await createLedgerStore({ db: owner, origin: ORIGIN, signer, unsafeAllowPrivilegedRole: true });
    expect(await store.append([sample(0)])).toEqual([0]);
    // What the opt-out allows: a unit of work on the owner's connection can switch the triggers off…
    const refused = await store
      .transact(async (tx) => {
        await sql`alter table ledger_entries disable trigger all`.execute(tx.db);
        tx.append([sample(1)]);
      })
      .catch((e: unknown) => e);
    // …but the store does not sign over it: the batch is refused and rolled back (DDL included).
    expect(refused).toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
    const { rows } = await sql<{ enabled: string }>`select distinct tgenabled as enabled from pg_trigger where tgrelid = 'ledger_entries'::regclass and not tgisinternal`.execute(owner);
    expect(rows).toEqual([{ enabled: 'O' }]);
    expect(await verifyLedger(owner, VERIFY)).toEqual({ ok: true, size: 1, checkpoints: 1 });
  });
});
