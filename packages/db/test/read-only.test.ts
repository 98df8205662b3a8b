import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadOnlyViolationError, createDatabase, readOnly } from '../src/index.ts';

interface Tables {
  notes: { id: number; text: string };
}

let db: Kysely<Tables>;
let ro: Kysely<Tables>;
beforeEach(async () => {
  db = createDatabase<Tables>({ url: ':memory:' });
  await db.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('text', 'text').execute();
  await db.insertInto('notes').values({ id: 1, text: 'one' }).execute();
  ro = db.withPlugin(readOnly());
});
afterEach(() => db.destroy());

const count = async () => (await db.selectFrom('notes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;

describe('readOnly()', () => {
  it('lets selects through, including joins, subqueries and read-only CTEs', async () => {
    expect(await ro.selectFrom('notes').selectAll().execute()).toEqual([{ id: 1, text: 'one' }]);
    const viaCte = await ro.with('n', (qb) => qb.selectFrom('notes').select('id')).selectFrom('n').select('id').execute();
    expect(viaCte).toEqual([{ id: 1 }]);
  });

  it.each([
    ['insert', (h: Kysely<Tables>) => h.insertInto('notes').values({ id: 2, text: 'two' }).execute(), /INSERT refused/],
    ['update', (h: Kysely<Tables>) => h.updateTable('notes').set({ text: 'x' }).execute(), /UPDATE refused/],
    ['delete', (h: Kysely<Tables>) => h.deleteFrom('notes').execute(), /DELETE refused/],
    ['DDL', (h: Kysely<Tables>) => h.schema.dropTable('notes').execute(), /DROP TABLE refused/],
    ['raw sql, even a harmless one', (h: Kysely<Tables>) => sql`delete from notes`.execute(h), /RAW refused/],
  ])('refuses %s before it reaches the database, and nothing changes', async (_what, write, message) => {
    const error = await write(ro).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReadOnlyViolationError);
    expect((error as ReadOnlyViolationError).code).toBe('ERR_DB_READ_ONLY');
    expect((error as Error).message).toMatch(message);
    expect(await count()).toBe(1);
    expect(await db.selectFrom('notes').select('text').executeTakeFirstOrThrow()).toEqual({ text: 'one' });
  });

  it('the handle it wraps is untouched: the same database still writes through its own handle', async () => {
    await db.insertInto('notes').values({ id: 2, text: 'two' }).execute();
    expect(await count()).toBe(2);
  });
});
