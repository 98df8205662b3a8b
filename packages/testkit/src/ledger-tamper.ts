import { dialectOf } from '@covenant/db';
import { sql, type Kysely } from 'kysely';

/**
 * What an attacker with the owner's access to the database does first: switch the append-only triggers off.
 * SQLite has no way to disable a trigger, so they are dropped; PostgreSQL disables the user triggers of
 * both ledger tables (`alter table … disable trigger user`). Either way the store itself is not involved.
 * Returns how the careful attacker puts them back (the same SQL text on SQLite), so that a store opened
 * later finds the schema it expects and has to catch the edit by its contents.
 *
 * @example
 * ```ts
 * const restore = await disableAppendOnly(owner);
 * await owner.deleteFrom('ledger_entries').where('seq', '>=', 2).execute();
 * await restore(); // the store must now find the cut by what the log holds
 * ```
 */
export async function disableAppendOnly(owner: Kysely<any>): Promise<() => Promise<void>> {
  if (dialectOf(owner) === 'postgres') {
    for (const table of ['ledger_entries', 'ledger_checkpoints']) await sql`alter table ${sql.table(table)} disable trigger user`.execute(owner);
    return async () => {
      for (const table of ['ledger_entries', 'ledger_checkpoints']) await sql`alter table ${sql.table(table)} enable trigger user`.execute(owner);
    };
  }
  const { rows } = await sql<{ name: string; sql: string }>`select name, sql from sqlite_master
    where type = 'trigger' and tbl_name in ('ledger_entries', 'ledger_checkpoints') order by name`.execute(owner);
  for (const { name } of rows) await sql`drop trigger ${sql.id(name)}`.execute(owner);
  return async () => {
    for (const row of rows) await sql.raw(row.sql).execute(owner);
  };
}
