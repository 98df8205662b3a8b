import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createCheckpointSigner, createLedgerStore, verifyBundle, verifyCheckpoint, type LedgerTables, type NewEntry } from '@covenant/ledger';
import { runBinary, runInProcess } from './temp-project.ts';

const ORIGIN = 'audit.example/cli-test';
/** A fixed test key, never a real one. */
const signer = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(3) });
const PUBLIC_KEY = Buffer.from(signer.publicKey).toString('base64');
const KEY = { name: ORIGIN, publicKey: signer.publicKey, origin: ORIGIN };
/** Another key with the log's name: what someone who can write the database but not sign signs with. */
const stranger = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(4) });

const cleanup: string[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const entry = (n: number): NewEntry => ({
  kind: 'event',
  action: 'rbac.grant',
  actor: { subject: 'alice', session: null },
  tenant: { org: 'org_a', workspace: null },
  resource: { type: 'role', id: `role_${n}` },
  requestId: `req_${n}`,
  outcome: null,
  inputDigest: null,
  data: { n },
});

/** A folder with `ledger.db` holding `count` entries appended in batches of `batch`. */
async function logFolder(count: number, batch = 4): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'covenant-cli-ledger-'));
  cleanup.push(dir);
  const file = join(dir, 'ledger.db');
  const db = createDatabase<LedgerTables>({ url: file });
  try {
    await migrateToLatest(db);
    const store = await createLedgerStore({ db, origin: ORIGIN, signer });
    for (let from = 0; from < count; from += batch) {
      await store.append(Array.from({ length: Math.min(batch, count - from) }, (_, i) => entry(from + i)));
    }
    await store.close();
  } finally {
    await db.destroy();
  }
  return { dir, file };
}

/**
 * Raw SQL as an attacker with the file would run it: the append-only triggers go first. (The cli package
 * does not depend on kysely, so the statement is handed to the driver as a compiled query.)
 */
async function tamper(file: string, statements: ReadonlyArray<string>): Promise<void> {
  const db = createDatabase<LedgerTables>({ url: file });
  const run = (text: string) =>
    db.executeQuery({ sql: text, parameters: [], query: { kind: 'RawNode', sqlFragments: [text], parameters: [] } } as never);
  try {
    for (const table of ['ledger_entries', 'ledger_checkpoints']) {
      for (const suffix of ['no_update', 'no_delete', 'no_replace']) await run(`drop trigger ${table}_${suffix}`);
    }
    for (const statement of statements) await run(statement);
  } finally {
    await db.destroy();
  }
}

const keyArgs = ['--origin', ORIGIN, '--key-name', ORIGIN, '--public-key', PUBLIC_KEY];
const verifyArgs = ['ledger', 'verify', '--database', 'ledger.db', ...keyArgs];

describe('covenant ledger verify', () => {
  it('exits 0 on an honest log', async () => {
    const { dir } = await logFolder(10);
    const result = await runInProcess(verifyArgs, dir);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^covenant ledger verify: ok, 10 entries, 3 checkpoints/);
  });

  it('exits 1 naming the first bad index when an entry was altered', async () => {
    const { dir, file } = await logFolder(10);
    await tamper(file, ["update ledger_entries set body = cast(replace(cast(body as text), 'role_5', 'role_6') as blob) where seq = 5"]);
    const result = await runInProcess(verifyArgs, dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAILED at index 5');
    expect(result.stderr).toContain('ERR_LEDGER_LOG_LEAF_MISMATCH');
  });

  it('exits 1 on a deleted entry, and on a truncation caught with --trusted-checkpoint', async () => {
    const { dir, file } = await logFolder(12);
    const kept = await runInProcess(['ledger', 'checkpoint', '--database', 'ledger.db', ...keyArgs], dir);
    await writeFile(join(dir, 'kept.note'), kept.stdout);
    await tamper(file, ['delete from ledger_entries where seq >= 8', 'delete from ledger_checkpoints where size > 8']);
    expect((await runInProcess(verifyArgs, dir)).code).toBe(0);
    const result = await runInProcess([...verifyArgs, '--trusted-checkpoint', 'kept.note'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAILED at index 8 (checkpoint of size 12): ERR_LEDGER_LOG_TRUNCATED');
  });

  it('prints progress lines on long runs', async () => {
    const { dir } = await logFolder(25_000, 5_000);
    const result = await runInProcess(verifyArgs, dir);
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      'covenant ledger verify: verified 10000/25000 entries',
      'covenant ledger verify: verified 20000/25000 entries',
      'covenant ledger verify: verified 25000/25000 entries',
    ]);
  }, 30_000);

  it('exits 2 on missing flags or a malformed public key, 1 on a missing database', async () => {
    const { dir } = await logFolder(1);
    expect((await runInProcess(['ledger', 'verify', '--database', 'ledger.db'], dir)).code).toBe(2);
    expect((await runInProcess([...verifyArgs.slice(0, -1), 'AAAA'], dir)).code).toBe(2);
    expect((await runInProcess(['ledger', 'frobnicate'], dir)).code).toBe(2);
    const missing = await runInProcess([...verifyArgs.slice(0, 3), 'nope.db', ...verifyArgs.slice(4)], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no database');
  });

  it('works through the real binary', async () => {
    const { dir, file } = await logFolder(6);
    expect(await runBinary(verifyArgs, dir)).toMatchObject({ code: 0, stderr: '' });
    await tamper(file, ['delete from ledger_entries where seq = 2']);
    const result = await runBinary(verifyArgs, dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAILED at index 2');
  }, 30_000);
});

describe('covenant ledger prove and checkpoint', () => {
  it('prove prints a bundle a third party verifies offline with the public key and the entry', async () => {
    const { dir, file } = await logFolder(9);
    const result = await runInProcess(['ledger', 'prove', '7', '--database', 'ledger.db', ...keyArgs], dir);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const bundle = JSON.parse(result.stdout);
    const db = createDatabase<LedgerTables>({ url: file });
    const row = await db.selectFrom('ledger_entries').select('body').where('seq', '=', 7).executeTakeFirstOrThrow();
    await db.destroy();
    expect(verifyBundle(bundle, KEY, new Uint8Array(row.body))).toMatchObject({ ok: true, leafIndex: 7 });
  });

  it('prove exits 1 for an entry not in the log and 2 without a sequence number', async () => {
    const { dir } = await logFolder(3);
    const beyond = await runInProcess(['ledger', 'prove', '3', '--database', 'ledger.db', ...keyArgs], dir);
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toContain('entry 3 is not in the log');
    expect((await runInProcess(['ledger', 'prove', '--database', 'ledger.db', ...keyArgs], dir)).code).toBe(2);
    expect((await runInProcess(['ledger', 'prove', '-1', '--database', 'ledger.db', ...keyArgs], dir)).code).toBe(2);
  });

  it('prove refuses a log whose leaf hashes no longer match the latest checkpoint', async () => {
    const { dir, file } = await logFolder(3);
    await tamper(file, ['update ledger_entries set leaf_hash = zeroblob(32) where seq = 1']);
    const result = await runInProcess(['ledger', 'prove', '0', '--database', 'ledger.db', ...keyArgs], dir);
    expect(result.code).toBe(1);
    // The store recomputes every leaf from its body: the stored hash that is not the body's is refused as such.
    expect(result.stderr).toContain('ERR_LEDGER_LOG_LEAF_MISMATCH');
  });

  it('checkpoint prints the latest signed note (exit 1 on an empty log)', async () => {
    const { dir } = await logFolder(5);
    const result = await runInProcess(['ledger', 'checkpoint', '--database', 'ledger.db', ...keyArgs], dir);
    expect(result.code).toBe(0);
    expect(verifyCheckpoint(result.stdout, KEY)).toMatchObject({ ok: true, checkpoint: { size: 5 } });
    const empty = await logFolder(0);
    expect((await runInProcess(['ledger', 'checkpoint', '--database', 'ledger.db', ...keyArgs], empty.dir)).code).toBe(1);
  });

  it('prove and checkpoint refuse a latest checkpoint another key signed (a database writer\'s), and a key that is not the log\'s', async () => {
    const { dir, file } = await logFolder(5);
    const stored = verifyCheckpoint((await runInProcess(['ledger', 'checkpoint', '--database', 'ledger.db', ...keyArgs], dir)).stdout, KEY);
    if (!stored.ok) throw new Error('the honest checkpoint does not verify');
    // Same origin, size and root — only the key differs: a reader that checks roots alone would accept it.
    const forged = stranger.sign(stored.checkpoint);
    await tamper(file, [`update ledger_checkpoints set note = '${forged.replaceAll("'", "''")}' where size = 5`]);
    for (const args of [['prove', '0'], ['checkpoint']]) {
      const result = await runInProcess(['ledger', ...args, '--database', 'ledger.db', ...keyArgs], dir);
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toContain('ERR_LEDGER_LOG_ROOT_MISMATCH');
    }
    const honest = await logFolder(5);
    const otherKey = ['--origin', ORIGIN, '--key-name', ORIGIN, '--public-key', Buffer.from(stranger.publicKey).toString('base64')];
    for (const args of [['prove', '0'], ['checkpoint']]) {
      expect((await runInProcess(['ledger', ...args, '--database', 'ledger.db', ...otherKey], honest.dir)).code).toBe(1);
      expect((await runInProcess(['ledger', ...args, '--database', 'ledger.db', '--origin', ORIGIN], honest.dir)).code).toBe(2);
    }
  });
});
