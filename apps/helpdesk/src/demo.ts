import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isCovenantError } from '@covenant/client';
import { readSignerKeyFile } from '@covenant/ledger/node';
import { dataDir, databaseUrl } from './database.ts';
import { openDevIdentity } from './dev-identity.ts';
import { createClient } from './generated/client.ts';
import { formatReport, shouldColor } from './report.ts';
import { demoUser } from './seed.ts';
import { runTour } from './tour.ts';

/**
 * `npm run demo`: the tour (tour.ts) against the running helpdesk (`npm start`), with tokens of the
 * development identity in the data folder, then the ledger checked on the same database with the same key.
 * Exit code 0 when every step passed, 1 otherwise. Development only.
 *
 * Settings, read as `npm start` reads them: COVENANT_DEMO_URL (default http://127.0.0.1:3000),
 * COVENANT_DATABASE_URL, COVENANT_LEDGER_KEY_FILE, COVENANT_LEDGER_ORIGIN.
 */
const env = process.env;
const fail = (message: string, code = 1): never => {
  process.stderr.write(`npm run demo: ${message}\n`);
  process.exit(code);
};

if (env['NODE_ENV'] === 'production') fail('the tour uses the development identity, which is refused under NODE_ENV=production', 2);

const dataFolder = dataDir(env);
const url = (env['COVENANT_DEMO_URL'] || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const databaseFile = databaseUrl(env);
const keyFile = env['COVENANT_LEDGER_KEY_FILE'] || join(dataFolder, 'ledger.key');
const issuerFile = join(dataFolder, 'dev-issuer.jwk');
const origin = env['COVENANT_LEDGER_ORIGIN'] || 'covenant.local/service';
const START = 'start it with npm start';

if (databaseFile === ':memory:') fail('the service runs on an in-memory database: the ledger cannot be checked from here');
// openDevIdentity would create a key the service has never seen: every token would be refused.
for (const [file, what] of [
  [issuerFile, 'development issuer key'],
  [keyFile, 'ledger key (COVENANT_LEDGER_KEY_FILE)'],
  [databaseFile, 'database (COVENANT_DATABASE_URL)'],
] as const) {
  if (!existsSync(file)) fail(`no ${what} at ${file}: the tour needs the helpdesk's own; ${START} (with the same settings)`);
}

try {
  await createClient({ url, batch: false }).platform.health.query({});
} catch (error) {
  if (isCovenantError(error, 'ERR_CLIENT_TRANSPORT')) fail(`the helpdesk is not running at ${url}: ${START} (or set COVENANT_DEMO_URL)`);
  throw error;
}

const identity = await openDevIdentity(issuerFile);
const token = (user: string): Promise<string> => identity.mint(demoUser(user));
try {
  const ann = await token('ann');
  await createClient({ url, token: () => ann, batch: false }).platform.whoami.query({});
} catch (error) {
  if (isCovenantError(error) && error.httpStatus === 401) {
    fail(`the helpdesk at ${url} refuses tokens of the development identity in ${dataFolder} (${error.code}): is it running with this data folder, without COVENANT_ISSUER?`);
  }
  throw error;
}

const signer = readSignerKeyFile(keyFile, origin);
const result = await runTour({
  url,
  token,
  ledger: { databaseFile, origin, keyName: signer.name, publicKey: signer.publicKey, digester: signer },
});
process.stdout.write(
  formatReport(result, { color: shouldColor(process.stdout, env), title: `Covenant helpdesk tour — ${url}, ledger ${databaseFile}` }),
);
process.exitCode = result.ok ? 0 : 1;
