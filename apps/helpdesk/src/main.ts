import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TokenVerifierOptions } from '@covenant/identity';
import { createLogDestination } from '@covenant/server';
import { pino } from 'pino';
import type { CheckpointSigner } from '@covenant/ledger';
import { createSignerKeyFile, ledgerStateFileFor, readSignerKeyFile } from '@covenant/ledger/node';
import { dataDir, databaseUrl, migrationDatabaseUrl } from './database.ts';
import { openDevIdentity, type DevIdentity } from './dev-identity.ts';
import { createClient } from './generated/client.ts';
import { DEMO_USERS, seedDemo } from './seed.ts';
import { createService } from './service.ts';

/**
 * `npm start`: the helpdesk — the helpdesk contracts and the platform contracts (health, whoami, RBAC
 * administration, the ledger) in one router, over HTTP, on one SQLite file (COVENANT_DATABASE_URL, else
 * apps/helpdesk/data/covenant.db), migrated at start-up. On PostgreSQL (COVENANT_DATABASE_URL=postgres://…,
 * the serving role) it migrates through COVENANT_MIGRATION_DATABASE_URL (the owner) when set, and
 * otherwise expects `npm run migrate` to have done so (ADR 0013).
 *
 * Data and development keys live in COVENANT_DATA_DIR (default apps/helpdesk/data, git-ignored).
 *
 * Identity: with COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL set it trusts that issuer (and a
 * tenant's first admin is made with `covenant rbac bootstrap`). Without them it runs the development
 * identity: a local issuer whose key is created on first run in the data folder, and on a database
 * without the demo orgs it seeds them (two orgs, admins, supervisors, agents, a ticket each). That mode
 * refuses to start when NODE_ENV=production.
 *
 * Ledger: checkpoints are signed with the key in COVENANT_LEDGER_KEY_FILE (one line, the base64 of a
 * 32-byte Ed25519 key, mode 600) under COVENANT_LEDGER_ORIGIN (default `covenant.local/service`); outside
 * production a missing setting means `apps/helpdesk/data/ledger.key`, created on first run. The highest
 * signed head is kept in COVENANT_LEDGER_STATE_FILE (outside production by default beside the key,
 * `<key file>.state`, as `covenant rbac …` does): a log found shorter, or forked, at the next start is refused.
 */
async function start(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 3000);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const dev = await devIdentity();
  const verifierOptions: TokenVerifierOptions = dev?.verifierOptions ?? productionIdentity();
  const { signer: ledgerSigner, stateFile: ledgerStateFile } = ledgerKey();
  const database = databaseUrl(process.env);
  // Logs and the banner below go to stdout through one destination that never blocks and never throws: a
  // full disk or a closed pipe loses lines, not the service.
  const stdout = createLogDestination();
  const logger = pino({ level: 'info' }, stdout);
  const migrations = migrationDatabaseUrl(process.env);
  const service = await createService({
    identity: verifierOptions,
    databaseUrl: database,
    ...(migrations === undefined ? {} : { migrationDatabaseUrl: migrations }),
    ledgerSigner,
    ledgerStateFile,
    logger,
  });

  // Stopping closes the service cleanly from the moment it accepts calls (seeding included).
  const stop = (): void => {
    service.close().then(
      () => stdout.flush().then(() => process.exit(0)),
      () => stdout.flush().then(() => process.exit(1)),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await new Promise<void>((resolve) => service.server.listen(port, host, resolve));
  const url = `http://${host}:${port}`;
  let seeded: string[] = [];
  if (dev !== null) {
    seeded = await seedDemo(service, async (user) => {
      const token = await dev.mint(user);
      return createClient({ url, token: () => token });
    });
  }
  const publicKey = Buffer.from(ledgerSigner.publicKey).toString('base64');
  stdout.write(
    [
      `covenant helpdesk listening on ${url}${seeded.length > 0 ? ` (seeded the demo orgs ${seeded.join(' and ')})` : ''}`,
      `  public:        curl '${url}/platform.health?input=%7B%7D'`,
      ...(dev !== null
        ? [
            `  demo users:    ${DEMO_USERS.map((u) => `${u.subject} (${u.role}, ${u.org}${u.workspace ? `/${u.workspace}` : ''})`).join(', ')}`,
            `  a token:       TOKEN=$(npm run --silent token -- ann)`,
            `  call the API:  curl -H "authorization: Bearer $TOKEN" '${url}/tickets.list?input=%7B%7D'`,
            `  the tour:      npm run demo`,
            `  (development identity: its key lives in ${DATA_DIR}; never use it in production)`,
          ]
        : []),
      `  audit ledger:  npx covenant ledger verify --database '${database}' --origin '${ledgerSigner.name}' --key-name '${ledgerSigner.name}' --public-key '${publicKey}'`,
      '',
    ].join('\n'),
  );
}

/** Where `npm start` keeps its keys and data (COVENANT_DATA_DIR, else apps/helpdesk/data, git-ignored). */
const DATA_DIR = dataDir(process.env);

/** The ledger's signer and its state file (see `createService`'s `ledgerStateFile`). */
function ledgerKey(): { signer: CheckpointSigner; stateFile: string } {
  const origin = process.env['COVENANT_LEDGER_ORIGIN'] || 'covenant.local/service';
  const production = process.env['NODE_ENV'] === 'production';
  const configured = process.env['COVENANT_LEDGER_KEY_FILE'];
  if (!configured && production) throw new Error('NODE_ENV=production needs COVENANT_LEDGER_KEY_FILE');
  const configuredState = process.env['COVENANT_LEDGER_STATE_FILE'];
  // In production the operator places it (a key often sits on a read-only secrets mount).
  if (!configuredState && production) throw new Error('NODE_ENV=production needs COVENANT_LEDGER_STATE_FILE (where the ledger keeps its highest signed head)');
  const path = configured || join(DATA_DIR, 'ledger.key');
  if (!configured && !existsSync(path)) createSignerKeyFile(path);
  return { signer: readSignerKeyFile(path, origin), stateFile: configuredState ? resolve(configuredState) : ledgerStateFileFor(path) };
}

function productionIdentity(): TokenVerifierOptions {
  const issuer = process.env['COVENANT_ISSUER'];
  const audience = process.env['COVENANT_AUDIENCE'];
  const jwksUrl = process.env['COVENANT_JWKS_URL'];
  return { issuer: issuer!, audience: audience!, algorithms: ['ES256', 'EdDSA'], keys: { jwksUrl: jwksUrl! } };
}

/** The development identity, or `null` when a real issuer is configured. */
async function devIdentity(): Promise<DevIdentity | null> {
  const set = ['COVENANT_ISSUER', 'COVENANT_AUDIENCE', 'COVENANT_JWKS_URL'].filter((name) => process.env[name]);
  if (set.length === 3) return null;
  // Half a configuration is a mistake, not a request for the development identity.
  if (set.length > 0) throw new Error(`set COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL together (only ${set.join(', ')} is set)`);
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('NODE_ENV=production needs COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL (the development identity is refused)');
  }
  return openDevIdentity(join(DATA_DIR, 'dev-issuer.jwk'));
}

await start();
