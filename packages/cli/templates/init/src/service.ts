import type { Server } from 'node:http';
import { readOnly, tenantGuard } from '{{import:db}}';
import { createTokenVerifier, type TokenVerifierOptions } from '{{import:identity}}';
import { createRevocationStore, recordRevocationsOn } from '{{import:identity-revocations}}';
import { createLedgerAudit, type LedgerAudit } from '{{import:ledger-audit}}';
import { createLedgerStore, type CheckpointSigner, type LedgerStore } from '{{import:ledger-store}}';
import { createRbacStore, type RbacStore } from '{{import:rbac}}';
import { recordChangesOn } from '{{import:rbac-ledger}}';
import type { DatabaseScope } from '{{import:core}}';
import { createCovenantRuntime, createHttpServer } from '{{import:server}}';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { TENANT_TABLES, openDatabase, type AppTables } from './database.ts';
import manifest from './generated/manifest.json' with { type: 'json' };
import { createRouter } from './generated/router.ts';
import { createHandlers } from './handlers.ts';

export interface ServiceOptions {
  /** How bearer tokens are verified (issuer, audience, algorithms, keys); the revocation port is the service's own. */
  readonly identity: Omit<TokenVerifierOptions, 'revocation'>;
  /** A SQLite file, `:memory:`, or the serving role's `postgres://` URL. */
  readonly databaseUrl: string;
  /** PostgreSQL only: the tables' owner, to migrate through before serving. */
  readonly migrationDatabaseUrl?: string;
  /** Signs the audit ledger's checkpoints; its name is the ledger's origin. */
  readonly ledgerSigner: CheckpointSigner;
  /** Where the ledger keeps its highest signed head, outside the database: a log cut back is refused at start. */
  readonly ledgerStateFile: string;
  readonly logger: Logger;
}

export interface Service {
  /** Not listening yet: call `listen`. */
  readonly server: Server;
  /** The authorization port: roles, capabilities and bindings per org. */
  readonly rbac: RbacStore;
  /** The audit ledger every audited call and every RBAC change is written to. */
  readonly ledger: LedgerStore;
  readonly db: Kysely<AppTables>;
  /** Stops the server, then the ledger and its audit port, then closes the database. */
  close(): Promise<void>;
}

/** Every capability the served contracts declare: the RBAC store denies any outside its catalogue. */
const CAPABILITIES = [...new Set(manifest.procedures.flatMap((p) => (p.security.capability === null ? [] : [p.security.capability])))];

/**
 * Handlers reach the tenant tables confined to the caller's tenant: a statement on them without the
 * caller's `org` (and `workspace`) filter is refused before it runs, and so is any statement on them
 * from a public procedure.
 */
const tenantScope: DatabaseScope = (call, work) =>
  work(call.db === undefined ? undefined : (call.db as Kysely<AppTables>).withPlugin(tenantGuard(call.tenant, TENANT_TABLES)));

/**
 * Assembles the service: the database (migrated), the audit ledger and its audit port (which closes the
 * intents a crash left open), the RBAC store as the authorization port (every change on the ledger), the
 * revocation store the verifier asks on every call, the runtime, the generated router and the HTTP
 * server. Nothing is served before all of it is ready.
 */
export async function createService(options: ServiceOptions): Promise<Service> {
  const { logger } = options;
  const db = await openDatabase(options.databaseUrl, options.migrationDatabaseUrl);
  let ledger: LedgerStore | undefined;
  let audit: LedgerAudit | undefined;
  // After the last outcome committed: the ledger, its audit port (this writer's lock), then the database.
  const closeStores = async (): Promise<void> => {
    await ledger?.close();
    await audit?.close();
    await db.destroy();
  };
  try {
    const signer = options.ledgerSigner;
    ledger = await createLedgerStore({ db, origin: signer.name, signer, stateFile: options.ledgerStateFile });
    audit = await createLedgerAudit({ ledger, db });
    if (audit.recovered.length > 0) logger.warn({ requestIds: audit.recovered }, `closed ${audit.recovered.length} intents left open by a crash as aborted`);
    const rbac = createRbacStore({ db, ...recordChangesOn(ledger, logger) });
    await rbac.registerCapabilities(CAPABILITIES, 'contract');
    const revocations = createRevocationStore({ db, onRevoke: recordRevocationsOn(ledger) });
    const identity = createTokenVerifier({ ...options.identity, revocation: revocations, logger });
    const runtime = createCovenantRuntime({
      identity,
      authorization: rbac,
      audit,
      logger,
      // Unaudited procedures (queries) get a read-only handle; audited ones get the ledger's transaction.
      database: db.withPlugin(readOnly()),
      databaseScope: tenantScope,
    });
    // createHttpServer refuses a router whose chains are not the generated ones.
    const server = createHttpServer(runtime, createRouter(runtime, createHandlers(() => new Date())));
    return {
      server,
      rbac,
      ledger,
      db,
      close: async () => {
        if (server.listening) await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
        await closeStores();
      },
    };
  } catch (error) {
    await closeStores();
    throw error;
  }
}
