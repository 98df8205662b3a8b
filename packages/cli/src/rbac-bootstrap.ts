import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadContracts } from '@covenant/codegen';
import { createDatabase } from '@covenant/db';
import { RbacChangeError, createRbacStore, type RbacTables } from '@covenant/rbac';
import { recordChangesOn } from '@covenant/rbac/ledger';
import { readProjectConfig } from './config.ts';
import type { Io } from './main.ts';
import { databaseFlag, ledgerKeyFlags, openOperatorLedger, readLedgerSigner, storeFailure, type DatabaseFlag } from './operator-ledger.ts';
import { UsageError, parseFlags } from './usage-error.ts';

/**
 * `covenant rbac <subcommand>`: `bootstrap` a new tenant, `extend-admin` after new capabilities, `recover`
 * a tenant nobody can administer any more.
 */
export async function rbacCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'bootstrap') return rbacBootstrap(rest, io);
  if (subcommand === 'extend-admin') return rbacExtendAdmin(rest, io);
  if (subcommand === 'recover') return rbacRecover(rest, io);
  throw new UsageError(
    subcommand === undefined ? 'rbac: name a subcommand (bootstrap, extend-admin, recover)' : `rbac: unknown subcommand "${subcommand}"`,
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

type Flag = keyof typeof FLAGS;

/**
 * Flags, checked: the named ones present, a reason of 3 to 500 characters, a SQLite file path (or, with
 * `postgres`, a `postgres://` URL: a database the service already uses, which the command never creates).
 */
function readFlags(command: string, args: ReadonlyArray<string>, required: ReadonlyArray<Flag>, io: Io, postgres = false) {
  const values = parseFlags(args, FLAGS) as Partial<Record<Flag, string>>;
  const missing = required.filter((name) => values[name] === undefined || values[name].trim() === '');
  if (missing.length > 0) {
    throw new UsageError(`rbac ${command}: ${missing.map((name) => `--${name}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  }
  const reason = values.reason!.trim();
  if (reason.length < 3 || reason.length > 500) throw new UsageError(`rbac ${command}: --reason is 3 to 500 characters`);
  const database = databaseFlag(`rbac ${command}`, values.database!, io, postgres);
  // The ledger the change is written to: the same key and origin the service signs checkpoints with.
  const { ledgerKey, ledgerState, origin } = ledgerKeyFlags(`rbac ${command}`, values, 'every RBAC change is a ledger entry', io);
  return { ...(values as Record<Flag, string> & { contracts?: string }), reason, origin, 'ledger-key': ledgerKey, 'ledger-state': ledgerState, database };
}

/**
 * Opens (creating it, with its folder, if missing) and migrates the database, and registers every
 * capability the project's contracts declare, as the service does at start-up. With `existing`, the
 * database must exist already and is neither created nor migrated (a tenant to recover lives in a
 * database the service set up). Returns `null` after reporting when that cannot be done; nothing has
 * changed then.
 */
async function openWithCatalogue(
  command: string,
  flags: { database: DatabaseFlag; contracts?: string; origin: string; 'ledger-key': string; 'ledger-state': string },
  io: Io,
  existing = false,
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
  const signer = readLedgerSigner(`rbac ${command}`, flags['ledger-key'], flags.origin, io);
  if (signer === null) return null;
  const { database, postgres, shown } = flags.database;
  const created = !postgres && !existsSync(database);
  if (existing && created) {
    io.stderr(`covenant rbac ${command}: no database at ${database}\n`);
    return null;
  }
  let db: ReturnType<typeof createDatabase<RbacTables>>;
  try {
    if (!postgres) mkdirSync(dirname(database), { recursive: true });
    db = createDatabase<RbacTables>({ url: database });
  } catch (error) {
    io.stderr(`covenant rbac ${command}: cannot open ${shown}: ${(error as Error).message}\n`);
    return null;
  }
  const ledger = await openOperatorLedger(`rbac ${command}`, db, signer, flags.origin, shown, io, {
    stateFile: flags['ledger-state'],
    migrate: !existing,
  });
  if (ledger === null) return null;
  try {
    const log = { error: (_details: object, message: string) => io.stderr(`covenant rbac ${command}: ${message}\n`) };
    const store = createRbacStore({ db, ...recordChangesOn(ledger, log) });
    await store.registerCapabilities(capabilities, 'contract');
    return { db, store, ledger, created };
  } catch (error) {
    await ledger.close();
    await db.destroy();
    io.stderr(`covenant rbac ${command}: failed, nothing was changed: ${(error as Error).message}\n`);
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
        `  recorded as operator:${flags.operator} in ${flags.database.shown}${opened.created ? ' (new database)' : ''} and on its ledger (${await ledger.size()} entries)\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof RbacChangeError && error.code === 'TENANT_ALREADY_BOOTSTRAPPED') {
      io.stderr(`covenant rbac bootstrap: refused: ${flags.org} already has roles; grant admins through the rbac API instead\n`);
      return 1;
    }
    return storeFailure('rbac bootstrap', error, io);
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
    return storeFailure('rbac extend-admin', error, io);
  } finally {
    await opened.ledger.close();
    await opened.db.destroy();
  }
}

/**
 * `covenant rbac recover`: the explicit, recorded path for an org nobody can administer any more (no one
 * holds `rbac.bindings.manage` org-wide for good: e.g. its admins were denied their own role before the
 * store refused such changes, or its rows were repaired by hand). Restores the org's bootstrap role with
 * every catalogue capability (recreating it if it was deleted), lifts every deny binding of `--admin`, and
 * binds `--admin` to the role org-wide, in one transaction with its ledger event, as `operator:<--operator>`
 * with `--reason`. Refused (exit 1, nothing changed) for an org that someone can still administer (the
 * rbac API is the path then) and for an org never bootstrapped. `--database` may be the service's
 * PostgreSQL URL; the database is never created or migrated.
 */
async function rbacRecover(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const flags = readFlags('recover', args, ['database', 'org', 'admin', 'reason', 'operator'], io, true);
  const opened = await openWithCatalogue('recover', flags, io, true);
  if (opened === null) return 1;
  try {
    const { store, ledger } = opened;
    const { role, binding, lifted } = await ledger.transact((tx) => store.bind(tx.db).recoverTenant(flags.operator, flags.org, flags.admin, flags.reason));
    io.stdout(
      `covenant rbac recover: ${flags.org}: role ${role.name} (${role.id}, ${role.capabilities.length} capabilities) bound to ${flags.admin} (${binding.id}); ` +
        `lifted ${lifted.length} deny ${lifted.length === 1 ? 'binding' : 'bindings'} of ${flags.admin}\n` +
        `  recorded as operator:${flags.operator} in ${flags.database.shown} and on its ledger (${await ledger.size()} entries)\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof RbacChangeError && error.code === 'TENANT_NOT_LOCKED_OUT') {
      io.stderr(`covenant rbac recover: refused: ${flags.org} is not locked out (someone holds every capability org-wide, for good); grant admins through the rbac API instead\n`);
      return 1;
    }
    if (error instanceof RbacChangeError && error.code === 'TENANT_NOT_BOOTSTRAPPED') {
      io.stderr(`covenant rbac recover: refused: ${flags.org} was never bootstrapped; run covenant rbac bootstrap instead\n`);
      return 1;
    }
    if (error instanceof RbacChangeError && error.code === 'UNKNOWN_CAPABILITY') {
      io.stderr(`covenant rbac recover: refused: ${error.message}\n`);
      return 1;
    }
    return storeFailure('rbac recover', error, io);
  } finally {
    await opened.ledger.close();
    await opened.db.destroy();
  }
}
