import { AuditUnavailableError, type ActionResult, type AuditIntent, type AuditPort, type DenialRecord } from '@covenant/server';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';

/**
 * INTERIM: the audit port this service uses until the audit-ledger issue lands; that issue replaces this
 * file (and migrates these tables into the signed ledger). It is deliberately small:
 *
 * - three append-only tables in the service's SQLite database (intents, outcomes, denials), created here
 *   at start-up; triggers refuse UPDATE, DELETE and a replacing INSERT;
 * - the intent row is inserted, and committed (autocommit; the database runs `synchronous = FULL`),
 *   before the action runs. If it cannot be, the action never runs and the call fails with 503
 *   ERR_AUDIT_UNAVAILABLE (fail closed). The request id is the primary key, so an intent is never
 *   overwritten;
 * - the outcome row (`ok` from tRPC's result flag) is inserted after the action.
 *
 * What it does NOT do, and the ledger will: run the action in the same transaction as its outcome. The
 * RBAC store commits its own changes (each with its own before/after record in `rbac_changes`), so an
 * action cannot be rolled back here: a failed action's effects are whatever the handler left (the RBAC
 * store's are all-or-nothing), and if the outcome row cannot be written after a committed action the
 * call still returns its result (the action happened; answering 503 "not performed" would be false and
 * invite a retry) and the failure is logged at `error`. An intent without an outcome reads as "may have
 * happened"; `rbac_changes` says what did.
 */
export interface InterimAuditTables {
  interim_audit_intents: {
    request_id: string;
    procedure: string;
    kind: string;
    subject: string | null;
    session: string | null;
    org: string | null;
    workspace: string | null;
    resource_type: string | null;
    resource_id: string | null;
    input_digest: string;
    at: string;
  };
  interim_audit_outcomes: { request_id: string; ok: number; at: string };
  interim_audit_denials: {
    request_id: string;
    procedure: string;
    subject: string;
    session: string | null;
    org: string;
    workspace: string | null;
    decision: string;
    at: string;
  };
}

export interface InterimAuditOptions {
  readonly db: Kysely<any>;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/**
 * Creates the tables (idempotent) and returns the port.
 *
 * @example
 * ```ts
 * const audit = await createInterimAudit({ db, logger });
 * const runtime = createCovenantRuntime({ identity, authorization: rbac, audit });
 * ```
 */
export async function createInterimAudit(options: InterimAuditOptions): Promise<AuditPort> {
  const db = options.db as Kysely<InterimAuditTables>;
  const clock = options.clock ?? (() => new Date());
  await createTables(db);

  return {
    async audited<R extends ActionResult>(intent: AuditIntent, action: () => Promise<R>): Promise<R> {
      try {
        await db
          .insertInto('interim_audit_intents')
          .values({
            request_id: intent.requestId,
            procedure: intent.procedure,
            kind: intent.kind,
            subject: intent.actor?.subject ?? null,
            session: intent.actor?.session ?? null,
            org: intent.tenant?.org ?? null,
            workspace: intent.tenant?.workspace ?? null,
            resource_type: intent.resource?.type ?? null,
            resource_id: intent.resource?.id ?? null,
            input_digest: intent.inputDigest,
            at: intent.at.toISOString(),
          })
          .execute();
      } catch (error) {
        throw new AuditUnavailableError({ cause: error });
      }
      let ok = false;
      try {
        const result = await action();
        ok = result.ok === true;
        return result;
      } finally {
        await db
          .insertInto('interim_audit_outcomes')
          .values({ request_id: intent.requestId, ok: ok ? 1 : 0, at: clock().toISOString() })
          .execute()
          .catch((error: unknown) =>
            options.logger.error({ err: error, requestId: intent.requestId }, 'could not record the outcome of an audited call'),
          );
      }
    },

    async recordDenial(record: DenialRecord): Promise<void> {
      await db
        .insertInto('interim_audit_denials')
        .values({
          request_id: record.requestId,
          procedure: record.procedure,
          subject: record.actor.subject,
          session: record.actor.session,
          org: record.tenant.org,
          workspace: record.tenant.workspace,
          decision: JSON.stringify(record.decision),
          at: record.at.toISOString(),
        })
        .execute();
    },
  };
}

async function createTables(db: Kysely<InterimAuditTables>): Promise<void> {
  await db.schema
    .createTable('interim_audit_intents')
    .ifNotExists()
    .addColumn('request_id', 'text', (c) => c.primaryKey())
    .addColumn('procedure', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('session', 'text')
    .addColumn('org', 'text')
    .addColumn('workspace', 'text')
    .addColumn('resource_type', 'text')
    .addColumn('resource_id', 'text')
    .addColumn('input_digest', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('interim_audit_outcomes')
    .ifNotExists()
    .addColumn('request_id', 'text', (c) => c.primaryKey().references('interim_audit_intents.request_id'))
    .addColumn('ok', 'integer', (c) => c.notNull().check(sql`ok in (0, 1)`))
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('interim_audit_denials')
    .ifNotExists()
    .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('procedure', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('session', 'text')
    .addColumn('org', 'text', (c) => c.notNull())
    .addColumn('workspace', 'text')
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  for (const table of ['interim_audit_intents', 'interim_audit_outcomes', 'interim_audit_denials']) {
    // Append-only: no update, no delete, and no INSERT OR REPLACE over an existing row (which deletes the
    // old row without firing delete triggers).
    const key = table === 'interim_audit_denials' ? 'seq' : 'request_id';
    await sql`create trigger if not exists ${sql.raw(`${table}_no_update`)} before update on ${sql.table(table)}
      begin select raise(abort, ${sql.lit(`${table} is append-only`)}); end`.execute(db);
    await sql`create trigger if not exists ${sql.raw(`${table}_no_delete`)} before delete on ${sql.table(table)}
      begin select raise(abort, ${sql.lit(`${table} is append-only`)}); end`.execute(db);
    await sql`create trigger if not exists ${sql.raw(`${table}_no_replace`)} before insert on ${sql.table(table)}
      when exists (select 1 from ${sql.table(table)} where ${sql.ref(key)} = new.${sql.ref(key)})
      begin select raise(abort, ${sql.lit(`${table} is append-only`)}); end`.execute(db);
  }
}
