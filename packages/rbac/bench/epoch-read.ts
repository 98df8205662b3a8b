/**
 * The one query every `check` runs: the org's policy epoch (the freshness rule forbids caching it). A
 * benchmark, not a test: it compares, on one file-backed SQLite database (WAL, synchronous FULL, as
 * `createDatabase` sets it up) and optionally on PostgreSQL, sequential reads of one org's epoch through
 *
 * - `builder`:   `db.selectFrom('rbac_epochs').select('epoch').where('org', '=', org).executeTakeFirst()`,
 *                built and compiled on every read (what the store did before);
 * - `compiled`:  the query compiled once, then `db.executeQuery({ ...compiled, parameters: [org] })` (what
 *                the store does now: the same connection handling, plugins' transformResult, no build);
 * - `prepared`:  (SQLite only) a better-sqlite3 statement prepared once, `.get(org)`, on a second connection
 *                of its own. The store cannot reach one cleanly (kysely does not expose its handle), and
 *                the shared connection's handle would be unsafe: it would run outside kysely's connection
 *                mutex, i.e. inside whatever read transaction another check has open, and read its snapshot;
 * - `locked`:    (SQLite only) the same statement run while holding kysely's connection (`db.connection()
 *                .execute(...)`, on a kysely instance over that second handle): what a safe prepared read
 *                through the shared connection would cost, were the handle reachable;
 * - `pg-text`, `pg-named`: (PostgreSQL only) the statement sent by `pg` directly, unnamed (as kysely sends
 *                it) or as a named prepared statement (parsed and planned once per connection): what kysely
 *                itself costs there, and what server-side preparation would save.
 *
 * The modes are interleaved (builder, compiled, prepared, builder, …) so that drift on a shared machine
 * affects them alike; medians of `REPEATS` rounds are reported, and the last line is the raw numbers as JSON.
 *
 *   npx tsx packages/rbac/bench/epoch-read.ts [postgres://…]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { Kysely, SqliteDialect, sql, type CompiledQuery } from 'kysely';
import type { RbacTables } from '../src/index.ts';

const REPEATS = 9;
const READS = 20_000;
const ORGS = 1_000;

interface PreparedStatement {
  get(...parameters: unknown[]): unknown;
}
interface SqliteHandle {
  prepare(sql: string): PreparedStatement;
  pragma(text: string): unknown;
  close(): void;
}

/** better-sqlite3 and pg are @covenant/db's dependencies, not ours: load them from there (this bench only). */
const requireFromDb = () => createRequire(import.meta.resolve('@covenant/db'));

interface PgPool {
  query(config: { text: string; values: unknown[]; name?: string }): Promise<{ rows: Array<{ epoch: number }> }>;
  end(): Promise<void>;
}

function openSqliteHandle(file: string): SqliteHandle {
  const require = requireFromDb();
  const Database = require('better-sqlite3') as new (file: string) => SqliteHandle;
  const handle = new Database(file);
  handle.pragma('journal_mode = WAL');
  handle.pragma('busy_timeout = 5000');
  return handle;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const orgName = (o: number) => `org-${String(o).padStart(4, '0')}`;

async function seed(db: Kysely<RbacTables>): Promise<void> {
  await migrateToLatest(db);
  await db.deleteFrom('rbac_epochs').execute();
  const rows = Array.from({ length: ORGS }, (_, o) => ({ org: orgName(o), epoch: o + 1 }));
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('rbac_epochs').values(rows.slice(i, i + 500)).execute();
}

type Reader = (org: string) => Promise<number> | number;

async function time(read: Reader, reads: number): Promise<number> {
  let sum = 0;
  const started = performance.now();
  for (let i = 0; i < reads; i += 1) sum += await read(orgName(i % ORGS));
  const seconds = (performance.now() - started) / 1000;
  if (sum <= 0) throw new Error('no epochs read');
  return reads / seconds;
}

async function measure(label: string, readers: Record<string, Reader>, reads: number): Promise<Record<string, number>> {
  for (const read of Object.values(readers)) await time(read, Math.min(reads, 2_000)); // warm the JIT and caches
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(readers).map((name) => [name, []]));
  for (let r = 0; r < REPEATS; r += 1) {
    for (const [name, read] of Object.entries(readers)) samples[name]!.push(await time(read, reads));
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, Math.round(median(values))]));
  const base = medians['builder']!;
  console.log(`${label}: epoch reads, median of ${REPEATS} interleaved rounds of ${reads.toLocaleString('en-US')} sequential reads`);
  console.log(['mode', 'reads/s', 'µs/read', '× builder'].map((h, i) => (i === 0 ? h.padEnd(10) : h.padStart(12))).join(''));
  for (const [name, perSecond] of Object.entries(medians)) {
    console.log([name, perSecond.toLocaleString('en-US'), (1e6 / perSecond).toFixed(1), (perSecond / base).toFixed(2)].map((c, i) => (i === 0 ? c.padEnd(10) : c.padStart(12))).join(''));
  }
  return medians;
}

function kyselyReaders(db: Kysely<RbacTables>): Record<string, Reader> {
  const compiled: CompiledQuery<{ epoch: number }> = db.selectFrom('rbac_epochs').select('epoch').where('org', '=', '').compile();
  return {
    builder: async (org) => (await db.selectFrom('rbac_epochs').select('epoch').where('org', '=', org).executeTakeFirst())?.epoch ?? 0,
    compiled: async (org) => (await db.executeQuery<{ epoch: number }>({ ...compiled, parameters: [org] })).rows[0]?.epoch ?? 0,
  };
}

const results: Record<string, Record<string, number>> = {};
const dir = mkdtempSync(join(tmpdir(), 'covenant-epoch-bench-'));
try {
  const file = join(dir, 'rbac.db');
  const db = createDatabase<RbacTables>({ url: file });
  const handle = openSqliteHandle(file);
  try {
    await seed(db);
    const statement = handle.prepare('select "epoch" from "rbac_epochs" where "org" = ?');
    const get = (org: string) => (statement.get(org) as { epoch: number } | undefined)?.epoch ?? 0;
    const own = new Kysely<RbacTables>({ dialect: new SqliteDialect({ database: handle as never }) });
    results['sqlite'] = await measure('SQLite', { ...kyselyReaders(db), prepared: get, locked: (org) => own.connection().execute(async () => get(org)) }, READS);
  } finally {
    handle.close();
    await db.destroy();
  }

  const pgUrl = process.argv[2] ?? process.env['COVENANT_TEST_PG'];
  if (pgUrl !== undefined && pgUrl !== '') {
    const schema = `rbac_epoch_bench_${process.pid}`;
    const admin = createDatabase<RbacTables>({ url: pgUrl });
    await sql`create schema ${sql.id(schema)}`.execute(admin);
    const pgDb = createDatabase<RbacTables>({ url: `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` });
    try {
      await seed(pgDb);
      const { Pool } = requireFromDb()('pg') as { Pool: new (config: { connectionString: string; max: number }) => PgPool };
      const pool = new Pool({ connectionString: `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`, max: 1 });
      const text = 'select "epoch" from "rbac_epochs" where "org" = $1';
      try {
        results['postgres'] = await measure(
          'PostgreSQL',
          {
            ...kyselyReaders(pgDb),
            'pg-text': async (org) => (await pool.query({ text, values: [org] })).rows[0]?.epoch ?? 0,
            'pg-named': async (org) => (await pool.query({ name: 'covenant_epoch', text, values: [org] })).rows[0]?.epoch ?? 0,
          },
          READS / 4,
        );
      } finally {
        await pool.end();
      }
    } finally {
      await pgDb.destroy();
      await sql`drop schema ${sql.id(schema)} cascade`.execute(admin);
      await admin.destroy();
    }
  }
  console.log(JSON.stringify({ results, node: process.version }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
