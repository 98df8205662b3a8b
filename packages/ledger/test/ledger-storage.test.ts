// The writer refuses to sign over a ledger whose append-only triggers were taken away (issue 12 §4). On SQLite
// any connection may drop a trigger or a table, so the store verifies its tables and triggers when it opens
// and again before every signature (ADR 0013). Each attack here is made through another connection on the
// same file: before the store opens, and while it runs.
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaAlteredError } from '@covenant/db';
import { createLedgerStore, verifyLedger, type LedgerTables } from '../src/index.ts';
import { ORIGIN, VERIFY, createTempDatabases, sample, signer } from './ledger-fixtures.ts';

const temp = createTempDatabases();
afterEach(() => temp.dispose());

/** What the attacker does through their own connection, and what the store then names. */
const ATTACKS = [
  {
    name: 'DROP TRIGGER',
    run: (db: Kysely<any>) => sql`drop trigger ledger_entries_no_delete`.execute(db),
    found: [{ type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' }],
  },
  {
    name: 'a trigger replaced by a no-op of the same name',
    run: async (db: Kysely<any>) => {
      await sql`drop trigger ledger_checkpoints_no_update`.execute(db);
      await sql`create trigger ledger_checkpoints_no_update before update on ledger_checkpoints begin select 1; end`.execute(db);
    },
    found: [{ type: 'trigger', name: 'ledger_checkpoints_no_update', problem: 'altered' }],
  },
  {
    name: 'DROP TABLE and a new table of the same definition (rows copied, no triggers)',
    run: async (db: Kysely<any>) => {
      const { rows } = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'ledger_checkpoints'`.execute(db);
      await sql`create table kept as select * from ledger_checkpoints`.execute(db);
      await sql`drop table ledger_checkpoints`.execute(db);
      await sql.raw(rows[0]!.sql).execute(db);
      await sql`insert into ledger_checkpoints select * from kept`.execute(db);
      await sql`drop table kept`.execute(db);
    },
    found: [
      { type: 'trigger', name: 'ledger_checkpoints_no_delete', problem: 'missing' },
      { type: 'trigger', name: 'ledger_checkpoints_no_replace', problem: 'missing' },
      { type: 'trigger', name: 'ledger_checkpoints_no_update', problem: 'missing' },
    ],
  },
].map((attack) => [attack.name, attack] as const);

async function counts(db: Kysely<LedgerTables>): Promise<{ entries: number; checkpoints: number }> {
  const entries = (await db.selectFrom('ledger_entries').select('seq').execute()).length;
  const checkpoints = (await db.selectFrom('ledger_checkpoints').select('size').execute()).length;
  return { entries, checkpoints };
}

const sorted = (differences: ReadonlyArray<{ name: string }>) => [...differences].sort((a, b) => a.name.localeCompare(b.name));

describe('the ledger store refuses to sign over altered storage (SQLite)', () => {
  it.each(ATTACKS)('%s before start-up: the store refuses to open, naming what differs (ERR_DB_SCHEMA_ALTERED)', async (_name, attack) => {
    const url = temp.path();
    const db = await temp.open(url);
    await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0)]);
    await attack.run(await temp.open(url));
    const error = await createLedgerStore({ db, origin: ORIGIN, signer }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaAlteredError);
    expect(error).toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED' });
    expect(sorted((error as SchemaAlteredError).differences)).toEqual(attack.found);
    for (const difference of attack.found) expect((error as Error).message).toContain(`trigger ${difference.name} ${difference.problem}`);
  });

  it.each(ATTACKS)('%s while the store runs: the next batch is refused and rolled back, and nothing is signed from then on', async (_name, attack) => {
    const url = temp.path();
    const db = await temp.open(url);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    expect(await store.append([sample(0), sample(1)])).toEqual([0, 1]);
    await attack.run(await temp.open(url));
    const before = await counts(db);
    const refused = await Promise.allSettled([store.append([sample(2)]), store.transact(async (tx) => tx.append([sample(3)]))]);
    for (const result of refused) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason as SchemaAlteredError;
      expect(reason).toBeInstanceOf(SchemaAlteredError);
      expect(sorted(reason.differences)).toEqual(attack.found);
    }
    // Fail-stop: later batches are refused too, without a look at the schema, and nothing is written.
    await expect(store.append([sample(4)])).rejects.toBeInstanceOf(SchemaAlteredError);
    expect(await counts(db)).toEqual(before);
    expect(before).toEqual({ entries: 2, checkpoints: 1 });
    // The log itself is intact: the store refused before an entry could be lost.
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
  });

  it('the check runs after the units of work, so a unit that drops a trigger (and deletes) has its whole batch refused and undone', async () => {
    const url = temp.path();
    const db = await temp.open(url);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    await store.append([sample(0), sample(1)]);
    const batch = await Promise.allSettled([
      store.append([sample(2)]),
      store.transact(async (tx) => {
        await sql`drop trigger ledger_entries_no_delete`.execute(tx.db);
        // The first entry: the gap-free insert trigger, which looks at the last one, does not notice.
        await sql`delete from ledger_entries where seq = 0`.execute(tx.db);
        tx.append([sample(3)]);
      }),
    ]);
    for (const result of batch) expect(result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_DB_SCHEMA_ALTERED' } });
    // Rolled back whole: the entry is there, the trigger is back, and a store opened anew goes on.
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 1 });
    const again = await createLedgerStore({ db: await temp.open(url), origin: ORIGIN, signer });
    expect(await again.append([sample(4)])).toEqual([2]);
  });

  it('a store opened without a signer signs nothing, and checks nothing: it still serves proofs of an altered file', async () => {
    const url = temp.path();
    const db = await temp.open(url);
    await (await createLedgerStore({ db, origin: ORIGIN, signer })).append([sample(0)]);
    await sql`drop trigger ledger_entries_no_update`.execute(db);
    const reader = await createLedgerStore({ db, origin: ORIGIN });
    expect((await reader.inclusionBundle(0)).leafIndex).toBe(0);
  });

  it('refuses a non-boolean unsafeAllowPrivilegedRole with TypeError', async () => {
    const db = await temp.open();
    await expect(createLedgerStore({ db, origin: ORIGIN, signer, unsafeAllowPrivilegedRole: 'yes' as never })).rejects.toThrow(
      /"unsafeAllowPrivilegedRole" must be a boolean/,
    );
  });

  it('refuses a verifierKey beside a signer, or one that is not a name and a 32-byte public key, with TypeError', async () => {
    const db = await temp.open();
    const verifierKey = { name: signer.name, publicKey: signer.publicKey };
    await expect(createLedgerStore({ db, origin: ORIGIN, signer, verifierKey })).rejects.toThrow(/"signer" or "verifierKey", not both/);
    for (const bad of [{ ...verifierKey, name: '' }, { ...verifierKey, publicKey: new Uint8Array(31) }, { name: signer.name }, 'key']) {
      await expect(createLedgerStore({ db, origin: ORIGIN, verifierKey: bad as never })).rejects.toThrow(/"verifierKey" must be/);
    }
  });
});
