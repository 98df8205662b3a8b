/**
 * Benchmark of audit-before-action (not a test; nothing is asserted): audited calls per second through the
 * ledger's audit port — intent durable before the action, the action's write and its ok outcome committed
 * together, a signed checkpoint per batch — against a baseline measured in the same run: the same work done
 * naively, one durable transaction for the intent and one for the write plus outcome, per call (two fsyncs
 * per call, which is what group commit removes).
 * Run: cd packages/ledger && npx tsx bench/audited-calls.ts [calls] [concurrent callers]
 * Defaults: 5,000 calls, 64 concurrent callers. Prints lines, then one JSON line for tooling.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { AuditIntent } from '@covenant/core';
import { sql, type Kysely } from 'kysely';
import { createLedgerAudit } from '../src/audit/index.ts';
import { createLedgerStore, encodeEntry, leafHash, verifyLedger, type NewEntry } from '../src/index.ts';
import { createNodeCheckpointSigner } from '../src/node/index.ts';

const CALLS = Number(process.argv[2] ?? 5_000);
const CONCURRENCY = Number(process.argv[3] ?? 64);
const ORIGIN = 'bench.example/audited';
const signer = createNodeCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(3) });
const DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}`;

const intentOf = (n: number): AuditIntent => ({
  requestId: `req_${n}`,
  procedure: 'orders.place',
  kind: 'mutation',
  actor: { subject: `user_${n % 100}`, session: `sess_${n % 500}` },
  tenant: { org: 'org_a', workspace: null },
  resource: null,
  inputDigest: DIGEST,
  at: new Date(),
});

async function open(file: string): Promise<Kysely<any>> {
  const db = createDatabase<any>({ url: file });
  await migrateToLatest(db);
  await db.schema.createTable('orders').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('org', 'text', (c) => c.notNull()).execute();
  return db;
}

/** Runs `call(n)` for n in [0, CALLS) with CONCURRENCY callers; returns calls per second. */
async function drive(call: (n: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) await call(next++);
    }),
  );
  return CALLS / ((performance.now() - start) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'covenant-audited-bench-'));
try {
  // Baseline: what an audit port without group commit does — each call commits its intent, then its write
  // and outcome, in transactions of their own (sequenced under the write lock, hashed, no signatures).
  const naiveDb = await open(join(dir, 'naive.db'));
  let size = 0;
  const appendRow = async (trx: Kysely<any>, entry: NewEntry): Promise<void> => {
    const at = new Date().toISOString();
    const body = encodeEntry({ v: 1, seq: size, at, ...entry });
    await trx.insertInto('ledger_entries').values({ seq: size, body, leaf_hash: leafHash(body), kind: entry.kind, request_id: entry.requestId, at }).execute();
    size += 1;
  };
  const about = (n: number) => ({ action: 'orders.place', actor: { subject: `user_${n % 100}`, session: null }, tenant: { org: 'org_a', workspace: null }, resource: null, requestId: `req_${n}` });
  const naive = await drive(async (n) => {
    await naiveDb.transaction().execute((trx) => appendRow(trx, { kind: 'intent', ...about(n), outcome: null, inputDigest: DIGEST, data: null }));
    await naiveDb.transaction().execute(async (trx) => {
      await trx.insertInto('orders').values({ id: `ord_${n}`, org: 'org_a' }).execute();
      await appendRow(trx, { kind: 'outcome', ...about(n), outcome: 'ok', inputDigest: null, data: null });
    });
  });
  await naiveDb.destroy();

  // Covenant: the ledger audit port, group commit, one signed checkpoint per batch.
  const db = await open(join(dir, 'ledger.db'));
  const ledger = await createLedgerStore({ db, origin: ORIGIN, signer });
  const audit = await createLedgerAudit({ ledger, db });
  const audited = await drive(async (n) => {
    await audit.audited(intentOf(n), async (scope) => {
      await (scope.db as Kysely<any>).insertInto('orders').values({ id: `ord_${n}`, org: 'org_a' }).execute();
      return { ok: true };
    });
  });
  const batches = Number((await sql<{ n: number }>`select count(*) as n from ledger_checkpoints`.execute(db)).rows[0]!.n);
  const orders = Number((await sql<{ n: number }>`select count(*) as n from orders`.execute(db)).rows[0]!.n);
  await ledger.close();
  await audit.close();
  const verified = await verifyLedger(db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey });
  await db.destroy();

  console.log(`audited calls, ${CONCURRENCY} concurrent callers, ${CALLS} calls (SQLite WAL, synchronous=FULL):`);
  console.log(`  baseline, two durable transactions per call: ${Math.round(naive)} calls/s`);
  console.log(`  covenant ledger audit port (group commit):   ${Math.round(audited)} calls/s = ${(audited / naive).toFixed(1)}x the baseline`);
  console.log(`  ${batches} signed checkpoints for ${CALLS * 2} entries (${(CALLS * 2 / batches).toFixed(0)} entries per fsync); ${orders} writes committed; verify: ${verified.ok ? 'ok' : JSON.stringify(verified)}`);
  console.log(JSON.stringify({ calls: CALLS, concurrency: CONCURRENCY, baselineCallsPerSecond: Math.round(naive), auditedCallsPerSecond: Math.round(audited), ratio: Number((audited / naive).toFixed(2)), batches, verified: verified.ok }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
