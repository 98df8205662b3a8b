import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCheckpointSigner, type CheckpointSigner } from '@covenant/ledger';
import { pino } from 'pino';
import { openDevIdentity, type DevIdentity } from '../src/dev-identity.ts';
import { createClient } from '../src/generated/client.ts';
import { demoUser, seedDemo, type DemoUser } from '../src/seed.ts';
import { createService, type Service } from '../src/service.ts';

/**
 * The helpdesk exactly as `npm start` assembles it — createService, the development identity, the demo
 * seed — on a temp SQLite file, over real HTTP on an ephemeral port. Logs are captured (`logs`), so a
 * test can prove what never reaches them.
 */
export interface Helpdesk {
  readonly url: string;
  readonly service: Service;
  readonly identity: DevIdentity;
  readonly signer: CheckpointSigner;
  /** The database file, or URL (for `covenant ledger verify` and second connections). */
  readonly databaseFile: string;
  readonly logs: string[];
  /** A token for a demo user (ann, sam, bob, ada, gia, gus) or any { subject, org, workspace }. */
  token(user: string | Omit<DemoUser, 'role'>): Promise<string>;
  /** The generated typed client acting as that user. */
  as(user: string | Omit<DemoUser, 'role'>): Promise<ReturnType<typeof createClient>>;
  /** The generated client without a token. */
  anonymous(): ReturnType<typeof createClient>;
  close(): Promise<void>;
}

export const TEST_LEDGER_SIGNER = createCheckpointSigner({ name: 'test.example/helpdesk', privateKey: new Uint8Array(32).fill(11) });

/**
 * `databaseUrl`: a database to run on instead of a temp SQLite file (a PostgreSQL test schema's serving
 * URL), and `migrationDatabaseUrl` the owner's URL to migrate it through (see `createService`).
 */
export async function startHelpdesk(
  options: {
    readonly seed?: boolean;
    readonly databaseUrl?: string;
    readonly migrationDatabaseUrl?: string;
    readonly transport?: 'covenant' | 'trpc';
  } = {},
): Promise<Helpdesk> {
  const dir = await mkdtemp(join(tmpdir(), 'covenant-helpdesk-'));
  const identity = await openDevIdentity(join(dir, 'dev-issuer.jwk'));
  const logs: string[] = [];
  const databaseFile = options.databaseUrl ?? join(dir, 'covenant.db');
  const service = await createService({
    identity: identity.verifierOptions,
    databaseUrl: databaseFile,
    ...(options.migrationDatabaseUrl === undefined ? {} : { migrationDatabaseUrl: options.migrationDatabaseUrl }),
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    ledgerSigner: TEST_LEDGER_SIGNER,
    ...(options.transport === undefined ? {} : { transport: options.transport }),
  });
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
  const token = (user: string | Omit<DemoUser, 'role'>) => identity.mint(typeof user === 'string' ? demoUser(user) : user);
  const as = async (user: string | Omit<DemoUser, 'role'>) => {
    const t = await token(user);
    return createClient({ url, token: () => t });
  };
  if (options.seed !== false) await seedDemo(service, as);
  return {
    url,
    service,
    identity,
    signer: TEST_LEDGER_SIGNER,
    databaseFile,
    logs,
    token,
    as,
    anonymous: () => createClient({ url }),
    close: async () => {
      await service.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
