import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadContracts } from '@covenant/codegen';
import { MIGRATIONS, createDatabase, isAppMigration, migrateToLatest } from '@covenant/db';
import { LogError, createLedgerStore } from '@covenant/ledger';
import { KeyFileError, ledgerStateFileFor, readSignerKeyFile } from '@covenant/ledger/node';
import { RbacChangeError, createRbacStore, type RbacTables } from '@covenant/rbac';
import { recordChangesOn } from '@covenant/rbac/ledger';
import { readProjectConfig } from './config.ts';
import type { Io } from './main.ts';
import { UsageError, parseFlags } from './usage-error.ts';

/** `covenant rbac <subcommand>`: `bootstrap` a new tenant, or `extend-admin` after new capabilities. */
export async function rbacCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'bootstrap') return rbacBootstrap(rest, io);
  if (subcommand === 'extend-admin') return rbacExtendAdmin(rest, io);
  throw new UsageError(
    subcommand === undefined ? 'rbac: name a subcommand (bootstrap, extend-admin)' : `rbac: unknown subcommand "${subcommand}"`,
  );
}

const FLAGS = {
  database: { type: 'string' },
  org: { type: 'string' },
  admin: { type: 'string' },
  reason: { type: 'string' },
  operator: { type: 'string' },
  contracts: { type: 'string' },
  'ledger-key': { type: 'string' },
  'ledger-state': { type: 'string' },
  origin: { type: 'string' },
} as const;

/** The service's default ledger origin (apps/helpdesk/src/main.ts), so that `npm start`'s database works as is. */
const DEFAULT_ORIGIN = 'covenant.local/service';

type Flag = keyof typeof FLAGS;

/** Flags, checked: the named ones present, a reason of 3 to 500 characters, a SQLite file path. */
function readFlags(command: string, args: ReadonlyArray<string>, required: ReadonlyArray<Flag>, io: Io) {
  const values = parseFlags(args, FLAGS) as Partial<Record<Flag, string>>;
  const missing = required.filter((name) => values[name] === undefined || values[name].trim() === '');
  if (missing.length > 0) {
    throw new UsageError(`rbac ${command}: ${missing.map((name) => `--${name}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  }
  const reason = values.reason!.trim();
  if (reason.length < 3 || reason.length > 500) throw new UsageError(`rbac ${command}: --reason is 3 to 500 characters`);
  if (values.database === ':memory:' || /^[a-z][a-z0-9+.-]*:\/\//i.test(values.database!)) {
    throw new UsageError(`rbac ${command}: --database is the path of a SQLite file`);
  }
  // The ledger the change is written to: the same key and origin the service signs checkpoints with.
  const ledgerKey = values['ledger-key'] ?? io.env?.['COVENANT_LEDGER_KEY_FILE'];
  if (ledgerKey === undefined || ledgerKey.trim() === '') {
    throw new UsageError(`rbac ${command}: --ledger-key (or COVENANT_LEDGER_KEY_FILE) is required: every RBAC change is a ledger entry`);
  }
  const origin = values.origin ?? (io.env?.['COVENANT_LEDGER_ORIGIN'] || DEFAULT_ORIGIN);
  const keyPath = resolve(io.cwd, ledgerKey);
  // The service's state file (its highest signed head): the CLI signs the same log, so it holds it to the same head.
  const statePath = values['ledger-state'] ?? io.env?.['COVENANT_LEDGER_STATE_FILE'];
  const ledgerState = statePath === undefined || statePath.trim() === '' ? ledgerStateFileFor(keyPath) : resolve(io.cwd, statePath);
  return { ...values, reason, origin, 'ledger-key': keyPath, 'ledger-state': ledgerState, database: resolve(io.cwd, values.database!) } as Record<Flag, string> & {
    contracts?: string;
  };
}

/**
 * Opens (creating it, with its folder, if missing) and migrates the database, and registers every
 * capability the project's contracts declare, as the service does at start-up. Returns `null` after
 * reporting when that cannot be done; nothing has changed then.
 */
async function openWithCatalogue(
  command: string,
  flags: { database: string; contracts?: string; origin: string; 'ledger-key': string; 'ledger-state': string },
  io: Io,
) {
  const config = await readProjectConfig(io.cwd);
  const contractsDir = flags.contracts !== undefined ? resolve(io.cwd, flags.contracts) : resolve(config.root, config.contracts);
  const loaded = await loadContracts({ dir: contractsDir, root: config.root });
  if (loaded.problems.length > 0) {
    io.stderr(`covenant rbac ${command}: nothing was changed; the contracts (the capability catalogue) cannot be loaded:\n`);
    for (const problem of loaded.problems) io.stderr(`  ${problem.file}: ${problem.message.replace(/\n/g, '\n    ')}\n`);
    return null;
  }
  const capabilities = loaded.contracts.flatMap(({ contract }) =>
    contract['~covenant'].procedures.flatMap(({ procedure }) => {
      const capability = procedure['~covenant'].security.capability;
      return capability === null ? [] : [capability];
    }),
  );
  if (capabilities.length === 0) {
    io.stderr(`covenant rbac ${command}: nothing was changed; no contract under ${contractsDir} declares a capability, so an admin role would hold nothing\n`);
    return null;
  }
  let signer: ReturnType<typeof readSignerKeyFile>;
  try {
    signer = readSignerKeyFile(flags['ledger-key'], flags.origin);
  } catch (error) {
    if (!(error instanceof KeyFileError) && !(error instanceof TypeError)) throw error;
    io.stderr(`covenant rbac ${command}: nothing was changed; ${error.message}\n`);
    return null;
  }
  const created = !existsSync(flags.database);
  let db: ReturnType<typeof createDatabase<RbacTables>>;
  try {
    mkdirSync(dirname(flags.database), { recursive: true });
    db = createDatabase<RbacTables>({ url: flags.database });
  } catch (error) {
    io.stderr(`covenant rbac ${command}: cannot open ${flags.database}: ${(error as Error).message}\n`);
    return null;
  }
  try {
    // An application's own migrations (1000 and up) are its business: only unknown framework ones refuse.
    await migrateToLatest(db, MIGRATIONS, { ignoreUnknown: isAppMigration });
    const ledger = await createLedgerStore({ db, origin: flags.origin, signer, stateFile: flags['ledger-state'] });
    const log = { error: (_details: object, message: string) => io.stderr(`covenant rbac ${command}: ${message}\n`) };
    const store = createRbacStore({ db, onChange: recordChangesOn(ledger, log) });
    await store.registerCapabilities(capabilities, 'contract');
    return { db, store, ledger, created };
  } catch (error) {
    await db.destroy();
    const message =
      error instanceof LogError && error.code === 'ERR_LEDGER_LOG_ROOT_MISMATCH' && /does not verify with the store's key/.test(error.message)
        ? `the ledger in ${flags.database} is not signed with this --ledger-key for origin ${flags.origin}`
        : error instanceof LogError
          ? `${error.code}: ${error.message}`
          : (error as Error).message;
    io.stderr(`covenant rbac ${command}: failed, nothing was changed: ${message}\n`);
    return null;
  }
}

/**
 * `covenant rbac bootstrap`: the explicit, recorded first-admin path for a new tenant (there is no
 * default admin and no default password). It opens and migrates the database (refusing one a newer build
 * wrote), registers the contracts' capabilities, then creates the org's `admin` role holding all of them
 * and binds `--admin` to it, recorded in the org's change log and on the audit ledger (signed with
 * `--ledger-key`, the service's checkpoint key, under `--origin`, and held to the head in `--ledger-state`,
 * the service's state file) as `operator:<--operator>` with `--reason`.
 * Refused (exit 1, nothing changed) once the org has any role: later admins are granted through the
 * `rbac` API, by someone who holds what they grant.
 */
async function rbacBootstrap(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const flags = readFlags('bootstrap', args, ['database', 'org', 'admin', 'reason', 'operator'], io);
  const opened = await openWithCatalogue('bootstrap', flags, io);
  if (opened === null) return 1;
  try {
    const { store, ledger } = opened;
    const { role, binding } = await ledger.transact((tx) => store.bind(tx.db).bootstrapTenant(flags.operator, flags.org, flags.admin, flags.reason));
    io.stdout(
      `covenant rbac bootstrap: ${flags.org}: role ${role.name} (${role.id}, ${role.capabilities.length} capabilities) bound to ${flags.admin} (${binding.id})\n` +
        `  recorded as operator:${flags.operator} in ${flags.database}${opened.created ? ' (new database)' : ''} and on its ledger (${await ledger.size()} entries)\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof RbacChangeError && error.code === 'TENANT_ALREADY_BOOTSTRAPPED') {
      io.stderr(`covenant rbac bootstrap: refused: ${flags.org} already has roles; grant admins through the rbac API instead\n`);
      return 1;
    }
    return storeFailure('bootstrap', error, io);
  } finally {
    await opened.ledger.close();
    await opened.db.destroy();
  }
}

/**
 * `covenant rbac extend-admin`: after contracts declare new capabilities, adds them to the org's bootstrap
 * role (nobody in the org holds them, so nobody could grant them otherwise). Recorded as
 * `operator:<--operator>` with `--reason`; refused when the org was never bootstrapped or its bootstrap
 * role was deleted.
 */
async function rbacExtendAdmin(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const flags = readFlags('extend-admin', args, ['database', 'org', 'reason', 'operator'], io);
  const opened = await openWithCatalogue('extend-admin', flags, io);
  if (opened === null) return 1;
  try {
    const { store, ledger } = opened;
    const added = await ledger.transact((tx) => store.bind(tx.db).extendBootstrapRole(flags.operator, flags.org, flags.reason));
    io.stdout(
      added.length === 0
        ? `covenant rbac extend-admin: ${flags.org}: the bootstrap role already holds every capability\n`
        : `covenant rbac extend-admin: ${flags.org}: added ${added.join(', ')}; recorded as operator:${flags.operator}\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof RbacChangeError && error.code === 'ROLE_NOT_FOUND') {
      io.stderr(`covenant rbac extend-admin: refused: ${error.message}\n`);
      return 1;
    }
    return storeFailure('extend-admin', error, io);
  } finally {
    await opened.ledger.close();
    await opened.db.destroy();
  }
}

function storeFailure(command: string, error: unknown, io: Io): number {
  // The store refuses malformed identifiers with a TypeError before it changes anything.
  if (error instanceof TypeError) throw new UsageError(`rbac ${command}: ${error.message}`);
  io.stderr(`covenant rbac ${command}: failed, nothing was changed: ${(error as Error).message}\n`);
  return 1;
}
