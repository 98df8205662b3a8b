/**
 * Benchmark of the stored ledger (not a test; nothing is asserted): durable appends with group commit into
 * a SQLite file (WAL, synchronous=FULL), then a full `verifyLedger` audit.
 * Run: cd packages/ledger && npx tsx bench/verify-ledger.ts [entries] [concurrent callers] [entries per call]
 * Defaults: 1,000,000 entries appended by 10 concurrent callers of 1,000 entries each (so ~10,000 per
 * batch), plus a separate run of 100,000 single-entry appends by 1,000 concurrent callers (request-like),
 * after 20,000 unmeasured ones (a running server is warm).
 * Prints lines, then one JSON line for tooling.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createLedgerStore, verifyLedger, type NewEntry } from '../src/index.ts';
import { createNodeCheckpointSigner } from '../src/node/index.ts';

const ENTRIES = Number(process.argv[2] ?? 1_000_000);
const CALLERS = Number(process.argv[3] ?? 10);
const PER_CALL = Number(process.argv[4] ?? 1_000);
const ORIGIN = 'bench.example/log';
const signer = createNodeCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(1) });

const entry = (n: number): NewEntry => ({
  kind: n % 2 === 0 ? 'intent' : 'outcome',
  action: 'orders.place',
  actor: { subject: `user_${n % 1000}`, session: `sess_${n % 5000}` },
  tenant: { org: 'org_a', workspace: 'ws_1' },
  resource: { type: 'order', id: `ord_${n}` },
  requestId: `req_${n >> 1}`,
  outcome: n % 2 === 0 ? null : 'ok',
  inputDigest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  data: null,
});

let small = { entriesPerSecond: 0, batches: 0 };
const dir = mkdtempSync(join(tmpdir(), 'covenant-ledger-bench-'));
try {
  // 1. Request-like: many callers of one entry each; group commit shares fsyncs and signatures.
  {
    const db = createDatabase<any>({ url: join(dir, 'small.db') });
    await migrateToLatest(db);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    const countCheckpoints = async (): Promise<number> =>
      Number((await db.selectFrom('ledger_checkpoints').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    let n = 0;
    const run = async (until: number): Promise<void> => {
      const worker = async () => {
        while (n < until) await store.append([entry(n++)]);
      };
      await Promise.all(Array.from({ length: 1_000 }, worker));
    };
    // A running server is warm: the first 20,000 appends (JIT, statement cache, file growth) are not measured.
    const warmup = 20_000;
    await run(warmup);
    const before = await countCheckpoints();
    const total = 100_000;
    const start = performance.now();
    await run(warmup + total);
    const seconds = (performance.now() - start) / 1000;
    const checkpoints = (await countCheckpoints()) - before;
    console.log(`single-entry appends, 1,000 concurrent callers: ${Math.round(total / seconds)} entries/s (${total} entries after a ${warmup}-entry warm-up, ${checkpoints} batches/fsyncs/signatures)`);
    await db.destroy();
    small = { entriesPerSecond: Math.round(total / seconds), batches: checkpoints };
  }

  // 2. Bulk: ENTRIES through the store in big batches, then a full audit.
  const url = join(dir, 'ledger.db');
  const db = createDatabase<any>({ url });
  await migrateToLatest(db);
  const store = await createLedgerStore({ db, origin: ORIGIN, signer });
  const appendStart = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < ENTRIES) {
      const from = next;
      const count = Math.min(PER_CALL, ENTRIES - from);
      next += count;
      await store.append(Array.from({ length: count }, (_, i) => entry(from + i)));
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, worker));
  const appendSeconds = (performance.now() - appendStart) / 1000;
  const batches = Number((await db.selectFrom('ledger_checkpoints').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  console.log(`bulk appends: ${ENTRIES} entries in ${appendSeconds.toFixed(1)} s = ${Math.round(ENTRIES / appendSeconds)} entries/s (${batches} batches)`);
  await store.close();

  const verifyStart = performance.now();
  const result = await verifyLedger(db, {
    origin: ORIGIN,
    keyName: ORIGIN,
    publicKey: signer.publicKey,
    onProgress: ({ verified, total }) => {
      if (verified % 200_000 === 0) console.log(`  verified ${verified}/${total}`);
    },
  });
  const verifySeconds = (performance.now() - verifyStart) / 1000;
  console.log(`verifyLedger: ${JSON.stringify(result)} in ${verifySeconds.toFixed(2)} s (${Math.round(ENTRIES / verifySeconds)} entries/s); file ${(statSync(url).size / 1e6).toFixed(0)} MB`);
  await db.destroy();
  // The targets of the performance issue, reported (not asserted): met or not, and by how much.
  const appendRate = Math.round(ENTRIES / appendSeconds);
  const verify1M = (verifySeconds * 1_000_000) / ENTRIES;
  console.log(`goal durable appends ≥ 100,000 entries/s: ${appendRate >= 100_000 ? 'met' : 'NOT met'} (${(appendRate / 100_000).toFixed(2)}x the goal)`);
  console.log(`goal verify 1M entries ≤ 5 s: ${verify1M <= 5 ? 'met' : 'NOT met'} (${verify1M.toFixed(1)} s per 1M entries)`);
  console.log(
    JSON.stringify({
      entries: ENTRIES,
      small,
      bulk: { entriesPerSecond: Math.round(ENTRIES / appendSeconds), batches },
      verifySeconds: Number(verifySeconds.toFixed(2)),
      ok: result.ok,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
