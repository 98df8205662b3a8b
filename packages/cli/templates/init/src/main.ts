import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { relative } from 'node:path';
import { createSignerKeyFile, readSignerKeyFile } from '{{import:ledger-keys}}';
import { createLogDestination } from '{{import:server}}';
import { pino } from 'pino';
import { readConfig } from './config.ts';
import { DEV_ADMIN, DEV_ORG, devIssuerKeyFile, openDevIdentity, prepareDevOrg } from './dev-identity.ts';
import { createService } from './service.ts';

/**
 * `npm start` (after `npm run build`): serves the contracts over HTTP on HOST:PORT (default
 * 127.0.0.1:3000), on SQLite in ./data unless DATABASE_URL says otherwise. See README.md for every setting.
 */
async function start(): Promise<void> {
  const config = readConfig(process.env);
  if (config.issuer === null || config.ledger.createKey) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const dev = config.issuer === null ? await openDevIdentity(devIssuerKeyFile(config.dataDir)) : null;
  if (config.ledger.createKey && !existsSync(config.ledger.keyFile)) createSignerKeyFile(config.ledger.keyFile);
  const ledgerSigner = readSignerKeyFile(config.ledger.keyFile, config.ledger.origin);
  // Logs and the banner go to stdout through a destination that never blocks and never throws: a full
  // disk or a closed pipe loses lines, not the service.
  const stdout = createLogDestination();
  const logger = pino({ level: 'info' }, stdout);
  const service = await createService({
    identity: dev?.verifierOptions ?? config.issuer!,
    databaseUrl: config.databaseUrl,
    ...(config.migrationDatabaseUrl === undefined ? {} : { migrationDatabaseUrl: config.migrationDatabaseUrl }),
    ledgerSigner,
    ledgerStateFile: config.ledger.stateFile,
    logger,
  });
  const stop = (): void => {
    service.close().then(
      () => stdout.flush().then(() => process.exit(0)),
      () => stdout.flush().then(() => process.exit(1)),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (dev !== null) await prepareDevOrg(service);
  await new Promise<void>((resolve) => service.server.listen(config.port, config.host, resolve));

  const url = `http://${config.host}:${(service.server.address() as AddressInfo).port}`;
  // Never the PostgreSQL URL itself: it may carry a password.
  const database = /^postgres(ql)?:\/\//i.test(config.databaseUrl) ? '"$DATABASE_URL"' : `'${relative(process.cwd(), config.databaseUrl)}'`;
  const publicKey = Buffer.from(ledgerSigner.publicKey).toString('base64');
  stdout.write(
    [
      `listening on ${url}`,
      `  public:      curl '${url}/health.check?input=%7B%7D'`,
      ...(dev !== null
        ? [
            `  a token:     TOKEN=$(npm run --silent token)   # DEVELOPMENT identity: ${DEV_ADMIN}, admin of the local org ${DEV_ORG}`,
            `  call it:     curl -H "authorization: Bearer $TOKEN" '${url}/invoices.list?input=%7B%7D'`,
          ]
        : []),
      ...(config.databaseUrl === ':memory:'
        ? []
        : [`  the ledger:  npx covenant ledger verify --database ${database} --origin '${ledgerSigner.name}' --key-name '${ledgerSigner.name}' --public-key '${publicKey}'`]),
      '',
    ].join('\n'),
  );
}

await start();
