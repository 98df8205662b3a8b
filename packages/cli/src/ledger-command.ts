import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createDatabase } from '@covenant/db';
import { createLedgerStore, isLedgerError, verifyLedger, type LedgerTables } from '@covenant/ledger';
import type { Io } from './main.ts';
import { UsageError, parseFlags } from './usage-error.ts';

/**
 * `covenant ledger <subcommand>`: `verify` audits a whole stored log with the public key, `prove <seq>`
 * prints an offline inclusion bundle, `checkpoint` prints the latest signed checkpoint — both only once it
 * verifies with the public key. All three only read the database: none creates, migrates or writes it.
 */
export async function ledgerCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'verify') return ledgerVerify(rest, io);
  if (subcommand === 'prove') return ledgerProve(rest, io);
  if (subcommand === 'checkpoint') return ledgerCheckpoint(rest, io);
  throw new UsageError(
    subcommand === undefined ? 'ledger: name a subcommand (verify, prove, checkpoint)' : `ledger: unknown subcommand "${subcommand}"`,
  );
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** The log's identity and key, which every ledger command checks what it reads against. */
const KEY_FLAGS = ['origin', 'key-name', 'public-key'] as const;
const KEY_FLAG_TYPES = { origin: { type: 'string' }, 'key-name': { type: 'string' }, 'public-key': { type: 'string' } } as const;

/** Progress lines go to stderr, one per page, only on logs of more than one page. */
const PROGRESS_PAGE = 10_000;

async function ledgerVerify(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parseFlags(args, {
    database: { type: 'string' },
    ...KEY_FLAG_TYPES,
    'trusted-checkpoint': { type: 'string' },
  });
  const database = required('verify', values, ['database', ...KEY_FLAGS]);
  const publicKey = publicKeyFlag('verify', values);
  let trustedCheckpoint: string | undefined;
  if (values['trusted-checkpoint'] !== undefined) {
    trustedCheckpoint = await readFile(resolve(io.cwd, values['trusted-checkpoint']), 'utf8').catch(() => undefined);
    if (trustedCheckpoint === undefined) {
      io.stderr(`covenant ledger verify: cannot read --trusted-checkpoint ${values['trusted-checkpoint']}\n`);
      return 1;
    }
  }
  return withDatabase('verify', database, io, async (db) => {
    const started = Date.now();
    const result = await verifyLedger(db, {
      origin: values.origin!,
      keyName: values['key-name']!,
      publicKey,
      pageSize: PROGRESS_PAGE,
      ...(trustedCheckpoint !== undefined ? { trustedCheckpoint } : {}),
      onProgress: ({ verified, total }) => {
        if (total > PROGRESS_PAGE) io.stderr(`covenant ledger verify: verified ${verified}/${total} entries\n`);
      },
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (result.ok) {
      io.stdout(`covenant ledger verify: ok, ${result.size} entries, ${result.checkpoints} checkpoints (${seconds} s)\n`);
      return 0;
    }
    const where = result.checkpointSize !== undefined ? ` (checkpoint of size ${result.checkpointSize})` : '';
    io.stderr(`covenant ledger verify: FAILED at index ${result.index}${where}: ${result.code}: ${result.message}\n`);
    return 1;
  });
}

async function ledgerProve(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [seqText, ...rest] = args;
  if (seqText === undefined || !/^(0|[1-9][0-9]*)$/.test(seqText) || !Number.isSafeInteger(Number(seqText))) {
    throw new UsageError('ledger prove: name the entry, e.g. covenant ledger prove 42 --database <file> --origin <origin> --key-name <name> --public-key <base64>');
  }
  const values = parseFlags(rest, { database: { type: 'string' }, ...KEY_FLAG_TYPES });
  const database = required('prove', values, ['database', ...KEY_FLAGS]);
  const verifierKey = { name: values['key-name']!, publicKey: publicKeyFlag('prove', values) };
  return withDatabase('prove', database, io, async (db) => {
    // A read-only store that verifies the latest checkpoint with the log's key, and its root against the leaves.
    const store = await createLedgerStore({ db, origin: values.origin!, verifierKey });
    const seq = Number(seqText);
    const size = await store.size();
    if (seq >= size) {
      io.stderr(`covenant ledger prove: entry ${seq} is not in the log (it has ${size} entries)\n`);
      return 1;
    }
    io.stdout(`${JSON.stringify(await store.inclusionBundle(seq), null, 2)}\n`);
    await store.close();
    return 0;
  });
}

async function ledgerCheckpoint(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parseFlags(args, { database: { type: 'string' }, ...KEY_FLAG_TYPES });
  const database = required('checkpoint', values, ['database', ...KEY_FLAGS]);
  const verifierKey = { name: values['key-name']!, publicKey: publicKeyFlag('checkpoint', values) };
  return withDatabase('checkpoint', database, io, async (db) => {
    // Printed only once it verifies with the log's key and its root is the stored leaves' (what an operator
    // keeps as the trusted head must not be whatever a database writer put in the row).
    const store = await createLedgerStore({ db, origin: values.origin!, verifierKey });
    const latest = await store.latestCheckpoint();
    await store.close();
    if (latest === null) {
      io.stderr('covenant ledger checkpoint: the log has no checkpoint yet\n');
      return 1;
    }
    io.stdout(latest.note);
    return 0;
  });
}

function publicKeyFlag(command: string, values: Record<string, string | boolean | undefined>): Uint8Array {
  const text = values['public-key'] as string;
  const publicKey = Buffer.from(text, 'base64');
  if (publicKey.length !== 32 || publicKey.toString('base64') !== text) {
    throw new UsageError(`ledger ${command}: --public-key is the base64 of a 32-byte Ed25519 public key`);
  }
  return new Uint8Array(publicKey);
}

function required(command: string, values: Record<string, string | boolean | undefined>, names: readonly string[]): string {
  const missing = names.filter((name) => typeof values[name] !== 'string' || (values[name] as string).trim() === '');
  if (missing.length > 0) {
    throw new UsageError(`ledger ${command}: ${missing.map((name) => `--${name}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  }
  const database = values.database as string;
  // The ledger commands only read: a SQLite file, or a postgres:// URL; no other scheme.
  if (database === ':memory:' || (/^[a-z][a-z0-9+.-]*:\/\//i.test(database) && !POSTGRES_URL.test(database))) {
    throw new UsageError(`ledger ${command}: --database is the path of a SQLite file or a postgres:// URL`);
  }
  return database;
}

/** Opens an existing database (never creates one), runs `body`, reports a failure to open or read as exit 1. */
async function withDatabase(
  command: string,
  path: string,
  io: Io,
  body: (db: ReturnType<typeof createDatabase<LedgerTables>>) => Promise<number>,
): Promise<number> {
  // A PostgreSQL URL is taken as is; anything else is a SQLite file, which must exist.
  const postgres = POSTGRES_URL.test(path);
  const file = postgres ? path : resolve(io.cwd, path);
  if (!postgres && !existsSync(file)) {
    io.stderr(`covenant ledger ${command}: no database at ${file}\n`);
    return 1;
  }
  const db = createDatabase<LedgerTables>({ url: file });
  try {
    return await body(db);
  } catch (error) {
    if (!isLedgerError(error) && !/SQLITE|no such table/i.test(String((error as Error)?.message))) throw error;
    const code = isLedgerError(error) ? `${error.code}: ` : '';
    io.stderr(`covenant ledger ${command}: ${code}${(error as Error).message}\n`);
    return 1;
  } finally {
    await db.destroy();
  }
}
