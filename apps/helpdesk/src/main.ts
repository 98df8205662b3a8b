import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createTokenVerifier, type TokenVerifierOptions } from '@covenant/identity';
import { createTestIssuer } from '@covenant/identity/testing';
import type { CheckpointSigner } from '@covenant/ledger';
import { createSignerKeyFile, readSignerKeyFile } from '@covenant/ledger/node';
import { DEFAULT_DATABASE_FILE, databaseUrl } from './database.ts';
import { bootstrapDemoOrg, createService } from './service.ts';

/**
 * The smallest real Covenant service: the platform and RBAC administration contracts over HTTP, on a
 * SQLite database (COVENANT_DATABASE_URL, else apps/helpdesk/data/covenant.db), migrated at start-up.
 *
 * With COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL set it trusts that issuer, and a tenant's
 * first admin is made with `covenant rbac bootstrap`. Without them it runs a development identity
 * (in-memory keys, new at each start), prints a token for `demo-user` in `org_demo`, and — on a database
 * where that org has no roles yet — bootstraps `demo-user` as the org's first admin, recorded in the
 * org's change log like any bootstrap. That mode refuses to start when NODE_ENV=production.
 *
 * The audit ledger's checkpoints are signed with the key in COVENANT_LEDGER_KEY_FILE (one line: the base64
 * of a 32-byte Ed25519 key, mode 600) under the origin COVENANT_LEDGER_ORIGIN (default
 * `covenant.local/service`). Outside production a missing setting means `apps/helpdesk/data/ledger.key`,
 * created on first run and never committed (the data folder is git-ignored).
 */
async function start(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 3000);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const { verifierOptions, demoToken } = await identityConfig();

  const ledgerSigner = ledgerKey();
  const database = databaseUrl(process.env);
  const service = await createService({ identity: createTokenVerifier(verifierOptions), databaseUrl: database, ledgerSigner });
  // Development mode only (identityConfig refuses it under NODE_ENV=production).
  if (demoToken !== null) await bootstrapDemoOrg(service);
  const publicKey = Buffer.from(ledgerSigner.publicKey).toString('base64');

  service.server.listen(port, host, () => {
    const url = `http://${host}:${port}`;
    process.stdout.write(
      [
        `covenant service listening on ${url}`,
        `  public:        curl '${url}/platform.health?input=%7B%7D'`,
        ...(demoToken
          ? [
              `  authenticated: curl -H 'authorization: Bearer ${demoToken}' '${url}/platform.whoami?input=%7B%7D'`,
              `  rbac admin:    curl -H 'authorization: Bearer ${demoToken}' '${url}/rbac.roles.list?input=%7B%7D'`,
              '  (development identity: keys live in memory and change at every start; never use it in production)',
            ]
          : []),
        `  audit ledger:  npx covenant ledger verify --database '${database}' --origin '${ledgerSigner.name}' --key-name '${ledgerSigner.name}' --public-key '${publicKey}'`,
        '',
      ].join('\n'),
    );
  });
  const stop = (): void => {
    service.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function ledgerKey(): CheckpointSigner {
  const origin = process.env['COVENANT_LEDGER_ORIGIN'] || 'covenant.local/service';
  const configured = process.env['COVENANT_LEDGER_KEY_FILE'];
  if (configured) return readSignerKeyFile(configured, origin);
  if (process.env['NODE_ENV'] === 'production') throw new Error('NODE_ENV=production needs COVENANT_LEDGER_KEY_FILE');
  const path = join(dirname(DEFAULT_DATABASE_FILE), 'ledger.key');
  if (!existsSync(path)) createSignerKeyFile(path);
  return readSignerKeyFile(path, origin);
}

async function identityConfig(): Promise<{ verifierOptions: TokenVerifierOptions; demoToken: string | null }> {
  const issuer = process.env['COVENANT_ISSUER'];
  const audience = process.env['COVENANT_AUDIENCE'];
  const jwksUrl = process.env['COVENANT_JWKS_URL'];
  if (issuer && audience && jwksUrl) {
    return { verifierOptions: { issuer, audience, algorithms: ['ES256', 'EdDSA'], keys: { jwksUrl } }, demoToken: null };
  }
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('NODE_ENV=production needs COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL');
  }
  const dev = await createTestIssuer({ issuer: 'urn:covenant:dev', audience: 'urn:covenant:service' });
  const demoToken = await dev.mint({ sub: 'demo-user', org: 'org_demo', sid: 'demo-session' }, { expiresIn: 3600 });
  return { verifierOptions: dev.verifierOptions(), demoToken };
}

await start();
