import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.ts';
import { replaceInsertCheck } from './postgres.ts';

/**
 * A checkpoint covers exactly the entries the log holds when it is inserted: its `size` must be the number
 * of entries (`max(seq) + 1`), as well as grow. Every writer inserts a batch's entries, then the batch's
 * checkpoint, in one transaction, so its own checkpoint always passes; a checkpoint inserted by anyone else
 * while a batch runs does not — the batch's entries are not committed, so another connection counts fewer —
 * and neither does one inserted inside a batch before its entries (a trigger planted on an application
 * table, a unit of work's raw SQL). Before this, a checkpoint row for a size between a batch's start and its
 * end committed with the batch, unseen, and made the log unverifiable and the store unable to restart.
 *
 * SQLite: the trigger `ledger_checkpoints_no_replace` is recreated with the new condition. PostgreSQL: its
 * function is replaced.
 */
export const ledgerCheckpointCoversLogMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const refuse =
      'new.size is null or new.size <= (select coalesce(max(size), -1) from ledger_checkpoints) ' +
      'or new.size <> (select coalesce(max(seq) + 1, 0) from ledger_entries)';
    const message = 'ledger_checkpoints is append-only, grows, and covers exactly the entries of the log';
    if (dialectOf(db) === 'postgres') {
      await replaceInsertCheck(db, 'ledger_checkpoints_no_replace', refuse, message);
      return;
    }
    await sql`drop trigger ledger_checkpoints_no_replace`.execute(db);
    await sql`create trigger ledger_checkpoints_no_replace before insert on ledger_checkpoints
      when ${sql.raw(refuse)}
      begin select raise(abort, ${sql.lit(message)}); end`.execute(db);
  },
};
