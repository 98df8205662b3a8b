import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { withStatementCache } from '../src/statement-cache.ts';

interface Tables {
  items: { id: number; name: string };
}

const opened: Database.Database[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) if (db.open) db.close();
});

/** A real in-memory database whose `prepare` calls are counted. */
function counted(): { sqlite: Database.Database; prepares: string[] } {
  const sqlite = new Database(':memory:');
  opened.push(sqlite);
  sqlite.exec('create table items (id integer primary key, name text not null)');
  const insert = sqlite.prepare('insert into items (id, name) values (?, ?)');
  for (let id = 1; id <= 5; id += 1) insert.run(id, `item ${id}`);
  const prepares: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    prepares.push(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  return { sqlite, prepares };
}

describe('withStatementCache', () => {
  it('prepares a query shape once and binds new parameters on every call', async () => {
    const { sqlite, prepares } = counted();
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    const names: string[] = [];
    for (const id of [1, 2, 3, 2]) {
      const row = await db.selectFrom('items').select('name').where('id', '=', id).executeTakeFirstOrThrow();
      names.push(row.name);
    }
    expect(names).toEqual(['item 1', 'item 2', 'item 3', 'item 2']);
    expect(prepares.filter((text) => text.startsWith('select'))).toHaveLength(1);
  });

  it('reuses statements for writes too, and a failed run leaves the statement usable', async () => {
    const { sqlite, prepares } = counted();
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    await db.insertInto('items').values({ id: 6, name: 'six' }).execute();
    await expect(db.insertInto('items').values({ id: 6, name: 'again' }).execute()).rejects.toThrow(/UNIQUE|PRIMARY/);
    await db.insertInto('items').values({ id: 7, name: 'seven' }).execute();
    expect(prepares.filter((text) => text.startsWith('insert'))).toHaveLength(1);
    expect(sqlite.prepare('select count(*) as n from items').get()).toEqual({ n: 7 });
  });

  it('never hands out a statement that is busy iterating (an open stream): that call gets a fresh one', () => {
    const { sqlite, prepares } = counted();
    const cache = withStatementCache(sqlite);
    const streaming = cache.prepare('select id from items order by id');
    const iterator = streaming.iterate([]);
    expect(iterator.next().value).toEqual({ id: 1 });
    const other = cache.prepare('select id from items order by id');
    expect(other).not.toBe(streaming);
    iterator.return?.();
    // Once the stream is closed, the cached statement is handed out again.
    expect(cache.prepare('select id from items order by id')).toBe(streaming);
    expect(prepares.filter((text) => text.startsWith('select id'))).toHaveLength(2);
  });

  it('sees schema changes made after a statement was cached', async () => {
    const { sqlite } = counted();
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    const first = await sql<Record<string, unknown>>`select * from items where id = ${1}`.execute(db);
    expect(Object.keys(first.rows[0]!)).toEqual(['id', 'name']);
    sqlite.exec("alter table items add column colour text not null default 'red'");
    const second = await sql<Record<string, unknown>>`select * from items where id = ${1}`.execute(db);
    expect(second.rows[0]).toEqual({ id: 1, name: 'item 1', colour: 'red' });
  });

  it('is bounded: beyond its size the oldest statement is dropped and prepared again when needed', () => {
    const { sqlite, prepares } = counted();
    const cache = withStatementCache(sqlite, 2);
    const texts = ['select 1', 'select 2', 'select 3', 'select 1', 'select 3'];
    for (const text of texts) cache.prepare(text);
    // select 1 was evicted by select 3 and prepared again; select 3 was still cached.
    expect(prepares).toEqual(['select 1', 'select 2', 'select 3', 'select 1']);
  });

  it('closes the database', () => {
    const { sqlite } = counted();
    withStatementCache(sqlite).close();
    expect(sqlite.open).toBe(false);
  });
});
