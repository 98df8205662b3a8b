import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadContracts } from '@covenant/codegen';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { RbacChangeError, createRbacStore, type RbacTables } from '@covenant/rbac';
import { readProjectConfig } from './config.ts';
import type { Io } from './main.ts';
import { UsageError, parseFlags } from './usage-error.ts';

/** `covenant rbac <subcommand>`: only `bootstrap` so far. */
export async function rbacCommand(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'bootstrap') return rbacBootstrap(rest, io);
  throw new UsageError(subcommand === undefined ? 'rbac: name a subcommand (bootstrap)' : `rbac: unknown subcommand "${subcommand}"`);
}

const REQUIRED = ['database', 'org', 'admin', 'reason', 'operator'] as const;

/**
 * `covenant rbac bootstrap`: the explicit, recorded first-admin path for a new tenant (there is no
 * default admin and no default password). It
 * 1. opens the SQLite file (created, with its folder, if missing; the output says so) and migrates it, refusing a database a newer build wrote;
 * 2. registers every capability the project's contracts declare (as the service does at start-up), so the
 *    admin role holds the whole catalogue even on a database the service has not opened yet;
 * 3. creates the org's `admin` role and binds `--admin` to it, recorded in the org's change log as
 *    `operator:<--operator>` with `--reason`.
 * It is refused (exit 1, nothing changed) once the org has any role: later admins are granted through
 * the `rbac` API, by someone who holds what they grant.
 */
async function rbacBootstrap(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parseFlags(args, {
    database: { type: 'string' },
    org: { type: 'string' },
    admin: { type: 'string' },
    reason: { type: 'string' },
    operator: { type: 'string' },
    contracts: { type: 'string' },
  });
  const missing = REQUIRED.filter((name) => values[name] === undefined || values[name].trim() === '');
  if (missing.length > 0) {
    throw new UsageError(`rbac bootstrap: ${missing.map((name) => `--${name}`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  }
  const { org, admin, operator } = values as Record<(typeof REQUIRED)[number], string>;
  const reason = values.reason!.trim();
  if (reason.length < 3 || reason.length > 500) throw new UsageError('rbac bootstrap: --reason is 3 to 500 characters');
  if (values.database === ':memory:' || /^[a-z][a-z0-9+.-]*:\/\//i.test(values.database!)) {
    throw new UsageError('rbac bootstrap: --database is the path of a SQLite file');
  }
  const database = resolve(io.cwd, values.database!);

  const config = await readProjectConfig(io.cwd);
  const contractsDir = values.contracts !== undefined ? resolve(io.cwd, values.contracts) : resolve(config.root, config.contracts);
  const loaded = await loadContracts({ dir: contractsDir, root: config.root });
  if (loaded.problems.length > 0) {
    io.stderr(`covenant rbac bootstrap: nothing was changed; the contracts (the capability catalogue) cannot be loaded:\n`);
    for (const problem of loaded.problems) io.stderr(`  ${problem.file}: ${problem.message.replace(/\n/g, '\n    ')}\n`);
    return 1;
  }
  const capabilities = loaded.contracts.flatMap(({ contract }) =>
    contract['~covenant'].procedures.flatMap(({ procedure }) => {
      const capability = procedure['~covenant'].security.capability;
      return capability === null ? [] : [capability];
    }),
  );
  if (capabilities.length === 0) {
    io.stderr(`covenant rbac bootstrap: nothing was changed; no contract under ${contractsDir} declares a capability, so an admin role would hold nothing\n`);
    return 1;
  }

  const created = !existsSync(database);
  let db;
  try {
    mkdirSync(dirname(database), { recursive: true });
    db = createDatabase<RbacTables>({ url: database });
  } catch (error) {
    io.stderr(`covenant rbac bootstrap: cannot open ${database}: ${(error as Error).message}\n`);
    return 1;
  }
  try {
    await migrateToLatest(db);
    const store = createRbacStore({ db });
    await store.registerCapabilities(capabilities, 'contract');
    let result;
    try {
      result = await store.bootstrapTenant(operator, org, admin, reason);
    } catch (error) {
      if (error instanceof RbacChangeError && error.code === 'TENANT_ALREADY_BOOTSTRAPPED') {
        io.stderr(`covenant rbac bootstrap: refused: ${org} already has roles; grant admins through the rbac API instead\n`);
        return 1;
      }
      // The store refuses malformed identifiers with a TypeError before it changes anything.
      if (error instanceof TypeError) throw new UsageError(`rbac bootstrap: ${error.message}`);
      throw error;
    }
    const { role, binding } = result;
    io.stdout(
      `covenant rbac bootstrap: ${org}: role ${role.name} (${role.id}, ${role.capabilities.length} capabilities) bound to ${admin} (${binding.id})\n` +
        `  recorded as operator:${operator} in ${database}${created ? ' (new database)' : ''}\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    io.stderr(`covenant rbac bootstrap: failed, no tenant was bootstrapped: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await db.destroy();
  }
}
