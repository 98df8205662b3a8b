import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, dialectOf } from '../src/index.ts';

const open: Array<Kysely<unknown>> = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.destroy();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-db-'));
  dirs.push(dir);
  return join(dir, 'covenant.db');
}

async function pragma(db: Kysely<unknown>, name: string): Promise<unknown> {
  const { rows } = await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db);
  return Object.values(rows[0] ?? {})[0];
}

describe('createDatabase', () => {
  it('opens a file database in WAL mode with foreign keys, a busy timeout and synchronous FULL', async () => {
    const db = createDatabase<unknown>({ url: tempFile() });
    open.push(db);
    expect(await pragma(db, 'journal_mode')).toBe('wal');
    expect(await pragma(db, 'foreign_keys')).toBe(1);
    expect(await pragma(db, 'busy_timeout')).toBe(5000);
    expect(await pragma(db, 'synchronous')).toBe(2); // FULL
  });

  it('enforces foreign keys on :memory: too', async () => {
    const db = createDatabase<any>({ url: ':memory:' });
    open.push(db);
    expect(await pragma(db, 'foreign_keys')).toBe(1);
    await sql`create table parent (id integer primary key)`.execute(db);
    await sql`create table child (parent integer references parent(id))`.execute(db);
    await expect(sql`insert into child (parent) values (7)`.execute(db)).rejects.toThrow(/FOREIGN KEY/);
    await sql`insert into parent (id) values (7)`.execute(db);
    await sql`insert into child (parent) values (7)`.execute(db);
  });

  it.each(['postgres://u@localhost/covenant', 'postgresql://localhost/covenant', 'POSTGRES://localhost/x'])('opens a PostgreSQL url (%s) as a pg pool, without connecting yet', async (url) => {
    const db = createDatabase<unknown>({ url });
    open.push(db);
    expect(dialectOf(db)).toBe('postgres');
  });

  it('a SQLite handle, its transactions and its connections all report the sqlite dialect', async () => {
    const db = createDatabase<unknown>({ url: ':memory:' });
    open.push(db);
    expect(dialectOf(db)).toBe('sqlite');
    await db.transaction().execute(async (trx) => expect(dialectOf(trx)).toBe('sqlite'));
    await db.connection().execute(async (conn) => expect(dialectOf(conn)).toBe('sqlite'));
  });

  it.each([
    ['an empty url', { url: '' }],
    ['no url', {}],
    ['a non-string url', { url: 42 }],
    ['no options', undefined],
  ])('refuses %s with a TypeError', (_, options) => {
    expect(() => createDatabase(options as never)).toThrow(TypeError);
  });
});
