// DEVELOPMENT ONLY: `npm run token -- [subject] [workspace]` prints a one-hour token of the development
// identity (see dev-identity.ts) for `subject` (default dev-admin) in the local org and `workspace`
// (default main). A subject that holds no role there, such as `guest`, is refused with 403.
import { readConfig } from './config.ts';
import { DEV_ADMIN, DEV_WORKSPACE, devIssuerKeyFile, openDevIdentity } from './dev-identity.ts';

const config = readConfig(process.env);
if (config.issuer !== null) {
  process.stderr.write('token: an issuer is configured (COVENANT_ISSUER): the service does not trust development tokens\n');
  process.exit(2);
}
const [subject = DEV_ADMIN, workspace = DEV_WORKSPACE] = process.argv.slice(2);
const dev = await openDevIdentity(devIssuerKeyFile(config.dataDir));
process.stdout.write(`${await dev.mint(subject, { workspace })}\n`);
