// Writer liveness of the ledger audit port on PostgreSQL (ADR 0010): start-up recovery closes only the open
// intents of writers that are gone. Runs when COVENANT_TEST_PG is set (see @covenant/testkit/postgres); each
// test works in a schema of its own, dropped afterwards. Each "process" is a pool of its own.
import { ADVISORY_LOCKS } from '@covenant/db';
import { canonicalRedactedInput } from '@covenant/contract';
import { AuditUnavailableError, type ActionResult, type AuditIntent } from '@covenant/core';
import { FencingQueries } from './fencing-queries.ts';
import { postgresSchemasPerTest, postgresTestUrl } from '@covenant/testkit/postgres';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ABORTED_BY_CRASH, WriterLockLostError, createLedgerAudit, type LedgerAudit } from '../src/audit/index.ts';
import { createLedgerStore, decodeEntry, encodeEntry, leafHash, verifyLedger, type LedgerEntry, type LedgerTables } from '../src/index.ts';
import { ORIGIN, VERIFY, signer } from './ledger-fixtures.ts';

const baseUrl = postgresTestUrl();

const schemas = postgresSchemasPerTest(baseUrl);
const ports: LedgerAudit[] = [];
// Registered after the schemas' hook, so it runs before it (after-hooks run as a stack): ports close before their pools.
afterEach(async () => {
  for (const port of ports.splice(0)) await port.close();
});

const DIGEST = `sha256:${'c3'.repeat(32)}`;
const OK: ActionResult = { ok: true, code: null };

function intent(requestId: string): AuditIntent {
  return {
    requestId,
    procedure: 'notes.add',
    kind: 'mutation',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: 'ws_1' },
    resource: null,
    canonicalInput: canonicalRedactedInput({ title: 'note' }),
    at: new Date('2026-01-02T03:04:05.678Z'),
  };
}

/** A fresh schema, migrated by its owner; returns the URL of its serving role, which the "processes" use (ADR 0013). */
async function scratch(): Promise<string> {
  const { schema: database, owner } = await schemas.migrated();
  await sql`create table notes (id integer primary key, text text not null)`.execute(owner);
  await sql`grant select, insert on notes to covenant_service`.execute(owner);
  return database.servingUrl;
}

/** One "process": its own pool, ledger store and audit port (start-up recovery runs here). */
async function writer(url: string): Promise<{ db: Kysely<LedgerTables>; audit: LedgerAudit }> {
  const db = schemas.connect(url) as Kysely<LedgerTables>;
  const ledger = await createLedgerStore({ db, origin: ORIGIN, signer });
  const audit = await createLedgerAudit({ ledger, db });
  ports.push(audit);
  return { db, audit };
}

async function entriesOf(db: Kysely<LedgerTables>, requestId: string): Promise<LedgerEntry[]> {
  const rows = await db.selectFrom('ledger_entries').select('body').where('request_id', '=', requestId).orderBy('seq').execute();
  return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
}

/** An action that runs (inside its batch) until `release()` is called. */
function gated(): { action: () => Promise<ActionResult>; started: Promise<void>; release: () => void } {
  let release!: () => void;
  let began!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const started = new Promise<void>((resolve) => {
    began = resolve;
  });
  return {
    action: async () => {
      began();
      await gate;
      return OK;
    },
    started,
    release,
  };
}

describe.skipIf(baseUrl === undefined)('ledger audit writer liveness on PostgreSQL', () => {
  it('records its writer id in intents and holds its session lock until close()', async () => {
    const url = await scratch();
    const a = await writer(url);
    expect(a.audit.writer).toMatch(/^pg:[1-9][0-9]*$/);
    await a.audit.audited(intent('req_a'), async () => OK);
    const [recorded, outcome] = await entriesOf(a.db, 'req_a');
    expect(recorded!.data).toEqual({ call: 'mutation', writer: a.audit.writer });
    expect(outcome).toMatchObject({ kind: 'outcome', outcome: 'ok' });

    const key = Number(a.audit.writer!.slice('pg:'.length));
    const held = async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from pg_locks where locktype = 'advisory'
          and classid = ${sql.lit(ADVISORY_LOCKS.writers)} and objid = ${sql.lit(key)} and objsubid = 2 and granted`.execute(a.db)
      ).rows[0]!.n;
    expect(await held()).toBe(1);
    await a.audit.close();
    expect(await held()).toBe(0);
    await expect(a.audit.audited(intent('req_late'), async () => OK)).rejects.toBeInstanceOf(AuditUnavailableError);
    expect(await entriesOf(a.db, 'req_late')).toEqual([]);
  });

  it("does not close a live writer's in-flight intent at another instance's start-up", async () => {
    const url = await scratch();
    const a = await writer(url);
    const gate = gated();
    const call = a.audit.audited(intent('req_live'), gate.action);
    await gate.started;
    // A's intent is committed and open, its action running inside A's batch: B starts meanwhile.
    const b = await writer(url);
    expect(b.audit.recovered).toEqual([]);
    expect(b.audit.writer).not.toBe(a.audit.writer);
    gate.release();
    await expect(call).resolves.toMatchObject({ result: OK });
    expect((await entriesOf(a.db, 'req_live')).map((e) => [e.kind, e.outcome])).toEqual([
      ['intent', null],
      ['outcome', 'ok'],
    ]);
    expect(await verifyLedger(a.db, VERIFY)).toMatchObject({ ok: true, size: 2 });
  });

  it("closes a writer's open intents once its lock is gone, and that writer can no longer append their outcome", async () => {
    const url = await scratch();
    const a = await writer(url);
    const gate = gated();
    const call = a.audit.audited(intent('req_cut'), gate.action);
    await gate.started;
    // A's lock goes (as when its connection ends) while its action still runs.
    await a.audit.close();
    const c = writer(url);
    gate.release();
    // A re-checks its lock inside the batch before the outcome: gone, so its unit rolls back (503).
    await expect(call).rejects.toBeInstanceOf(AuditUnavailableError);
    expect((await c).audit.recovered).toEqual(['req_cut']);
    const entries = await entriesOf(a.db, 'req_cut');
    expect(entries.map((e) => [e.kind, e.outcome, e.data])).toEqual([
      ['intent', null, { call: 'mutation', writer: a.audit.writer }],
      ['outcome', 'aborted', { code: ABORTED_BY_CRASH }],
    ]);
    expect(await verifyLedger(a.db, VERIFY)).toMatchObject({ ok: true, size: 2 });
  });

  it("after a writer's connection has ended, two instances starting at once close its intents (and writerless ones) once", async () => {
    const url = await scratch();
    const a = await writer(url);
    const ledger = await createLedgerStore({ db: a.db, origin: ORIGIN, signer });
    const open = (requestId: string, data: { call: string; writer?: string }) => ({
      kind: 'intent' as const,
      action: 'notes.add',
      actor: null,
      tenant: null,
      resource: null,
      requestId,
      outcome: null,
      inputDigest: DIGEST,
      data,
    });
    // Two intents of A left open, and one written before writer ids (no writer: orphaned).
    await ledger.append([open('req_a1', { call: 'mutation', writer: a.audit.writer! }), open('req_old', { call: 'mutation' }), open('req_a2', { call: 'mutation', writer: a.audit.writer! })]);
    const live = await writer(url);
    // The live writer's start-up closes the writerless one only: A is still alive.
    expect(live.audit.recovered).toEqual(['req_old']);

    // A's process ends: its port closes, its pool (and the lock's connection) ends.
    await a.audit.close();
    await ledger.close();
    await schemas.close(a.db);

    const [b, c] = await Promise.all([writer(url), writer(url)]);
    expect([...b.audit.recovered, ...c.audit.recovered].sort()).toEqual(['req_a1', 'req_a2']);
    for (const requestId of ['req_a1', 'req_a2', 'req_old']) {
      expect((await entriesOf(b.db, requestId)).map((e) => [e.kind, e.outcome])).toEqual([
        ['intent', null],
        ['outcome', 'aborted'],
      ]);
    }
    expect(await verifyLedger(b.db, VERIFY)).toMatchObject({ ok: true, size: 6 });
  });
});

interface NotesTables extends LedgerTables {
  notes: { id: number; text: string };
}

/** A writer whose ledger handle counts fencing queries, on a scratch schema with a `notes` table. */
async function countedWriter(): Promise<{ db: Kysely<NotesTables>; audit: LedgerAudit; fencing: FencingQueries; url: string }> {
  const url = await scratch();
  const db = schemas.connect(url) as Kysely<NotesTables>;
  const fencing = new FencingQueries();
  const counted = db.withPlugin(fencing);
  const ledger = await createLedgerStore({ db: counted, origin: ORIGIN, signer });
  const audit = await createLedgerAudit({ ledger, db: counted });
  ports.push(audit);
  return { db, audit, fencing, url };
}

/** An action that writes note `id` through the call's transaction. */
const writeNote = (id: number) => async (scope: { readonly db?: unknown }): Promise<ActionResult> => {
  await (scope.db as Kysely<NotesTables>).insertInto('notes').values({ id, text: `note ${id}` }).execute();
  return OK;
};

async function noteIds(db: Kysely<NotesTables>): Promise<number[]> {
  return (await db.selectFrom('notes').select('id').orderBy('id').execute()).map((row) => row.id);
}

async function checkpointCount(db: Kysely<NotesTables>): Promise<number> {
  return (await db.selectFrom('ledger_checkpoints').select('size').execute()).length;
}

/** Ends the session holding `audit`'s writer lock, as a crash or a network cut would, and waits until it is gone. */
async function killWriterSession(db: Kysely<any>, audit: LedgerAudit): Promise<void> {
  const key = Number(audit.writer!.slice('pg:'.length));
  const holders = sql<{ pid: number }>`select pid from pg_locks where locktype = 'advisory' and granted
    and classid = ${sql.lit(ADVISORY_LOCKS.writers)} and objid = ${sql.lit(key)} and objsubid = 2`;
  const [holder] = (await holders.execute(db)).rows;
  expect(holder).toBeDefined();
  await sql`select pg_terminate_backend(${sql.lit(holder!.pid)})`.execute(db);
  while ((await holders.execute(db)).rows.length > 0) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe.skipIf(baseUrl === undefined)('ledger audit fencing on PostgreSQL: once per batch', () => {
  it('a batch of several concurrent calls runs one fencing query, and all their outcomes commit in it', async () => {
    const { db, audit, fencing } = await countedWriter();
    const before = await checkpointCount(db);
    // Concurrent calls: their intents share a batch, then their units share the next one.
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => audit.audited(intent(`req_${i}`), writeNote(i))));
    expect(results.map(({ result }) => result)).toEqual(Array.from({ length: 8 }, () => OK));
    expect(await checkpointCount(db)).toBe(before + 2); // the intents' batch, the outcomes' batch
    expect(fencing.count).toBe(1);
    expect(await noteIds(db)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 0; i < 8; i += 1) expect((await entriesOf(db, `req_${i}`)).map((e) => [e.kind, e.outcome])).toEqual([['intent', null], ['outcome', 'ok']]);

    // The next batch checks again: a check is never carried over from one batch to another.
    await Promise.all(Array.from({ length: 4 }, (_, i) => audit.audited(intent(`req_${8 + i}`), writeNote(8 + i))));
    expect(fencing.count).toBe(2);
    await audit.audited(intent('req_single'), writeNote(100));
    expect(fencing.count).toBe(3);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 26 });
  });

  it('a lock lost after one batch passed its check is found by the next batch (no check is reused across batches)', async () => {
    const { db, audit, fencing } = await countedWriter();
    await expect(audit.audited(intent('req_before'), writeNote(1))).resolves.toMatchObject({ result: OK });
    expect(fencing.count).toBe(1);
    await killWriterSession(db, audit);
    let ran = false;
    const error = await audit
      .audited(intent('req_after'), async (scope) => {
        ran = true;
        return writeNote(2)(scope);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect((error as Error).cause).toBeInstanceOf(WriterLockLostError);
    expect(ran).toBe(true); // its intent was durable and its batch began: the action ran, then was rolled back
    expect(fencing.count).toBe(2);
    expect(await noteIds(db)).toEqual([1]);
    expect((await entriesOf(db, 'req_after')).map((e) => [e.kind, e.outcome])).toEqual([['intent', null]]);
  });

  it('a lost lock refuses every outcome of the batch with one check, then refuses later calls before their intent', async () => {
    const { db, audit, fencing, url } = await countedWriter();
    await killWriterSession(db, audit);
    const ran: number[] = [];
    const calls = Array.from({ length: 5 }, (_, i) =>
      audit
        .audited(intent(`req_${i}`), async (scope) => {
          ran.push(i);
          return writeNote(i)(scope);
        })
        .catch((e: unknown) => e),
    );
    const errors = await Promise.all(calls);
    for (const error of errors) {
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect((error as Error).cause).toBeInstanceOf(WriterLockLostError);
    }
    expect(fencing.count).toBe(1); // the batch's one check found the lock gone; the rest were refused on that
    expect(ran).toHaveLength(1); // the first unit's action ran (then rolled back); the others never started
    expect(await noteIds(db)).toEqual([]);
    for (let i = 0; i < 5; i += 1) expect((await entriesOf(db, `req_${i}`)).map((e) => [e.kind, e.outcome])).toEqual([['intent', null]]);

    // Later calls: refused at once, no intent, the action never runs, no query.
    let lateRan = false;
    const late = await audit
      .audited(intent('req_late'), async () => {
        lateRan = true;
        return OK;
      })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(AuditUnavailableError);
    expect((late as Error).cause).toBeInstanceOf(WriterLockLostError);
    expect(lateRan).toBe(false);
    expect(await entriesOf(db, 'req_late')).toEqual([]);
    expect(fencing.count).toBe(1);

    // The fenced writer's intents are another writer's to close.
    const b = await writer(url);
    expect([...b.audit.recovered].sort()).toEqual(['req_0', 'req_1', 'req_2', 'req_3', 'req_4']);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 10 });
  });
});

describe.skipIf(baseUrl === undefined)('ledger audit on PostgreSQL: rows no writer of the log wrote', () => {
  it('a canonical, correctly hashed row inserted from another connection while the port runs (triggers intact): the next audited call is 503, its action never runs, nothing is signed over the row', async () => {
    for (const row of ['canonical', 'garbage'] as const) {
      const url = await scratch();
      const a = await writer(url);
      await a.audit.audited(intent('req_1'), async () => OK);
      const attacker = schemas.connect(url) as Kysely<LedgerTables>;
      const at = (await entriesOf(a.db, 'req_1'))[0]!.at;
      const body =
        row === 'canonical'
          ? encodeEntry({ v: 1, seq: 2, at, kind: 'event', action: 'access.breakGlass.approved', actor: { subject: 'user_1', session: null }, tenant: { org: 'org_a', workspace: null }, resource: null, requestId: null, outcome: null, inputDigest: null, data: null })
          : new TextEncoder().encode('garbage');
      await attacker.insertInto('ledger_entries').values({ seq: 2, body, leaf_hash: leafHash(body), kind: 'event', request_id: null, at }).execute();
      let ran = false;
      const error = await a.audit.audited(intent('req_2'), async () => ((ran = true), OK)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect((error as Error).cause).toMatchObject({ code: row === 'canonical' ? 'ERR_LEDGER_LOG_UNSEALED' : 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
      expect(ran).toBe(false);
      const sizes = (await a.db.selectFrom('ledger_checkpoints').select('size').orderBy('size').execute()).map((r) => Number(r.size));
      expect(sizes).toEqual([1, 2]);
      // Another process starting on this log refuses it too.
      await expect(writer(url)).rejects.toMatchObject({ code: row === 'canonical' ? 'ERR_LEDGER_LOG_UNSEALED' : 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
    }
  });
});
