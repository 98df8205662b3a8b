import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@covenant/db';
import { createCheckpointSigner, decodeEntry, verifyCheckpoint, verifyLedger, type LedgerEntry, type LedgerTables } from '@covenant/ledger';
import { ABORTED_BY_CRASH } from '@covenant/ledger/audit';
import { createTestIssuer } from '@covenant/testkit';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { createService, type Service } from '../src/service.ts';

// The acceptance point of the audit-ledger issue: a process killed (SIGKILL) in the middle of a burst of
// audited mutations restarts with a verifying ledger, every intent closed, and no committed effect
// without its ok outcome.
//
// A child process (fixtures/crash-child.ts) runs the service as `npm start` assembles it on one SQLite file
// and fires rbac.roles.create over HTTP, 32 calls in flight, forever. Once it has acknowledged MIN_CALLS
// calls, this process watches the stored ledger through a connection of its own that only reads (WAL
// readers do not block the writer) and kills the child with SIGKILL as soon as intents are committed without their outcome, so
// that the crash lands inside the window that matters (waiting at most KILL_WAIT_MS; then it kills anyway).
// The next child recovers (closes what the crash left open as aborted), bursts, and is killed again. Then
// the service is opened once more in this process and the whole file is checked.

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const KEY_HEX = '5c'.repeat(32);
const SIGNER = createCheckpointSigner({ name: 'test.example/crash-ledger', privateKey: new Uint8Array(Buffer.from(KEY_HEX, 'hex')) });
const VERIFY = { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey };
/** What the child bootstraps and calls as (see the fixture). */
const ORG = 'org_crash';
const PERMISSIONS = Array.from({ length: 24 }, (_, i) => `crashtest.perm${i}`).sort();
const CYCLES = 3;
const MIN_CALLS = 200;
const KILL_WAIT_MS = 2_000;
/** A child that cannot reach MIN_CALLS within this is reported as a failure, not waited for. */
const CYCLE_LIMIT_MS = 30_000;

interface Ready {
  readonly recovered: string[];
  readonly size: number;
  readonly bootstrapped: boolean;
}

interface Cycle {
  readonly tag: string;
  readonly ready: Ready;
  /** Calls the child had acknowledged (its response arrived) when the kill was decided, and in all. */
  readonly callsBeforeKill: number;
  readonly acknowledged: ReadonlyArray<string>;
  /** Intents committed without an outcome in the snapshot read just before the kill. */
  readonly openAtKill: number;
  readonly errors: ReadonlyArray<string>;
}

let dir: string;
let file: string;
/** The ledger's state file, shared by every life: a kill between a commit and its record must not look like a truncation. */
let stateFile: string;
let reader: Kysely<LedgerTables>;
let service: Service | undefined;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covenant-crash-'));
  file = join(dir, 'covenant.db');
  stateFile = join(dir, 'ledger.state');
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await service?.close();
  await reader?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** Intents committed without an outcome among the entries from `from` on (everything before is closed). */
async function openIntentsFrom(from: number): Promise<number> {
  const row = await reader
    .selectFrom('ledger_entries')
    .select(sql<number>`coalesce(sum(kind = 'intent'), 0) - coalesce(sum(kind = 'outcome'), 0)`.as('open'))
    .where('seq', '>=', from)
    .executeTakeFirstOrThrow();
  return Number(row.open);
}

/** One life of the child: start (recovering), burst, SIGKILL mid-burst. */
function runCycle(tag: string): Promise<Cycle> {
  return new Promise<Cycle>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, tag], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      env: { ...process.env, COVENANT_CRASH_LEDGER_KEY: KEY_HEX, COVENANT_CRASH_LEDGER_NAME: SIGNER.name, COVENANT_CRASH_LEDGER_STATE: stateFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let ready: Ready | null = null;
    let pending = '';
    let stderr = '';
    let completed = 0;
    let callsBeforeKill = -1;
    let openAtKill = 0;
    let failure: Error | null = null;
    const acknowledged: string[] = [];
    const errors: string[] = [];
    const limit = setTimeout(() => {
      failure = new Error(`child ${tag} did not reach ${MIN_CALLS} calls in ${CYCLE_LIMIT_MS} ms (${completed} done)`);
      child.kill('SIGKILL');
    }, CYCLE_LIMIT_MS);

    const killMidBurst = async (): Promise<void> => {
      callsBeforeKill = completed;
      const from = ready!.size;
      const deadline = Date.now() + KILL_WAIT_MS;
      try {
        for (;;) {
          openAtKill = await openIntentsFrom(from);
          if (openAtKill > 0 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 1));
        }
      } catch (error) {
        failure = error as Error;
      }
      // Still firing? (It is, unless it died: then 'close' reports its exit, which is a failure.)
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    };

    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        const [kind, count, ...rest] = line.split(' ');
        if (kind === 'ready') ready = JSON.parse(line.slice('ready '.length)) as Ready;
        else if (kind === 'ok') acknowledged.push(rest.join(' '));
        else if (kind === 'err') errors.push(rest.join(' '));
        else errors.push(`unexpected line: ${line}`);
        if (kind === 'ok' || kind === 'err') {
          completed = Number(count);
          if (completed >= MIN_CALLS && callsBeforeKill < 0) void killMidBurst();
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      children.delete(child);
      if (failure !== null) return reject(failure);
      if (signal !== 'SIGKILL' || callsBeforeKill < 0 || ready === null) {
        return reject(new Error(`child ${tag} ended on its own (code ${code}, signal ${signal}) after ${completed} calls:\n${stderr}`));
      }
      resolve({ tag, ready, callsBeforeKill, acknowledged, openAtKill, errors });
    });
  });
}

/** Every entry of the log, decoded, with its row's seq, kind and request id. */
async function allEntries(db: Kysely<any>): Promise<Array<{ row: { seq: number; kind: string; request_id: string | null }; entry: LedgerEntry }>> {
  const rows: Array<{ seq: number; kind: string; request_id: string | null; body: Uint8Array }> = await db
    .selectFrom('ledger_entries')
    .select(['seq', 'kind', 'request_id', 'body'])
    .orderBy('seq')
    .execute();
  return rows.map(({ body, ...row }) => ({ row, entry: decodeEntry(new Uint8Array(body)) }));
}

function groupBy<T>(items: ReadonlyArray<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

describe('SIGKILL in the middle of a burst of audited mutations', () => {
  it('restarts with a verifying ledger, every intent closed, and no committed effect without its ok outcome', async () => {
    const started = Date.now();
    reader = createDatabase<LedgerTables>({ url: file });
    const cycles: Cycle[] = [];
    for (let i = 0; i < CYCLES; i += 1) {
      // The first child creates (and migrates) the file; the reader's first query finds the tables then.
      cycles.push(await runCycle(`c${i}`));
    }

    // The restart in this process: recovery closes what the last kill left open.
    const issuer = await createTestIssuer();
    service = await createService({
      identity: issuer.verifierOptions(),
      databaseUrl: file,
      logger: pino({ level: 'silent' }),
      ledgerSigner: SIGNER,
      ledgerStateFile: stateFile,
    });
    await service.ledger.flush();
    const db = service.db as unknown as Kysely<any>;

    // What each restart found and closed: the next child's, and finally this process's.
    const recoveredPerRestart = [...cycles.slice(1).map((c) => c.ready.recovered), [...service.audit.recovered]];
    const entries = await allEntries(db);
    const report = cycles.map((c, i) => ({
      cycle: c.tag,
      sizeAtStart: c.ready.size,
      callsBeforeKill: c.callsBeforeKill,
      acknowledged: c.acknowledged.length,
      openAtKill: c.openAtKill,
      recoveredAtRestart: recoveredPerRestart[i]!.length,
    }));
    console.info(JSON.stringify({ cycles: report, finalSize: entries.length, ms: Date.now() - started }));

    // Every child ran its burst cleanly until it was killed: each bootstrap once, no failed call.
    expect(cycles.map((c) => c.ready.bootstrapped)).toEqual([true, ...Array(CYCLES - 1).fill(false)]);
    expect(cycles.flatMap((c) => c.errors)).toEqual([]);
    for (const c of cycles) expect(c.callsBeforeKill).toBeGreaterThanOrEqual(MIN_CALLS);

    // The crashes left intents open, and the restarts closed them (the kill waits for open intents, so this
    // holds for nearly every cycle; across cycles it is the acceptance point's "every intent closed").
    const recovered = recoveredPerRestart.flat();
    expect(recovered.length).toBeGreaterThan(0);
    expect(new Set(recovered).size).toBe(recovered.length);
    expect(await service.ledger.openIntents()).toEqual([]);

    // The log: gap-free, sealed by a latest checkpoint over all of it, and verifying with the public key only.
    expect(entries.map(({ row, entry }) => [row.seq, entry.seq])).toEqual(entries.map((_, i) => [i, i]));
    expect(await service.ledger.size()).toBe(entries.length);
    expect((await service.ledger.latestCheckpoint())?.checkpoint.size).toBe(entries.length);
    const newest = await db.selectFrom('ledger_checkpoints').select('size').orderBy('size', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(newest.size).toBe(entries.length);
    const verified = await verifyLedger(db, VERIFY);
    expect(verified).toMatchObject({ ok: true, size: entries.length });
    // Every restart opened against the state file the killed lives left: it never ran ahead of the log.
    expect(verifyCheckpoint(readFileSync(stateFile, 'utf8'), { name: SIGNER.name, publicKey: SIGNER.publicKey, origin: SIGNER.name })).toMatchObject({
      ok: true,
      checkpoint: { size: entries.length },
    });
    // The columns the store indexes by agree with the signed bodies.
    for (const { row, entry } of entries) expect([row.kind, row.request_id]).toEqual([entry.kind, entry.requestId]);

    // Every intent has exactly one outcome, after it, for the same call; no outcome without an intent.
    const decoded = entries.map((e) => e.entry);
    const intents = decoded.filter((e) => e.kind === 'intent');
    const outcomes = decoded.filter((e) => e.kind === 'outcome');
    const outcomesOf = groupBy(outcomes, (e) => e.requestId!);
    const intentsOf = groupBy(intents, (e) => e.requestId!);
    expect(intents.length).toBeGreaterThan(CYCLES * MIN_CALLS);
    for (const intent of intents) {
      expect(intent).toMatchObject({ action: 'rbac.roles.create', actor: { subject: 'alice' }, tenant: { org: ORG }, data: { call: 'mutation' } });
      expect(intentsOf.get(intent.requestId!)).toHaveLength(1);
      const mine = outcomesOf.get(intent.requestId!) ?? [];
      expect(mine.map((o) => o.requestId)).toEqual([intent.requestId]);
      expect(mine[0]!.seq).toBeGreaterThan(intent.seq);
      expect(mine[0]).toMatchObject({ action: intent.action, actor: intent.actor, tenant: intent.tenant });
    }
    expect(outcomes.filter((o) => !intentsOf.has(o.requestId!))).toEqual([]);
    expect(outcomes).toHaveLength(intents.length);
    expect(decoded.filter((e) => e.kind === 'denial')).toEqual([]);

    // Only two ways a call ended: ok, or aborted by a crash. The aborted ones are exactly those recovered.
    expect(new Set(outcomes.map((o) => o.outcome))).toEqual(new Set(recovered.length > 0 ? ['ok', 'aborted'] : ['ok']));
    const aborted = outcomes.filter((o) => o.outcome === 'aborted');
    expect(aborted.map((o) => o.requestId).sort()).toEqual([...recovered].sort());
    for (const o of aborted) expect(o.data).toEqual({ code: ABORTED_BY_CRASH });
    const ok = new Set(outcomes.filter((o) => o.outcome === 'ok').map((o) => o.requestId!));

    // The effects: one applied roles.create change per ok call, and none for any other call.
    const changes: Array<{ action: string; outcome: string; request_id: string | null; after: string | null }> = await db
      .selectFrom('rbac_changes')
      .select(['action', 'outcome', 'request_id', 'after'])
      .where('org', '=', ORG)
      .orderBy('seq')
      .execute();
    expect(changes.filter((c) => c.request_id === null).map((c) => [c.action, c.outcome])).toEqual([['tenant.bootstrap', 'applied']]);
    const bootstrapRole = (JSON.parse(changes[0]!.after!) as { role: { id: string } }).role.id;
    const made = changes.filter((c) => c.request_id !== null);
    expect(made.every((c) => c.action === 'roles.create' && c.outcome === 'applied')).toBe(true);
    const changeOf = groupBy(made, (c) => c.request_id!);
    // No committed effect without its ok outcome…
    expect(made.filter((c) => !ok.has(c.request_id!))).toEqual([]);
    for (const requestId of changeOf.keys()) expect(ok.has(requestId)).toBe(true);
    // …no ok outcome without its effect (exactly one), and an aborted call has none.
    const roleOf = new Map<string, string>();
    for (const requestId of ok) {
      const rows = changeOf.get(requestId) ?? [];
      expect(rows).toHaveLength(1);
      roleOf.set(requestId, (JSON.parse(rows[0]!.after!) as { id: string }).id);
    }
    for (const o of aborted) expect(changeOf.has(o.requestId!)).toBe(false);

    // The ledger's own record of each change: one 'event' per ok call, naming the role the store created.
    const events = decoded.filter((e) => e.kind === 'event');
    expect(events.filter((e) => e.requestId === null).map((e) => e.action)).toEqual(['rbac.tenant.bootstrap']);
    const callEvents = events.filter((e) => e.requestId !== null);
    expect(callEvents).toHaveLength(ok.size);
    for (const event of callEvents) {
      expect(ok.has(event.requestId!)).toBe(true);
      expect(event).toMatchObject({ action: 'rbac.roles.create', data: { change: 'applied', before: null, after: { id: roleOf.get(event.requestId!) } } });
      // In the call's own batch: after its intent, before its outcome.
      expect(event.seq).toBeGreaterThan(intentsOf.get(event.requestId!)![0]!.seq);
      expect(event.seq).toBeLessThan(outcomesOf.get(event.requestId!)![0]!.seq);
      expect(event.at).toBe(outcomesOf.get(event.requestId!)![0]!.at);
    }

    // The roles that exist are exactly the bootstrap role and one per ok call, each whole (every capability).
    const roles: Array<{ id: string; name: string; capabilities: number }> = await db
      .selectFrom('rbac_roles as r')
      .leftJoin('rbac_role_capabilities as c', 'c.role_id', 'r.id')
      .select(['r.id', 'r.name', (eb) => eb.fn.count<number>('c.capability').as('capabilities')])
      .where('r.org', '=', ORG)
      .groupBy(['r.id', 'r.name'])
      .execute();
    expect(roles.map((r) => r.id).sort()).toEqual([bootstrapRole, ...roleOf.values()].sort());
    expect(new Set(roles.map((r) => r.name)).size).toBe(roles.length);
    for (const role of roles.filter((r) => r.id !== bootstrapRole)) {
      expect(role.name).toMatch(/^r-c\d+-\d+$/);
      expect(Number(role.capabilities)).toBe(PERMISSIONS.length);
    }

    // Every result a caller received was durable: each acknowledged role survived the kill that followed.
    const acknowledged = cycles.flatMap((c) => c.acknowledged);
    expect(acknowledged.length).toBeGreaterThanOrEqual(CYCLES * MIN_CALLS);
    const existing = new Set(roleOf.values());
    expect(acknowledged.filter((id) => !existing.has(id))).toEqual([]);
  }, 90_000);
});
