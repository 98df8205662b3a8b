import { sql, type Kysely } from 'kysely';

/**
 * Savepoint names come from a small rotating set. Correctly nested savepoints would be right even with one
 * name (RELEASE and ROLLBACK TO act on the most recent savepoint of that name, which is the innermost);
 * distinct neighbouring names keep overlapping misuse (two units interleaved on one transaction) failing
 * loudly with "no such savepoint". A bounded set keeps the statements' text repeating, so the SQLite
 * statement cache prepares them once (a fresh name per call cost a prepare, ~10 µs, per statement).
 */
export const SAVEPOINT_NAMES = 16;

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
  counter = (counter + 1) % SAVEPOINT_NAMES;
  const name = sql.id(`covenant_sp_${counter}`);
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
