import { resolve } from 'node:path';
import { MIGRATIONS, type createDatabase, dialectOf, isAppMigration, migrateToLatest, pendingMigrations } from '@covenant/db';
import { LogError, createLedgerStore, type CheckpointSigner, type LedgerStore } from '@covenant/ledger';
import { KeyFileError, ledgerStateFileFor, readSignerKeyFile } from '@covenant/ledger/node';
import type { Io } from './main.ts';
import { UsageError } from './usage-error.ts';

/**
 * What the operator commands that change a tenant (`rbac bootstrap`, `rbac extend-admin`, `sessions revoke`)
 * share: every change they make is an entry on the service's audit ledger, signed with the service's own
 * checkpoint key, in the same transaction as the change.
 */

/** The service's default ledger origin (apps/helpdesk/src/main.ts), so that `npm start`'s database works as is. */
export const DEFAULT_ORIGIN = 'covenant.local/service';

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/** A `--database` flag, checked: where it is, whether it is PostgreSQL, and how to name it in messages. */
export interface DatabaseFlag {
  /** A SQLite file path resolved from the working directory, or the `postgres://` URL as given. */
  readonly database: string;
  readonly postgres: boolean;
  /** For messages: the path, or the URL without its credentials and query (which may carry settings). */
  readonly shown: string;
}

/**
 * Reads `--database`: the path of a SQLite file or, when `postgres` is allowed, a `postgres://` URL (the
 * service's own database). `:memory:` and any other URL are usage errors: an operator change there would
 * protect nothing.
 */
export function databaseFlag(command: string, value: string, io: Io, postgres: boolean): DatabaseFlag {
  const url = postgres && POSTGRES_URL.test(value);
  if (value === ':memory:' || (!url && /^[a-z][a-z0-9+.-]*:\/\//i.test(value))) {
    throw new UsageError(`${command}: --database is the path of a SQLite file${postgres ? ' or a postgres:// URL' : ''}`);
  }
  if (!url) {
    const database = resolve(io.cwd, value);
    return { database, postgres: false, shown: database };
  }
  return { database: value, postgres: true, shown: forMessages(value) };
}

function forMessages(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.href;
  } catch {
    return 'the PostgreSQL database';
  }
}

/**
 * `--ledger-key` (else COVENANT_LEDGER_KEY_FILE) resolved from the working directory, `--origin` (else
 * COVENANT_LEDGER_ORIGIN, else the service's default): the key and origin the service signs checkpoints
 * with; and `--ledger-state` (else COVENANT_LEDGER_STATE_FILE, else `<key file>.state`): the service's
 * state file, its highest signed head — the command signs the same log, so it holds it to the same head.
 * A missing key is a usage error naming `why` the ledger is needed.
 */
export function ledgerKeyFlags(
  command: string,
  values: { readonly 'ledger-key'?: string | undefined; readonly 'ledger-state'?: string | undefined; readonly origin?: string | undefined },
  why: string,
  io: Io,
): { readonly ledgerKey: string; readonly ledgerState: string; readonly origin: string } {
  const ledgerKey = values['ledger-key'] ?? io.env?.['COVENANT_LEDGER_KEY_FILE'];
  if (ledgerKey === undefined || ledgerKey.trim() === '') {
    throw new UsageError(`${command}: --ledger-key (or COVENANT_LEDGER_KEY_FILE) is required: ${why}`);
  }
  const keyPath = resolve(io.cwd, ledgerKey);
  const statePath = values['ledger-state'] ?? io.env?.['COVENANT_LEDGER_STATE_FILE'];
  return {
    ledgerKey: keyPath,
    ledgerState: statePath === undefined || statePath.trim() === '' ? ledgerStateFileFor(keyPath) : resolve(io.cwd, statePath),
    origin: values.origin ?? (io.env?.['COVENANT_LEDGER_ORIGIN'] || DEFAULT_ORIGIN),
  };
}

/** The checkpoint key, or `null` after saying why it cannot be read (nothing has changed then). */
export function readLedgerSigner(command: string, ledgerKey: string, origin: string, io: Io): CheckpointSigner | null {
  try {
    return readSignerKeyFile(ledgerKey, origin);
  } catch (error) {
    if (!(error instanceof KeyFileError) && !(error instanceof TypeError)) throw error;
    io.stderr(`covenant ${command}: nothing was changed; ${error.message}\n`);
    return null;
  }
}

/**
 * Migrates a SQLite `db` (refusing a database a newer build wrote; an application's own migrations, 1000
 * and up, are its business) unless `migrate` is false (a database the service set up, left as it is), and
 * opens its ledger with `signer`, held to the head in `stateFile`. A PostgreSQL database is never migrated
 * here: the command connects as the serving role, which cannot (ADR 0013); one with pending framework
 * migrations is refused. Returns `null` after reporting, with `db` destroyed; nothing has changed then.
 */
export async function openOperatorLedger(
  command: string,
  db: ReturnType<typeof createDatabase<any>>,
  signer: CheckpointSigner,
  origin: string,
  database: string,
  io: Io,
  options: { readonly stateFile: string; readonly migrate?: boolean },
): Promise<LedgerStore | null> {
  try {
    if (dialectOf(db) === 'postgres') {
      const pending = await pendingMigrations(db, MIGRATIONS, { ignoreUnknown: isAppMigration });
      if (pending.length > 0) throw new Error(`the database is not migrated (pending: ${pending.join(', ')}): run the migrations as the owner of the tables first`);
    } else if (options.migrate !== false) {
      await migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration });
    }
    return await createLedgerStore({ db, origin, signer, stateFile: options.stateFile });
  } catch (error) {
    await db.destroy();
    io.stderr(`covenant ${command}: failed, nothing was changed: ${ledgerFailure(error, database, origin)}\n`);
    return null;
  }
}

/** A failure to open the ledger, in an operator's words; a refusal of the log names its code. */
function ledgerFailure(error: unknown, database: string, origin: string): string {
  if (!(error instanceof LogError)) return (error as Error).message;
  if (error.code === 'ERR_LEDGER_LOG_ROOT_MISMATCH' && /does not verify with the store's key/.test(error.message)) {
    return `the ledger in ${database} is not signed with this --ledger-key for origin ${origin}`;
  }
  return `${error.code}: ${error.message}`;
}

/**
 * A store's refusal after the ledger was opened: a `TypeError` (a malformed identifier, refused before
 * anything changed) is a usage error; anything else is reported, exit 1.
 */
export function storeFailure(command: string, error: unknown, io: Io): number {
  if (error instanceof TypeError) throw new UsageError(`${command}: ${error.message}`);
  io.stderr(`covenant ${command}: failed, nothing was changed: ${(error as Error).message}\n`);
  return 1;
}
