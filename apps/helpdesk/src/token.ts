import { join } from 'node:path';
import { dataDir } from './database.ts';
import { openDevIdentity } from './dev-identity.ts';
import { demoUser } from './seed.ts';

/**
 * `npm run token -- <demo user>`: prints a one-hour development token for a demo user (ann, sam, bob, ada,
 * gia, gus), signed with the key `npm start` created in the data folder. Development only.
 */
if (process.env['NODE_ENV'] === 'production') {
  process.stderr.write('npm run token: the development identity is refused under NODE_ENV=production\n');
  process.exit(2);
}
const subject = process.argv[2];
if (subject === undefined) {
  process.stderr.write('usage: npm run token -- <demo user: ann | sam | bob | ada | gia | gus>\n');
  process.exit(2);
}
try {
  const identity = await openDevIdentity(join(dataDir(process.env), 'dev-issuer.jwk'));
  process.stdout.write(`${await identity.mint(demoUser(subject))}\n`);
} catch (error) {
  process.stderr.write(`npm run token: ${(error as Error).message}\n`);
  process.exit(1);
}
