import { readFile } from 'node:fs/promises';

/**
 * Where each thing the scaffold imports comes from. Template files name a role (`'{{import:ledger-audit}}'`),
 * never a package, so that when Covenant's packages are split or renamed this table is the one place to
 * change: the imports written and the scaffold's dependencies both follow it.
 */
export const INIT_IMPORTS = Object.freeze({
  /** The ports and their vocabulary: the DatabaseScope type. */
  core: '@covenant/core',
  /** defineContract, query, mutation (contracts/). */
  contract: '@covenant/contract',
  /** isCovenantError (test/); the generated client.ts imports the package too. */
  client: '@covenant/client',
  /** createCovenantRuntime, createHttpServer, createLogDestination, the Tenant type, the Register declaration. */
  server: '@covenant/server',
  /** createDatabase, MIGRATIONS, migrateToLatest, pendingMigrations, MigrationError, SERVICE_ROLE, dialectOf, readOnly, tenantGuard. */
  db: '@covenant/db',
  /** createTokenVerifier, TokenVerifierOptions. */
  identity: '@covenant/identity',
  /** createRevocationStore, recordRevocationsOn, RevocationTables. */
  'identity-revocations': '@covenant/identity/revocation-store',
  /** createLedgerStore, CheckpointSigner, LedgerStore, LedgerTables. */
  'ledger-store': '@covenant/ledger',
  /** createSignerKeyFile, readSignerKeyFile, ledgerStateFileFor (Node key files). */
  'ledger-keys': '@covenant/ledger/node',
  /** createLedgerAudit, LedgerAudit (the audit port on the ledger). */
  'ledger-audit': '@covenant/ledger/audit',
  /** createRbacStore, RbacStore, RbacTables, RbacChangeError. */
  rbac: '@covenant/rbac',
  /** recordChangesOn (RBAC changes on the ledger). */
  'rbac-ledger': '@covenant/rbac/ledger',
});

export type InitImportRole = keyof typeof INIT_IMPORTS;

/** The package the command runs as: a development dependency of the scaffold (`npx covenant …`). */
export const INIT_CLI_PACKAGE = '@covenant/cli';

/**
 * The scaffold's own third-party dependencies, as ranges of the versions Covenant's packages are built
 * and tested with (a test compares them with the workspace's). tRPC, zod and kysely are the user's, so
 * that the application and Covenant share one instance of each.
 */
export const INIT_THIRD_PARTY = Object.freeze({
  dependencies: Object.freeze({
    '@trpc/client': '^11.25.2',
    '@trpc/server': '^11.25.2',
    jose: '^6.2.18',
    kysely: '^0.28.19',
    pino: '^10.4.0',
    zod: '^4.6.7',
  }),
  devDependencies: Object.freeze({
    '@types/node': '^20.19.43',
    typescript: '^7.0.2',
    vitest: '^4.1.12',
  }),
});

/**
 * Every file of the scaffold, in the order `covenant init` lists them. Each is rendered from the file of the
 * same path under `templates/init/`, kept there without a leading dot (`gitignore`, `github/…`: a package
 * tarball drops `.gitignore`, and tools skip dot-folders), except package.json, which `initFiles` builds.
 */
export const INIT_FILES: ReadonlyArray<string> = Object.freeze([
  '.github/workflows/ci.yml',
  '.gitignore',
  'README.md',
  'contracts/health.contract.ts',
  'contracts/invoices.contract.ts',
  'contracts/sanctions.json',
  'package.json',
  'src/config.ts',
  'src/database.ts',
  'src/dev-identity.ts',
  'src/handlers.ts',
  'src/main.ts',
  'src/migrate.ts',
  'src/service.ts',
  'src/token.ts',
  'test/invoices.test.ts',
  'tsconfig.build.json',
  'tsconfig.json',
  'vitest.config.ts',
]);

/** The template a scaffold file is rendered from (relative to `templates/init/`), `null` for package.json. */
export function templateOf(path: string): string | null {
  return path === 'package.json' ? null : path.replace(/^\./, '');
}

/** The `covenant` field of the scaffold's package.json: what `covenant gen` and `covenant lint` read. */
export const INIT_COVENANT_CONFIG = Object.freeze({
  contracts: 'contracts',
  out: 'src/generated',
  sanctions: 'contracts/sanctions.json',
});

const TEMPLATES = new URL('../templates/init/', import.meta.url);
const CLI_PACKAGE_JSON = new URL('../package.json', import.meta.url);

/** The CLI's own version (its package.json): the scaffold depends on Covenant's packages at `^<version>`. */
export async function cliVersion(): Promise<string> {
  const { version } = JSON.parse(await readFile(CLI_PACKAGE_JSON, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+/.test(version)) throw new Error(`${CLI_PACKAGE_JSON.pathname}: no version`);
  return version;
}

/** The package an import specifier belongs to: `@scope/name` of `@scope/name/sub`, `name` of `name/sub`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The scaffold's package.json, for package `name`, depending on Covenant's packages at `^version`. */
export function scaffoldPackageJson(name: string, version: string): Record<string, unknown> {
  const covenant = [...new Set(Object.values(INIT_IMPORTS).map(packageOf))].sort();
  const range = `^${version}`;
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=20.19' },
    scripts: {
      gen: 'covenant gen',
      lint: 'covenant lint',
      check: 'covenant gen --check && covenant lint && tsc --noEmit',
      build: 'tsc -p tsconfig.build.json',
      start: 'node dist/src/main.js',
      migrate: 'node dist/src/migrate.js',
      token: 'node dist/src/token.js',
      test: 'vitest run',
    },
    covenant: { ...INIT_COVENANT_CONFIG },
    dependencies: sortedRecord({ ...Object.fromEntries(covenant.map((pkg) => [pkg, range])), ...INIT_THIRD_PARTY.dependencies }),
    devDependencies: sortedRecord({ [INIT_CLI_PACKAGE]: range, ...INIT_THIRD_PARTY.devDependencies }),
  };
}

const PLACEHOLDER = /\{\{(import:[a-z-]+|name)\}\}/g;

/**
 * A template's text with its placeholders filled: `{{import:<role>}}` (a specifier of `INIT_IMPORTS`) and
 * `{{name}}` (the package name). An unknown role is a bug in the template: it throws.
 */
export function renderTemplate(text: string, name: string, template = 'template'): string {
  return text.replace(PLACEHOLDER, (_match, key: string) => {
    if (key === 'name') return name;
    const role = key.slice('import:'.length);
    if (!Object.hasOwn(INIT_IMPORTS, role)) throw new Error(`${template}: unknown import role "${role}"`);
    return INIT_IMPORTS[role as InitImportRole];
  });
}

/** Every file of the scaffold with its content, in `INIT_FILES` order. */
export async function initFiles(name: string, version: string): Promise<ReadonlyArray<{ readonly path: string; readonly text: string }>> {
  return Promise.all(
    INIT_FILES.map(async (path) => {
      const template = templateOf(path);
      const text =
        template === null
          ? `${JSON.stringify(scaffoldPackageJson(name, version), null, 2)}\n`
          : renderTemplate(await readFile(new URL(template, TEMPLATES), 'utf8'), name, template);
      return { path, text };
    }),
  );
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
