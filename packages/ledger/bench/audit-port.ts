/**
 * The ledger audit port's own cost per call (a benchmark, not a test: nothing is asserted). In one process,
 * `callers` concurrent loops make audited calls whose action is one insert through `scope.db`; for each
 * concurrency it reports calls per second, per-call latency (p50, p99), and entries per batch (per signed
 * checkpoint, i.e. per fsync). On PostgreSQL (`--pg <url>`: the port is opened with `db`, so fencing is
 * on) it also reports how many fencing queries (`pg_locks`) the batches ran, counted by a kysely plugin on
 * the ledger's handle.
 *
 *   cd packages/ledger && npx tsx bench/audit-port.ts [--calls 4000] [--callers 1,16,64,256] [--rounds 3] [--pg postgres://…]
 *     [--no-verify] [--window 0,0.5,2] [--rate 500,2000]
 *
 * `--window` emulates a commit-delay knob ("wait for more work"): each append and unit the port submits
 * is held until a window of that many milliseconds, opened by the first submission, closes, so that more
 * of them join one batch. Several values are interleaved like the concurrencies (0 = no delay, the port
 * as it is); each runs on a port of its own over the same store. A window cannot help the closed loops
 * above (every caller waits for its batch, so each batch already holds one entry per caller); `--rate`
 * runs open loops instead: calls arrive at that many per second (Poisson, started each millisecond tick)
 * whatever the completions, `calls` of them, and `callers` is ignored.
 *
 * Rounds of every concurrency are interleaved (1, 16, 64, 256, 1, 16, …) so that drift on a shared machine
 * affects them alike; medians are reported. Profile it with
 *
 *   node --cpu-prof --import tsx bench/audit-port.ts --callers 256 --rounds 3 --no-verify
 *
 * The last line of output is the raw numbers as JSON.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { AuditIntent } from '@covenant/core';
import { sql, type Kysely } from 'kysely';
import { createLedgerAudit, type LedgerAudit } from '../src/audit/index.ts';
import { createLedgerStore, verifyLedger, type LedgerStore } from '../src/index.ts';
import { createNodeCheckpointSigner } from '../src/node/index.ts';
import { FencingQueries } from '../test/fencing-queries.ts';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '4000' },
    callers: { type: 'string', default: '1,16,64,256' },
    rounds: { type: 'string', default: '3' },
    pg: { type: 'string' },
    'no-verify': { type: 'boolean', default: false },
    window: { type: 'string', default: '0' },
    rate: { type: 'string' },
  },
});
const CALLS = Number(args.calls);
const CALLERS = args.callers.split(',').map(Number);
const WINDOWS = args.window.split(',').map(Number);
/** Open-loop arrival rates (calls/s), replacing the callers' closed loops when given. */
const RATES = args.rate?.split(',').map(Number) ?? null;
const LOADS = RATES ?? CALLERS;
const ROUNDS = Number(args.rounds);
const ORIGIN = 'bench.example/audit-port';
const signer = createNodeCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(5) });
const DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}`;

/**
 * The store behind a commit-delay window: submissions wait until the window (opened by the first of them)
 * closes, then go to the store together. `windowMs` 0: the store itself.
 */
function delayed(ledger: LedgerStore, windowMs: number): LedgerStore {
  if (windowMs <= 0) return ledger;
  let open: Promise<void> | null = null;
  const windowClosed = (): Promise<void> =>
    (open ??= new Promise<void>((resolve) =>
      setTimeout(() => {
        open = null;
        resolve();
      }, windowMs),
    ));
  return {
    ...ledger,
    append: (entries) => windowClosed().then(() => ledger.append(entries)),
    transact: (work) => windowClosed().then(() => ledger.transact(work)),
  };
}

let requestCounter = 0;
const intentOf = (n: number): AuditIntent => ({
  requestId: `req_${(requestCounter += 1)}`,
  procedure: 'orders.place',
  kind: 'mutation',
  actor: { subject: `user_${n % 100}`, session: `sess_${n % 500}` },
  tenant: { org: 'org_a', workspace: null },
  resource: { type: 'order', id: `ord_${n}` },
  inputDigest: DIGEST,
  at: new Date(),
});

interface Sample {
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly entriesPerBatch: number;
  readonly fencingQueries: number;
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function checkpoints(db: Kysely<any>): Promise<number> {
  return Number((await sql<{ n: number }>`select count(*) as n from ledger_checkpoints`.execute(db)).rows[0]!.n);
}

/** One audited call: one insert through the call's transaction. */
function call(audit: LedgerAudit, n: number): Promise<unknown> {
  return audit.audited(intentOf(n), async (scope) => {
    await (scope.db as Kysely<any>).insertInto('orders').values({ id: `ord_${requestCounter}_${n}`, org: 'org_a' }).execute();
    return { ok: true };
  });
}

/** `calls` audited calls arriving at `rate` per second (open loop), whatever the completions. */
async function arrive(audit: LedgerAudit, db: Kysely<any>, fencing: FencingQueries, calls: number, rate: number): Promise<Sample> {
  const latencies: number[] = [];
  const running: Array<Promise<unknown>> = [];
  const batchesBefore = await checkpoints(db);
  const fencingBefore = fencing.count;
  const started = performance.now();
  let launched = 0;
  let expected = 0;
  while (launched < calls) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    expected = ((performance.now() - started) / 1000) * rate;
    while (launched < Math.min(calls, expected)) {
      const n = launched++;
      const t0 = performance.now();
      running.push(call(audit, n).then(() => latencies.push(performance.now() - t0)));
    }
  }
  await Promise.all(running);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const batches = (await checkpoints(db)) - batchesBefore;
  return {
    callsPerSecond: calls / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    entriesPerBatch: batches === 0 ? 0 : (calls * 2) / batches,
    fencingQueries: fencing.count - fencingBefore,
  };
}

/** `calls` audited calls from `callers` concurrent loops; one insert each. */
async function drive(audit: LedgerAudit, db: Kysely<any>, fencing: FencingQueries, calls: number, callers: number): Promise<Sample> {
  const latencies: number[] = [];
  let next = 0;
  const batchesBefore = await checkpoints(db);
  const fencingBefore = fencing.count;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < calls) {
        const n = next++;
        const t0 = performance.now();
        await call(audit, n);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const batches = (await checkpoints(db)) - batchesBefore;
  return {
    callsPerSecond: calls / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    entriesPerBatch: batches === 0 ? 0 : (calls * 2) / batches, // two entries per call: intent, outcome
    fencingQueries: fencing.count - fencingBefore,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-audit-port-bench-'));
  const fencing = new FencingQueries();
  let schema: { drop(): Promise<void> } | null = null;
  let raw: Kysely<any>;
  if (args.pg !== undefined) {
    const name = `audit_port_bench_${process.pid}`;
    const admin = createDatabase<any>({ url: args.pg });
    await sql`create schema ${sql.id(name)}`.execute(admin);
    raw = createDatabase<any>({ url: `${args.pg}${args.pg.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}` });
    schema = {
      async drop() {
        await sql`drop schema ${sql.id(name)} cascade`.execute(admin);
        await admin.destroy();
      },
    };
  } else {
    raw = createDatabase<any>({ url: join(dir, 'ledger.db') });
  }
  try {
    await migrateToLatest(raw);
    await raw.schema.createTable('orders').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('org', 'text', (c) => c.notNull()).execute();
    const db = raw.withPlugin(fencing);
    const ledger = await createLedgerStore({ db, origin: ORIGIN, signer });
    // One port at a time, each over the same store: a SQLite file has one writer (its writer lock).
    const withAudit = async <T>(windowMs: number, work: (audit: LedgerAudit) => Promise<T>): Promise<T> => {
      const audit = await createLedgerAudit({ ledger: delayed(ledger, windowMs), db });
      try {
        return await work(audit);
      } finally {
        await ledger.flush();
        await audit.close();
      }
    };
    for (const windowMs of WINDOWS) await withAudit(windowMs, (audit) => drive(audit, db, fencing, Math.min(CALLS, 500), 16)); // warm-up: JIT, page cache

    const key = (windowMs: number, callers: number) => `${windowMs}:${callers}`;
    const samples = new Map<string, Sample[]>(WINDOWS.flatMap((w) => LOADS.map((c) => [key(w, c), []] as [string, Sample[]])));
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const load of LOADS) {
        for (const windowMs of WINDOWS) {
          const sample = await withAudit(windowMs, (audit) =>
            RATES !== null ? arrive(audit, db, fencing, CALLS, load) : drive(audit, db, fencing, load === 1 ? Math.min(CALLS, 1000) : CALLS, load),
          );
          samples.get(key(windowMs, load))!.push(sample);
        }
      }
    }
    await ledger.flush();
    // (--no-verify when profiling: verifying every signed checkpoint would dominate the profile.)
    const verified = args['no-verify'] ? { ok: true as const, size: Number.NaN } : await verifyLedger(raw, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey });

    const summary = WINDOWS.flatMap((windowMs) => LOADS.map((load) => {
      const s = samples.get(key(windowMs, load))!;
      return {
        windowMs,
        load,
        callsPerSecond: Math.round(median(s.map((x) => x.callsPerSecond))),
        p50Ms: Number(median(s.map((x) => x.p50Ms)).toFixed(2)),
        p99Ms: Number(median(s.map((x) => x.p99Ms)).toFixed(2)),
        entriesPerBatch: Number(median(s.map((x) => x.entriesPerBatch)).toFixed(1)),
        fencingQueries: Math.round(median(s.map((x) => x.fencingQueries))),
      };
    }));
    console.log(`audit port, ${args.pg !== undefined ? 'PostgreSQL (fencing on)' : 'SQLite WAL, synchronous=FULL'}; median of ${ROUNDS} interleaved rounds of ${CALLS} calls${RATES !== null ? ', open loop' : ' (1,000 for one caller)'}`);
    console.log(['window ms', RATES !== null ? 'arrivals/s' : 'callers', 'calls/s', 'p50 ms', 'p99 ms', 'entries/batch', 'fencing q'].map((h) => h.padStart(14)).join(''));
    for (const row of summary) {
      console.log([row.windowMs, row.load, row.callsPerSecond, row.p50Ms, row.p99Ms, row.entriesPerBatch, row.fencingQueries].map((v) => String(v).padStart(14)).join(''));
    }
    console.log(`verify: ${verified.ok ? `ok (${verified.size} entries)` : JSON.stringify(verified)}`);
    console.log(JSON.stringify({ dialect: args.pg !== undefined ? 'postgres' : 'sqlite', rounds: ROUNDS, calls: CALLS, summary, raw: Object.fromEntries(samples), node: process.version }));
  } finally {
    await raw.destroy();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
