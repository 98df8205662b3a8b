import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, withSavepoint } from '../src/index.ts';
import { SAVEPOINT_NAMES } from '../src/savepoint.ts';

interface Tables {
  notes: { id: number; text: string };
}

const open: Array<Kysely<Tables>> = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
});

async function notesDatabase(): Promise<Kysely<Tables>> {
  const db = createDatabase<Tables>({ url: ':memory:' });
  open.push(db);
  await db.schema
    .createTable('notes')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('text', 'text', (c) => c.notNull())
    .execute();
  return db;
}

const insert = (db: Kysely<Tables>, id: number): Promise<unknown> => db.insertInto('notes').values({ id, text: `note ${id}` }).execute();

/** withSavepoint with the table types spelled out (inference from a `Transaction<Tables>` widens them). */
const savepoint = <T>(db: Kysely<Tables>, work: (db: Kysely<Tables>) => Promise<T>): Promise<T> => withSavepoint<Tables, T>(db, work);

async function ids(db: Kysely<Tables>): Promise<number[]> {
  return (await db.selectFrom('notes').select('id').orderBy('id').execute()).map((row) => row.id);
}

describe('withSavepoint', () => {
  it("commits the work's writes into the enclosing transaction and returns the work's value", async () => {
    const db = await notesDatabase();
    const value = await db.transaction().execute(async (trx) => {
      await insert(trx, 1);
      const inner = await savepoint(trx, async (sp) => {
        await insert(sp, 2);
        // The work sees the enclosing transaction's writes and its own.
        expect(await ids(sp)).toEqual([1, 2]);
        return 'done';
      });
      expect(await ids(trx)).toEqual([1, 2]);
      return inner;
    });
    expect(value).toBe('done');
    expect(await ids(db)).toEqual([1, 2]);
  });

  it('hands the work the same handle, bound to the enclosing transaction', async () => {
    const db = await notesDatabase();
    await db.transaction().execute(async (trx) => {
      const seen = await savepoint(trx, async (sp) => sp);
      expect(seen).toBe(trx);
      // Still inside the enclosing transaction after the savepoint was released: SQLite refuses a nested BEGIN.
      await expect(sql`begin`.execute(trx)).rejects.toThrow(/within a transaction/);
    });
  });

  it("a throwing work rolls back only its own writes and rethrows the same error; the transaction commits the rest", async () => {
    const db = await notesDatabase();
    const boom = new Error('refused');
    await db.transaction().execute(async (trx) => {
      await insert(trx, 1);
      let caught: unknown;
      try {
        await savepoint(trx, async (sp) => {
          await insert(sp, 2);
          await insert(sp, 3);
          expect(await ids(sp)).toEqual([1, 2, 3]);
          throw boom;
        });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBe(boom);
      // Earlier writes of the enclosing transaction survive; the work's writes are gone.
      expect(await ids(trx)).toEqual([1]);
      // The enclosing transaction is still usable.
      await insert(trx, 4);
    });
    expect(await ids(db)).toEqual([1, 4]);
  });

  it('rethrows non-Error values as they are', async () => {
    const db = await notesDatabase();
    const reason = { code: 'NOT_AN_ERROR' };
    await db.transaction().execute(async (trx) => {
      await expect(
        savepoint(trx, async (sp) => {
          await insert(sp, 1);
          throw reason;
        }),
      ).rejects.toBe(reason);
      expect(await ids(trx)).toEqual([]);
    });
  });

  it('nested savepoints roll back independently: a failing inner one leaves the outer one and the transaction intact', async () => {
    const db = await notesDatabase();
    const inner = new Error('inner failed');
    await db.transaction().execute(async (trx) => {
      await insert(trx, 1);
      await savepoint(trx, async (outer) => {
        await insert(outer, 2);
        await expect(
          savepoint(outer, async (sp) => {
            await insert(sp, 3);
            throw inner;
          }),
        ).rejects.toBe(inner);
        expect(await ids(outer)).toEqual([1, 2]);
        await savepoint(outer, async (sp) => {
          await insert(sp, 4);
        });
        await insert(outer, 5);
      });
    });
    expect(await ids(db)).toEqual([1, 2, 4, 5]);
  });

  it("a failing outer savepoint rolls back its released inner savepoints' writes too", async () => {
    const db = await notesDatabase();
    const outerError = new Error('outer failed');
    await db.transaction().execute(async (trx) => {
      await insert(trx, 1);
      await expect(
        savepoint(trx, async (outer) => {
          await insert(outer, 2);
          await savepoint(outer, async (sp) => {
            await insert(sp, 3);
          });
          expect(await ids(outer)).toEqual([1, 2, 3]);
          throw outerError;
        }),
      ).rejects.toBe(outerError);
      expect(await ids(trx)).toEqual([1]);
      // A later savepoint after the rollback works as usual.
      await savepoint(trx, async (sp) => insert(sp, 6));
    });
    expect(await ids(db)).toEqual([1, 6]);
  });

  it('the enclosing transaction still owns the outcome: rolling it back discards writes of released savepoints', async () => {
    const db = await notesDatabase();
    const abort = new Error('abort the transaction');
    await expect(
      db.transaction().execute(async (trx) => {
        await insert(trx, 1);
        await savepoint(trx, async (sp) => insert(sp, 2));
        throw abort;
      }),
    ).rejects.toBe(abort);
    expect(await ids(db)).toEqual([]);
  });

  it('works on a connection in a manually begun transaction (as the ledger store uses it)', async () => {
    const db = await notesDatabase();
    await db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      await insert(conn, 1);
      await expect(
        savepoint(conn, async (sp) => {
          await insert(sp, 2);
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      await savepoint(conn, async (sp) => insert(sp, 3));
      await sql`commit`.execute(conn);
    });
    expect(await ids(db)).toEqual([1, 3]);
  });

  it('many sequential savepoints in one transaction each commit or roll back on their own', async () => {
    const db = await notesDatabase();
    await db.transaction().execute(async (trx) => {
      for (let id = 1; id <= 10; id += 1) {
        await savepoint(trx, async (sp) => {
          await insert(sp, id);
          if (id % 2 === 0) throw new Error(`even ${id}`);
        }).catch(() => undefined);
      }
    });
    expect(await ids(db)).toEqual([1, 3, 5, 7, 9]);
  });

  it('nesting deeper than the set of names (names repeat along the chain) still rolls back exactly the failing level', async () => {
    const db = await notesDatabase();
    const depth = 2 * SAVEPOINT_NAMES + 3;
    // Level `failAt` (sharing its name with levels SAVEPOINT_NAMES apart) fails after its inner levels were released.
    const failAt = SAVEPOINT_NAMES + 2;
    const nest = async (trx: Kysely<Tables>, level: number): Promise<void> => {
      await insert(trx, level);
      if (level < depth) {
        const inner = savepoint(trx, (sp) => nest(sp, level + 1));
        if (level + 1 === failAt) await inner.catch(() => undefined);
        else await inner;
      }
      if (level === failAt) throw new Error(`level ${level}`);
    };
    await db.transaction().execute((trx) => nest(trx, 1));
    // Levels before the failing one stay; the failing level and everything inside it are gone.
    expect(await ids(db)).toEqual(Array.from({ length: failAt - 1 }, (_, i) => i + 1));
  });
});
