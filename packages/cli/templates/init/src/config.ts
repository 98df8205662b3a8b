import { join, resolve } from 'node:path';
import type { TokenVerifierOptions } from '{{import:identity}}';
import { ledgerStateFileFor } from '{{import:ledger-keys}}';

/** The service's settings, read from the environment once, at start-up, and checked before anything runs. */
export interface Config {
  readonly port: number;
  readonly host: string;
  /** DATA_DIR, else `./data` (git-ignored): the default database and the development keys. */
  readonly dataDir: string;
  /** DATABASE_URL, else `<data>/service.db`: a SQLite file, or the serving role's `postgres://` URL. */
  readonly databaseUrl: string;
  /** MIGRATION_DATABASE_URL: PostgreSQL only, the tables' owner, to migrate through before serving. */
  readonly migrationDatabaseUrl: string | undefined;
  /** The token issuer to trust, or `null` for the development identity (never under NODE_ENV=production). */
  readonly issuer: Omit<TokenVerifierOptions, 'revocation'> | null;
  readonly ledger: {
    /** The checkpoint key: one line, the base64 of a 32-byte Ed25519 key, mode 0600. */
    readonly keyFile: string;
    /** Created at the first start when it does not exist (development only: in production you place it). */
    readonly createKey: boolean;
    /** The highest signed head, outside the database. */
    readonly stateFile: string;
    /** The log's identity, in every checkpoint. */
    readonly origin: string;
  };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the configuration. Under NODE_ENV=production every secret and key is yours to provide: an issuer
 * (COVENANT_ISSUER, COVENANT_AUDIENCE, COVENANT_JWKS_URL), the ledger key and state file
 * (COVENANT_LEDGER_KEY_FILE, COVENANT_LEDGER_STATE_FILE). Elsewhere what is missing is made in the data
 * folder at the first start. `covenant rbac …` and `covenant sessions revoke` read the same COVENANT_LEDGER_*
 * variables.
 */
export function readConfig(env: Env): Config {
  const production = env['NODE_ENV'] === 'production';
  const set = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const port = Number(set('PORT') ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error('PORT must be a port number');
  const dataDir = resolve(set('DATA_DIR') ?? 'data');
  const keyFile = set('COVENANT_LEDGER_KEY_FILE');
  const stateFile = set('COVENANT_LEDGER_STATE_FILE');
  if (production && keyFile === undefined) throw new Error('NODE_ENV=production needs COVENANT_LEDGER_KEY_FILE (the ledger checkpoint key)');
  if (production && stateFile === undefined) throw new Error('NODE_ENV=production needs COVENANT_LEDGER_STATE_FILE (where the ledger keeps its highest signed head)');
  const ledgerKey = keyFile === undefined ? join(dataDir, 'ledger.key') : resolve(keyFile);
  return {
    port,
    host: set('HOST') ?? '127.0.0.1',
    dataDir,
    databaseUrl: set('DATABASE_URL') ?? join(dataDir, 'service.db'),
    migrationDatabaseUrl: set('MIGRATION_DATABASE_URL'),
    issuer: issuerFrom(env, production),
    ledger: {
      keyFile: ledgerKey,
      createKey: keyFile === undefined,
      stateFile: stateFile === undefined ? ledgerStateFileFor(ledgerKey) : resolve(stateFile),
      origin: set('COVENANT_LEDGER_ORIGIN') ?? 'covenant.local/service',
    },
  };
}

const ISSUER_VARIABLES = ['COVENANT_ISSUER', 'COVENANT_AUDIENCE', 'COVENANT_JWKS_URL'] as const;

function issuerFrom(env: Env, production: boolean): Config['issuer'] {
  const given = ISSUER_VARIABLES.filter((name) => env[name]);
  if (given.length === 0) {
    if (production) throw new Error(`NODE_ENV=production needs ${ISSUER_VARIABLES.join(', ')} (the development identity is refused)`);
    return null;
  }
  // Half a configuration is a mistake, not a request for the development identity.
  if (given.length < ISSUER_VARIABLES.length) throw new Error(`set ${ISSUER_VARIABLES.join(', ')} together (only ${given.join(', ')} is set)`);
  return {
    issuer: env['COVENANT_ISSUER']!,
    audience: env['COVENANT_AUDIENCE']!,
    algorithms: ['ES256', 'EdDSA'],
    keys: { jwksUrl: env['COVENANT_JWKS_URL']! },
  };
}
