import type { Server } from 'node:http';
import type { TokenVerifier } from '@covenant/identity';
import { RbacChangeError, createRbacStore, type RbacStore, type RbacTables } from '@covenant/rbac';
import { createCovenantRuntime, createHttpServer, type CovenantRuntime } from '@covenant/server';
import type { Kysely } from 'kysely';
import { pino, type Logger } from 'pino';
import { openDatabase } from './database.ts';
import manifest from './generated/manifest.json' with { type: 'json' };
import { createRouter } from './generated/router.ts';
import { createHandlers } from './handlers.ts';
import { createInterimAudit } from './interim-audit.ts';

export interface ServiceOptions {
  readonly identity: TokenVerifier;
  /** A SQLite file path, or `:memory:` (see `databaseUrl`). */
  readonly databaseUrl: string;
  /** Defaults to pino on stdout at `info`. */
  readonly logger?: Logger;
}

export interface Service {
  readonly server: Server;
  readonly runtime: CovenantRuntime;
  /** The authorization port, and what the `rbac` handlers administer. */
  readonly rbac: RbacStore;
  readonly db: Kysely<RbacTables>;
  /** Stops the HTTP server, then closes the database. */
  close(): Promise<void>;
}

/**
 * Every capability a served procedure declares, from the generated manifest: what the router serves is
 * exactly what the manifest lists (`covenant gen --check` keeps them equal).
 */
export const SERVED_CAPABILITIES: ReadonlyArray<string> = Object.freeze(
  [...new Set(manifest.procedures.flatMap((p) => (p.security.capability === null ? [] : [p.security.capability])))].sort(),
);

/**
 * Assembles the service `npm start` runs (main.ts adds the environment, the development identity and the
 * demo org): the database, migrated before anything is served; the RBAC store as the authorization port,
 * its catalogue holding every capability the served contracts declare; the interim audit port; the
 * generated router over the platform and `rbac` contracts. The server is returned unstarted.
 *
 * @example
 * ```ts
 * const service = await createService({ identity: createTokenVerifier(options), databaseUrl: ':memory:' });
 * service.server.listen(3000);
 * ```
 */
export async function createService(options: ServiceOptions): Promise<Service> {
  const db = await openDatabase<RbacTables>(options.databaseUrl);
  try {
    const rbac = createRbacStore({ db });
    await rbac.registerCapabilities(SERVED_CAPABILITIES, 'contract');
    const logger = options.logger ?? pino({ level: 'info' });
    const audit = await createInterimAudit({ db, logger });
    const runtime = createCovenantRuntime({ identity: options.identity, authorization: rbac, audit, logger });
    const server = createHttpServer(runtime, createRouter(runtime, createHandlers(rbac)));
    return {
      server,
      runtime,
      rbac,
      db,
      close: async () => {
        if (server.listening) await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/**
 * Development mode only (`npm start` without an issuer configured): an explicit, recorded bootstrap of
 * `org_demo`'s first admin, `demo-user` (the subject of the token main.ts prints), recorded in the org's
 * change log as `operator:npm-start`. Not a default password: a real deployment makes its first admins
 * with `covenant rbac bootstrap`. Done once: when the org has roles, it does nothing and returns false.
 */
export async function bootstrapDemoOrg(rbac: RbacStore): Promise<boolean> {
  if ((await rbac.listRoles('org_demo')).length > 0) return false;
  try {
    await rbac.bootstrapTenant('npm-start', 'org_demo', 'demo-user', 'development mode: first admin of the demo org');
    return true;
  } catch (error) {
    // Another process on the same database got there first: the org has its admin either way.
    if (error instanceof RbacChangeError && error.code === 'TENANT_ALREADY_BOOTSTRAPPED') return false;
    throw error;
  }
}
