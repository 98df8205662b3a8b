import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@covenant/db';
import { createCheckpointSigner, decodeEntry, verifyLedger, type LedgerEntry, type LedgerTables } from '@covenant/ledger';
import type { Kysely } from 'kysely';

// One writer process per SQLite file (issue 12): a second service process started on the file while the
// first is mid-burst used to run start-up recovery, which appended `aborted` outcomes to calls the first
// then closed `ok`. The second is now refused at start-up (the file's writer lock, `<file>-writer`), and the
// lock goes with the first process when it is killed (SIGKILL), so the next start recovers normally.
// The children are fixtures/crash-child.ts: the service as `npm start` assembles it, firing audited calls.

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const KEY_HEX = '7e'.repeat(32);
const SIGNER = createCheckpointSigner({ name: 'test.example/sqlite-writer', privateKey: new Uint8Array(Buffer.from(KEY_HEX, 'hex')) });
/** Calls the first process has acknowledged before the second is started: it is mid-burst then. */
const BEFORE_SECOND = 50;
const LIMIT_MS = 30_000;

let dir: string;
let file: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covenant-sqlite-writer-'));
  file = join(dir, 'covenant.db');
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

interface Child {
  readonly process: ChildProcess;
  /** Resolves with the child's `ready` line (its start-up recovery), or rejects if it ends first. */
  readonly ready: Promise<{ recovered: string[] }>;
  /** Resolves once the child has acknowledged `n` calls. */
  acknowledged(n: number): Promise<void>;
  /** Resolves when the child has ended, with its exit code, signal and stderr. */
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>;
}

function start(tag: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, tag], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    env: { ...process.env, COVENANT_CRASH_LEDGER_KEY: KEY_HEX, COVENANT_CRASH_LEDGER_NAME: SIGNER.name, COVENANT_CRASH_LEDGER_STATE: join(dir, 'ledger.state') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const limit = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
  let stdout = '';
  let stderr = '';
  let count = 0;
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  let onReady!: (value: { recovered: string[] }) => void;
  let onNotReady!: (error: Error) => void;
  const ready = new Promise<{ recovered: string[] }>((resolve, reject) => {
    onReady = resolve;
    onNotReady = reject;
  });
  ready.catch(() => undefined);
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    // Whole lines only: a chunk may end mid-line.
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.startsWith('ready ')) onReady(JSON.parse(line.slice('ready '.length)) as { recovered: string[] });
      if (line.startsWith('ok ')) count += 1;
    }
    for (const w of waiting.splice(0)) {
      if (count >= w.n) w.resolve();
      else waiting.push(w);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      children.delete(child);
      onNotReady(new Error(`child ${tag} ended before it was ready (code ${code}, signal ${signal}):\n${stderr}`));
      resolve({ code, signal, stderr, stdout });
    });
  });
  return {
    process: child,
    ready,
    ended,
    acknowledged: (n) => (count >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve }))),
  };
}

describe('two service processes on one SQLite file', () => {
  it('the second is refused at start-up while the first serves (ERR_LEDGER_WRITER_BUSY), never aborting its calls; after a SIGKILL of the first, the next start recovers', async () => {
    const first = start('first');
    await first.ready;
    await first.acknowledged(BEFORE_SECOND);

    // Mid-burst: the first has intents in flight. The second must not get to recovery.
    const second = start('second');
    const refused = await second.ended;
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).not.toContain('ready');
    expect(refused.stderr).toContain('ERR_LEDGER_WRITER_BUSY');
    expect(refused.stderr).toContain('one writer process per SQLite database file');

    // The first kept serving; SIGKILL takes its lock with it (the operating system drops the file lock).
    await first.acknowledged(BEFORE_SECOND + 20);
    first.process.kill('SIGKILL');
    expect((await first.ended).signal).toBe('SIGKILL');
    const third = start('third');
    const { recovered } = await third.ready;
    third.process.kill('SIGKILL');
    await third.ended;

    const db: Kysely<LedgerTables> = createDatabase<LedgerTables>({ url: file });
    try {
      const entries: LedgerEntry[] = (await db.selectFrom('ledger_entries').select('body').orderBy('seq').execute()).map((row) => decodeEntry(new Uint8Array(row.body)));
      expect(await verifyLedger(db, { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey })).toMatchObject({ ok: true, size: entries.length });
      // No call has two outcomes (the refused start appended none); the aborted ones are exactly what the
      // third start recovered after the kill.
      const outcomes = new Map<string, string[]>();
      for (const entry of entries) if (entry.kind === 'outcome') outcomes.set(entry.requestId!, [...(outcomes.get(entry.requestId!) ?? []), entry.outcome!]);
      expect([...outcomes.values()].filter((list) => list.length > 1)).toEqual([]);
      const aborted = [...outcomes].filter(([, list]) => list[0] === 'aborted').map(([requestId]) => requestId);
      expect(aborted.sort()).toEqual([...recovered].sort());
      expect(entries.filter((entry) => entry.kind === 'outcome' && entry.outcome === 'ok').length).toBeGreaterThanOrEqual(BEFORE_SECOND + 20);
    } finally {
      await db.destroy();
    }
  }, 90_000);
});
