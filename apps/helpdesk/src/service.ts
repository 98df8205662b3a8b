import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from '@covenant/identity';
import { createRevocationStore, recordRevocationsOn, type RevocationStore } from '@covenant/identity/revocation-store';
import { createLedgerStore, type CheckpointSigner, type LedgerStore } from '@covenant/ledger';
import { createLedgerAudit, type LedgerAudit } from '@covenant/ledger/audit';
import { createRbacStore, type RbacStore } from '@covenant/rbac';
import { recordChangesOn } from '@covenant/rbac/ledger';
import { createCovenantRuntime, createHttpServer, createLogDestination, type CovenantRuntime } from '@covenant/server';
import { readOnly } from '@covenant/db';
import type { Kysely } from 'kysely';
import { pino, type Logger } from 'pino';
import { openDatabase, type ServiceTables } from './database.ts';
import manifest from './generated/manifest.json' with { type: 'json' };
import { createRouter } from './generated/router.ts';
import { createHandlers } from './handlers.ts';
import { helpdeskTenantScope } from './helpdesk/tenancy.ts';

export interface ServiceOptions {
  /**
   * How bearer tokens are verified. The service builds the verifier itself, with its revocation store as
   * the revocation port (so `revocation` is not an option here): a session revoked through
   * `sessions.revoke` or `covenant sessions revoke` is refused on every later call.
   */
  readonly identity: Omit<TokenVerifierOptions, 'revocation'>;
  /**
   * A SQLite file path, `:memory:`, or a `postgres://` URL (see `databaseUrl`). On PostgreSQL it connects
   * as the serving role: a member of `covenant_service`, not the owner of the tables (ADR 0013).
   */
  readonly databaseUrl: string;
  /**
   * PostgreSQL only: the owner's URL (COVENANT_MIGRATION_DATABASE_URL), to migrate through at start-up.
   * Without it the database must already be migrated (`npm run migrate`).
   */
  readonly migrationDatabaseUrl?: string;
  /**
   * Defaults to pino at `info` on stdout through `createLogDestination`: a full disk or a closed pipe
   * drops log lines (counted), it never blocks or ends the service.
   */
  readonly logger?: Logger;
  /** Signs the audit ledger's checkpoints; its name is the ledger's origin. */
  readonly ledgerSigner: CheckpointSigner;
  /**
   * The ledger's state file (`createLedgerStore`'s `stateFile`): the highest head this process signed or
   * saw, kept outside the database, so that a log cut back or replaced while the service was stopped is
   * refused at start-up. `npm start` keeps it beside the ledger key (COVENANT_LEDGER_STATE_FILE).
   */
  readonly ledgerStateFile?: string;
  /** The HTTP transport (see `createHttpServer`): Covenant's wire listener (default) or tRPC's adapter. */
  readonly transport?: 'covenant' | 'trpc';
}

export interface Service {
  readonly server: Server;
  readonly runtime: CovenantRuntime;
  /** The authorization port, and what the `rbac` handlers administer. */
  readonly rbac: RbacStore;
  /** The verifier every call goes through; its revocation port is `revocations`. */
  readonly identity: TokenVerifier;
  /** Revoked sessions and tokens, in the service's database (what `sessions.revoke` writes). */
  readonly revocations: RevocationStore;
  /** The audit ledger every audited call and every RBAC change is written to. */
  readonly ledger: LedgerStore;
  /** The pipeline's audit port; `audit.recovered` lists the intents closed as aborted at start-up. */
  readonly audit: LedgerAudit;
  readonly db: Kysely<ServiceTables>;
  /** Stops the HTTP server, then the ledger and the audit port (its writer lock), then closes the database. */
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
 * demo org): the database, migrated (or, on PostgreSQL, checked to be migrated and served as a role that
 * can only append to the ledger) before anything is served; the audit ledger and its audit port, which
 * closes intents a crash left open before anything is served; the RBAC store as the authorization port,
 * its catalogue holding every capability the served contracts declare, each change written to the ledger
 * in the change's own transaction; the revocation store as the verifier's revocation port, each
 * revocation written to the ledger with it; the generated router over the platform and `rbac` contracts.
 * The server is returned unstarted.
 *
 * @example
 * ```ts
 * const service = await createService({ identity: verifierOptions, databaseUrl: ':memory:', ledgerSigner });
 * service.server.listen(3000);
 * ```
 */
export async function createService(options: ServiceOptions): Promise<Service> {
  if (typeof options.identity === 'object' && options.identity !== null && Object.hasOwn(options.identity, 'revocation')) {
    throw new TypeError('createService: "identity.revocation" is the service\'s own revocation store; leave it out');
  }
  const db = await openDatabase<ServiceTables>(
    options.databaseUrl,
    options.migrationDatabaseUrl === undefined ? {} : { migrationUrl: options.migrationDatabaseUrl },
  );
  let audit: LedgerAudit | undefined;
  const destination = options.logger === undefined ? createLogDestination() : null;
  try {
    const logger = options.logger ?? pino({ level: 'info' }, destination!);
    const stateFile = options.ledgerStateFile;
    const firstUse = stateFile !== undefined && !existsSync(stateFile);
    const ledger = await createLedgerStore({ db, origin: options.ledgerSigner.name, signer: options.ledgerSigner, ...(stateFile !== undefined ? { stateFile } : {}) });
    // Trust on first use: a log found without a state file is taken as it is. Say so: it is also what
    // someone who deleted the file together with the log's tail would want.
    if (firstUse && (await ledger.size()) > 0) logger.warn({ stateFile }, 'no ledger state file: the log was trusted as found and its head recorded');
    // With the database: on PostgreSQL the port is one writer among several processes (ADR 0010), and
    // start-up recovery closes only the intents of writers that are gone.
    audit = await createLedgerAudit({ ledger, db });
    const port = audit;
    if (port.recovered.length > 0) {
      logger.warn({ requestIds: port.recovered }, `closed ${port.recovered.length} intents left open by a crash as aborted`);
    }
    const rbac = createRbacStore({ db, ...recordChangesOn(ledger, logger) });
    await rbac.registerCapabilities(SERVED_CAPABILITIES, 'contract');
    // Asked on every call (cached tokens included), on the pool: another process's revocation (the CLI's)
    // is seen as soon as it commits.
    const revocations = createRevocationStore({ db, onRevoke: recordRevocationsOn(ledger) });
    const identity = createTokenVerifier({ ...options.identity, revocation: revocations, logger });
    // Unaudited procedures (queries) read through a read-only handle: a write there would bypass
    // audit-before-action, so it is refused. Audited ones get the ledger's transaction instead. Helpdesk
    // handlers run confined to the caller's tenant in the database as well (ADR 0011): row-level security
    // on PostgreSQL, the tenant guard on SQLite.
    const runtime = createCovenantRuntime({
      identity,
      authorization: rbac,
      audit: port,
      logger,
      database: db.withPlugin(readOnly()),
      databaseScope: helpdeskTenantScope,
    });
    const router = createRouter(runtime, createHandlers({ rbac, ledger, revocations, clock: { now: () => new Date() } }));
    const server = createHttpServer(runtime, router, options.transport === undefined ? {} : { transport: options.transport });
    return {
      server,
      runtime,
      rbac,
      identity,
      revocations,
      ledger,
      audit: port,
      db,
      close: async () => {
        if (server.listening) await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
        await ledger.close();
        // After the last outcome committed: releases this writer's lock (PostgreSQL).
        await port.close();
        await db.destroy();
        await destination?.flush();
      },
    };
  } catch (error) {
    await audit?.close();
    await db.destroy();
    throw error;
  }
}
