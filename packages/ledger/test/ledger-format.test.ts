// The stored format does not depend on how the store writes it: the current store writes exactly the bytes
// the previous one did (fixtures/ledger-v1), and its multi-row INSERTs store exactly the rows that one
// kysely INSERT per entry stores. SQLite always; PostgreSQL when COVENANT_TEST_PG is set.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { canonicalJson } from '@covenant/contract/manifest';
import { dialectOf } from '@covenant/db';
import { postgresTestUrl } from '@covenant/testkit/postgres';
import { postgresConformanceFactory, sqliteConformanceFactory, type ConformanceDatabase, type StoreConformanceFactory } from '@covenant/testkit/store-conformance';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import * as ledger from '../src/index.ts';
import { createCheckpointSigner, createLedgerStore, verifyLedger, type NewEntry } from '../src/index.ts';
import { FORMAT_ORIGIN, FORMAT_SEED, dumpLog, runFormatScenario, summarize, type LogSummary } from './format-scenario.ts';
import { ORIGIN, VERIFY, fixedClock, sample, signer } from './ledger-fixtures.ts';

const FIXTURE = JSON.parse(readFileSync(new URL('./fixtures/ledger-v1/log.json', import.meta.url), 'utf8')) as LogSummary;
const baseUrl = postgresTestUrl();
const factories: Array<[StoreConformanceFactory, boolean]> = [
  [sqliteConformanceFactory(), false],
  [postgresConformanceFactory(baseUrl), baseUrl === undefined],
];

/** Reference encoding straight from the spec (docs/ledger.md): UTF-8 of canonicalJson, SHA-256(0x00 ‖ body). */
function reference(entry: NewEntry, seq: number, at: string): { body: Uint8Array; leaf: Uint8Array } {
  const body = new TextEncoder().encode(canonicalJson({ v: 1, seq, at, ...entry }));
  return { body, leaf: new Uint8Array(createHash('sha256').update(new Uint8Array([0])).update(body).digest()) };
}

/** Every column of every entry row, with SQLite's storage classes (a blob must stay a blob). */
async function rawRows(db: Kysely<any>): Promise<unknown[]> {
  if (dialectOf(db) === 'postgres') {
    const { rows } = await sql<Record<string, unknown>>`select seq, body, leaf_hash, kind, request_id, at from ledger_entries order by seq`.execute(db);
    return rows.map((row) => ({ ...row, body: Buffer.from(row.body as Uint8Array).toString('hex'), leaf_hash: Buffer.from(row.leaf_hash as Uint8Array).toString('hex') }));
  }
  const { rows } = await sql<Record<string, unknown>>`select seq, typeof(seq) as t_seq, hex(body) as body, typeof(body) as t_body,
    hex(leaf_hash) as leaf_hash, typeof(leaf_hash) as t_leaf, kind, typeof(kind) as t_kind, request_id, typeof(request_id) as t_request,
    at, typeof(at) as t_at from ledger_entries order by seq`.execute(db);
  return rows;
}

for (const [factory, skip] of factories) {
  describe.skipIf(skip)(`stored format (${factory.name})`, () => {
    const opened: ConformanceDatabase[] = [];
    afterEach(async () => {
      for (const database of opened.splice(0)) await database.dispose();
    });
    const open = async (): Promise<ConformanceDatabase> => {
      const database = await factory.open();
      opened.push(database);
      return database;
    };

    it('the store writes the bytes the previous store wrote (fixtures/ledger-v1): entries, leaf hashes, roots and signed notes', async () => {
      const { db } = await open();
      await runFormatScenario(ledger, db);
      const summary = summarize(await dumpLog(db));
      expect(summary.head).toEqual(FIXTURE.head);
      expect(summary.checkpoints).toEqual(FIXTURE.checkpoints);
      expect(summary).toEqual(FIXTURE);
      const { publicKey } = createCheckpointSigner({ name: FORMAT_ORIGIN, privateKey: FORMAT_SEED });
      expect(await verifyLedger(db, { origin: FORMAT_ORIGIN, keyName: FORMAT_ORIGIN, publicKey })).toEqual({ ok: true, size: 1221, checkpoints: 9 });
      // Bodies are exactly the spec's encoding, whatever wrote them.
      for (const row of FIXTURE.head) {
        const { v: _v, seq, at, ...entry } = JSON.parse(row.body) as { v: 1; seq: number; at: string } & NewEntry;
        const { body, leaf } = reference(entry, seq, at);
        expect(new TextDecoder().decode(body)).toBe(row.body);
        expect(Buffer.from(leaf).toString('base64')).toBe(row.leafHash);
      }
    }, 60_000);

    it('multi-row INSERTs (a batch spanning several statements) store exactly the rows one kysely INSERT per entry stores', async () => {
      const batched = await open();
      const single = await open();
      const entries = Array.from({ length: 1203 }, (_, i) =>
        sample(i, {
          kind: (['intent', 'outcome', 'denial', 'event'] as const)[i % 4]!,
          outcome: i % 4 === 1 ? 'ok' : null,
          requestId: i % 4 === 2 ? null : `req_${i}`,
          resource: i % 3 === 0 ? null : { type: 'order', id: `ord_"${i}"\\é` },
          data: i % 2 === 0 ? null : { call: 'mutation', n: i, list: [i, 'x'] },
        }),
      );
      const store = await createLedgerStore({ db: batched.db, origin: ORIGIN, signer, clock: fixedClock });
      expect(await store.append(entries)).toEqual(entries.map((_, i) => i));
      await store.close();

      // The same rows, from the reference encoding, one INSERT statement each, then the same checkpoint row.
      const at = fixedClock.now().toISOString();
      await single.db.transaction().execute(async (tx) => {
        for (const [seq, entry] of entries.entries()) {
          const { body, leaf } = reference(entry, seq, at);
          await tx.insertInto('ledger_entries').values({ seq, body, leaf_hash: leaf, kind: entry.kind, request_id: entry.requestId, at }).execute();
        }
        const checkpoint = await batched.db.selectFrom('ledger_checkpoints').selectAll().executeTakeFirstOrThrow();
        await tx.insertInto('ledger_checkpoints').values(checkpoint).execute();
      });

      const rows = await rawRows(batched.db);
      expect(rows).toHaveLength(1203);
      expect(rows).toEqual(await rawRows(single.db));
      expect(await verifyLedger(single.db, VERIFY)).toEqual({ ok: true, size: 1203, checkpoints: 1 });
      expect(await verifyLedger(batched.db, VERIFY)).toEqual({ ok: true, size: 1203, checkpoints: 1 });
    }, 60_000);
  });
}
