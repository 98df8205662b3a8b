// Issue 6's acceptance point for several writers: N processes × M audited mutations concurrently against one
// PostgreSQL database → N·M ok outcomes, a gap-free sequence, one signed checkpoint per size (no forks), and
// a ledger that verifies (verifyLedger and `covenant ledger verify`). Runs when COVENANT_TEST_PG is set.
//
// The parent starts the service once on a fresh schema (migrations, as the owner; capability catalogue),
// registers the roles' permissions and bootstraps the org's admin, then closes it: nothing is left for the
// children to race on. Every service here and in the children serves as the schema's serving role (ADR 0013). Each child (fixtures/pg-writer-child.ts) runs createService on the same URL with the same ledger signer
// and makes M rbac.roles.create calls over HTTP, IN_FLIGHT at a time. Run 1 starts the N children at once;
// run 2 starts the others while the first is mid-burst (their start-up recovery must leave its in-flight
// intents alone).
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@covenant/cli';
import { createCheckpointSigner, createMerkleTree, decodeEntry, verifyCheckpoint, verifyLedger, type LedgerEntry } from '@covenant/ledger';
import { createTestIssuer } from '@covenant/testkit';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service.ts';

const baseUrl = postgresTestUrl();

const CHILD = fileURLToPath(new URL('./fixtures/pg-writer-child.ts', import.meta.url));
const KEY_HEX = '6d'.repeat(32);
const SIGNER = createCheckpointSigner({ name: 'test.example/writers-ledger', privateKey: new Uint8Array(Buffer.from(KEY_HEX, 'hex')) });
const VERIFY = { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey };
/** As in the fixture. */
const ORG = 'org_writers';
const ADMIN = 'alice';
const PERMISSIONS = Array.from({ length: 4 }, (_, i) => `writerstest.perm${i}`);
const N = 3;
const M = 50;
const IN_FLIGHT = 8;
/** A child that has not finished by then is killed and reported, not waited for. */
const CHILD_LIMIT_MS = 90_000;

interface ChildRun {
  readonly tag: string;
  /** The child's own ledger state file: the highest head it signed or saw. */
  readonly stateFile: string;
  readonly code: number | null;
  readonly ready: { readonly recovered: string[]; readonly writer: string | null } | null;
  readonly ok: ReadonlyArray<string>;
  readonly errors: ReadonlyArray<string>;
  readonly done: boolean;
  readonly stderr: string;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One folder per test for the children's state files (each process keeps its own). */
let states: string | null = null;
function stateDir(): string {
  if (states === null) {
    const dir = mkdtempSync(join(tmpdir(), 'covenant-pg-writers-'));
    states = dir;
    cleanups.push(async () => {
      rmSync(dir, { recursive: true, force: true });
      states = null;
    });
  }
  return states;
}

interface ChildOptions {
  /** After each acknowledged call. */
  readonly onOk?: (count: number) => void;
  /** Loads, then waits: its service starts when `start()` is called (`onLoaded` hands it over). */
  readonly onLoaded?: (start: () => void) => void;
}

/** Runs one child to its end. */
function runChild(url: string, tag: string, options: ChildOptions = {}): Promise<ChildRun> {
  return new Promise<ChildRun>((resolve, reject) => {
    const wait = options.onLoaded !== undefined;
    const stateFile = join(stateDir(), `${tag}.state`);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, tag, String(M), String(IN_FLIGHT), ...(wait ? ['wait'] : [])], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      env: { ...process.env, COVENANT_PG_LEDGER_KEY: KEY_HEX, COVENANT_PG_LEDGER_NAME: SIGNER.name, COVENANT_PG_LEDGER_STATE: stateFile },
      stdio: [wait ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const limit = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
    let ready: ChildRun['ready'] = null;
    let pending = '';
    let stderr = '';
    let done = false;
    const ok: string[] = [];
    const errors: string[] = [];
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        const text = pending.slice(0, end);
        pending = pending.slice(end + 1);
        const [kind, , ...rest] = text.split(' ');
        if (kind === 'loaded') options.onLoaded?.(() => void child.stdin!.end('start\n'));
        else if (kind === 'ready') ready = JSON.parse(text.slice('ready '.length)) as ChildRun['ready'];
        else if (kind === 'ok') {
          ok.push(rest.join(' '));
          options.onOk?.(ok.length);
        } else if (kind === 'err') errors.push(rest.join(' '));
        else if (kind === 'done') done = true;
        else errors.push(`unexpected line: ${text}`);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ tag, stateFile, code, ready, ok, errors, done, stderr });
    });
  });
}

/** A fresh schema, migrated and prepared (catalogue, permissions, the org's admin) by one service here. */
async function prepare(): Promise<string> {
  const schema: PostgresTestDatabase = await postgresTestDatabase(baseUrl);
  cleanups.push(() => schema.drop());
  const issuer = await createTestIssuer();
  const service = await createService({
    identity: issuer.verifierOptions(),
    // Migrated by the owner (the test superuser); served, here and by every child, as the schema's serving role.
    databaseUrl: schema.servingUrl,
    migrationDatabaseUrl: schema.url,
    logger: pino({ level: 'silent' }),
    ledgerSigner: SIGNER,
  });
  try {
    await service.rbac.registerCapabilities(PERMISSIONS, 'registered');
    await service.ledger.transact((tx) => service.rbac.bind(tx.db).bootstrapTenant('writers-test', ORG, ADMIN, 'first admin of the writers test'));
  } finally {
    await service.close();
  }
  return schema.servingUrl;
}

/** The writer id of the intent an outcome closes. */
function writerOf(outcome: LedgerEntry, intents: ReadonlyArray<LedgerEntry>): string | undefined {
  const intent = intents.find((e) => e.requestId === outcome.requestId);
  return (intent?.data as { writer?: string } | undefined)?.writer;
}

/** Opens the service once more (no other writer alive) to read and check the whole log. */
async function inspect(url: string): Promise<Service> {
  const issuer = await createTestIssuer();
  const service = await createService({
    identity: issuer.verifierOptions(),
    databaseUrl: url,
    logger: pino({ level: 'silent' }),
    ledgerSigner: SIGNER,
  });
  cleanups.push(() => service.close());
  return service;
}

/** Every check of the acceptance point on the stored log; returns the numbers for the report. */
async function checkLog(url: string, runs: ReadonlyArray<ChildRun>): Promise<{ entries: number; checkpoints: number }> {
  for (const run of runs) {
    expect({ tag: run.tag, code: run.code, done: run.done, errors: run.errors, stderr: run.stderr }).toEqual({ tag: run.tag, code: 0, done: true, errors: [], stderr: '' });
    expect(run.ok).toHaveLength(M);
    // No live writer's intent was closed by another's start-up (and nothing was left over to close).
    expect(run.ready?.recovered).toEqual([]);
  }
  expect(new Set(runs.map((run) => run.ready!.writer)).size).toBe(N);
  for (const run of runs) expect(run.ready!.writer).toMatch(/^pg:[1-9][0-9]*$/);

  const service = await inspect(url);
  // This last start-up found nothing to recover either.
  expect(service.audit.recovered).toEqual([]);
  const db = service.db as unknown as Kysely<any>;
  const rows: Array<{ seq: number; kind: string; request_id: string | null; body: Uint8Array; leaf_hash: Uint8Array }> = await db
    .selectFrom('ledger_entries')
    .select(['seq', 'kind', 'request_id', 'body', 'leaf_hash'])
    .orderBy('seq')
    .execute();
  const entries: LedgerEntry[] = rows.map((row) => decodeEntry(new Uint8Array(row.body)));

  // Sequence numbers: 0..size-1, gap-free and unique, in the rows and in the signed bodies.
  expect(rows.map((row) => row.seq)).toEqual(rows.map((_, i) => i));
  expect(entries.map((entry) => entry.seq)).toEqual(rows.map((_, i) => i));

  // N·M calls: each an intent (naming its writer) and exactly one ok outcome with the same request id, after it.
  const calls = entries.filter((e) => e.action === 'rbac.roles.create' && e.kind !== 'event');
  const intents = calls.filter((e) => e.kind === 'intent');
  const outcomes = entries.filter((e) => e.kind === 'outcome');
  expect(intents).toHaveLength(N * M);
  expect(outcomes.filter((o) => o.outcome !== 'ok')).toEqual([]);
  expect(outcomes.filter((o) => o.action === 'rbac.roles.create')).toHaveLength(N * M);
  const outcomeOf = new Map<string, LedgerEntry[]>();
  for (const o of outcomes) outcomeOf.set(o.requestId!, [...(outcomeOf.get(o.requestId!) ?? []), o]);
  const writers = new Set(runs.map((run) => run.ready!.writer));
  const perWriter = new Map<string, number>();
  for (const intent of intents) {
    const mine = outcomeOf.get(intent.requestId!) ?? [];
    expect(mine.map((o) => [o.outcome, o.requestId])).toEqual([['ok', intent.requestId]]);
    expect(mine[0]!.seq).toBeGreaterThan(intent.seq);
    const writer = (intent.data as { writer?: string }).writer!;
    expect(writers.has(writer)).toBe(true);
    perWriter.set(writer, (perWriter.get(writer) ?? 0) + 1);
  }
  expect([...perWriter.values()]).toEqual(Array(N).fill(M));
  // The roles the children were told about are the ones created.
  const roles = await db.selectFrom('rbac_roles').select('id').where('org', '=', ORG).where('name', 'like', 'r-%').execute();
  expect(roles.map((r: { id: string }) => r.id).sort()).toEqual(runs.flatMap((run) => run.ok).sort());

  // Checkpoints: one per size, sizes strictly growing, each signature valid, each root that of the log's
  // first `size` leaves (so every checkpoint is a prefix of one log: no fork), the newest covering it all.
  const checkpoints: Array<{ size: number; note: string }> = await db.selectFrom('ledger_checkpoints').select(['size', 'note']).orderBy('size').execute();
  expect(new Set(checkpoints.map((c) => c.size)).size).toBe(checkpoints.length);
  const tree = createMerkleTree();
  let previous = 0;
  for (const checkpoint of checkpoints) {
    expect(checkpoint.size).toBeGreaterThan(previous);
    previous = checkpoint.size;
    while (tree.size < checkpoint.size) tree.append(rows[tree.size]!.leaf_hash);
    const verified = verifyCheckpoint(checkpoint.note, { name: SIGNER.name, publicKey: SIGNER.publicKey, origin: SIGNER.name });
    expect(verified.ok).toBe(true);
    if (verified.ok) {
      expect(verified.checkpoint.size).toBe(checkpoint.size);
      expect(Buffer.from(verified.checkpoint.root).equals(Buffer.from(tree.root()))).toBe(true);
    }
  }
  expect(previous).toBe(rows.length);
  // Each process kept its own state file: a head of this very log (its root the log's at that size), at
  // least as far as the process's own last call.
  for (const run of runs) {
    const kept = verifyCheckpoint(readFileSync(run.stateFile, 'utf8'), { name: SIGNER.name, publicKey: SIGNER.publicKey, origin: SIGNER.name });
    expect(kept.ok, run.tag).toBe(true);
    if (kept.ok) {
      expect(kept.checkpoint.size).toBeLessThanOrEqual(rows.length);
      expect(Buffer.from(kept.checkpoint.root).equals(Buffer.from(tree.root(kept.checkpoint.size)))).toBe(true);
      const lastOwnOutcome = Math.max(...outcomes.filter((o) => writerOf(o, intents) === run.ready!.writer).map((o) => o.seq));
      expect(kept.checkpoint.size).toBeGreaterThan(lastOwnOutcome);
    }
  }

  expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: rows.length, checkpoints: checkpoints.length });
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    ['ledger', 'verify', '--database', url, '--origin', SIGNER.name, '--key-name', SIGNER.name, '--public-key', Buffer.from(SIGNER.publicKey).toString('base64')],
    { cwd: process.cwd(), stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), env: {} },
  );
  expect({ code, err: err.join('') }).toEqual({ code: 0, err: '' });
  expect(out.join('')).toMatch(new RegExp(`^covenant ledger verify: ok, ${rows.length} entries, ${checkpoints.length} checkpoints`));
  return { entries: rows.length, checkpoints: checkpoints.length };
}

describe.skipIf(baseUrl === undefined)('several service processes on one PostgreSQL ledger', () => {
  it(`${N} processes × ${M} audited mutations at once: ${N * M} ok outcomes, gap-free, one checkpoint per size, verifying`, { timeout: 180_000 }, async () => {
    const started = Date.now();
    const url = await prepare();
    const runs = await Promise.all(Array.from({ length: N }, (_, i) => runChild(url, `p${i}`)));
    const seen = await checkLog(url, runs);
    console.info(JSON.stringify({ run: 'simultaneous', processes: N, callsEach: M, ...seen, ms: Date.now() - started }));
  });

  it('processes that start while another is mid-burst leave its in-flight intents alone', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const url = await prepare();
    // The others load first (tsx, imports), then wait; they start their services — start-up recovery
    // included — once the first writer has had a few calls acknowledged: it has intents in flight then.
    const starters: Array<() => void> = [];
    let loaded!: () => void;
    const allLoaded = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    const late = Array.from({ length: N - 1 }, (_, i) =>
      runChild(url, `l${i}`, {
        onLoaded: (start) => {
          starters.push(start);
          if (starters.length === N - 1) loaded();
        },
      }),
    );
    await allLoaded;
    let released = false;
    const first = runChild(url, 'e0', {
      onOk: (count) => {
        if (count === 5 && !released) {
          released = true;
          for (const start of starters) start();
        }
      },
    });
    const firstRun = await first;
    const lateRuns = await Promise.all(late);
    const seen = await checkLog(url, [firstRun, ...lateRuns]);
    // How much of the first writer's burst overlapped the others' lives: its ok outcomes after their first intent.
    const service = await inspect(url);
    const log = (await service.db.selectFrom('ledger_entries').select('body').orderBy('seq').execute()).map((row) => decodeEntry(new Uint8Array(row.body)));
    const firstWriter = firstRun.ready!.writer;
    const writerOf = new Map(log.filter((e) => e.kind === 'intent').map((e) => [e.requestId, (e.data as { writer?: string }).writer]));
    const lateStart = Math.min(...log.filter((e) => e.kind === 'intent' && (e.data as { writer?: string }).writer !== firstWriter).map((e) => e.seq));
    const overlap = log.filter((e) => e.kind === 'outcome' && e.seq > lateStart && writerOf.get(e.requestId) === firstWriter).length;
    console.info(JSON.stringify({ run: 'staggered', processes: N, callsEach: M, ...seen, firstWriterOutcomesAfterOthersStarted: overlap, ms: Date.now() - started }));
  });
});
