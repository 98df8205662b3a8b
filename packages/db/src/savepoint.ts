import { sql, type Kysely } from 'kysely';

let counter = 0;

/**
 * Runs `work` inside a savepoint of the transaction `db` is already in: if it throws, its writes are
 * rolled back (the enclosing transaction goes on) and the error is rethrown. This is how a unit of work
 * joins a transaction someone else owns — a handler inside the ledger's batch, an RBAC change inside an
 * audited call — where kysely's `transaction()` would open a second, independent one. `db` must be bound
 * to one connection that is inside a transaction (SAVEPOINT outside one would start its own on SQLite).
 * The same statements work on SQLite and PostgreSQL.
 *
 * @example
 * ```ts
 * await withSavepoint(trx, async (inner) => {
 *   await inner.insertInto('notes').values(row).execute();
 *   if (!valid(row)) throw new Error('refused'); // the insert is rolled back, trx stays usable
 * });
 * ```
 */
export async function withSavepoint<DB, T>(db: Kysely<DB>, work: (db: Kysely<DB>) => Promise<T>): Promise<T> {
  const name = sql.id(`covenant_sp_${++counter}`);
  await sql`savepoint ${name}`.execute(db);
  let result: T;
  try {
    result = await work(db);
  } catch (error) {
    // If the rollback itself fails the enclosing transaction is in an unknown state: that error wins, so
    // the owner aborts the transaction instead of committing half of this work.
    await sql`rollback to savepoint ${name}`.execute(db);
    await sql`release savepoint ${name}`.execute(db);
    throw error;
  }
  await sql`release savepoint ${name}`.execute(db);
  return result;
}
