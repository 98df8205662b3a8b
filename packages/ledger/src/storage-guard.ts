import { assertServingRole, createSchemaGuard, dialectOf, type SchemaGuard } from '@covenant/db';
import type { Kysely } from 'kysely';

/** The tables of migration 0002-ledger, whose append-only triggers the writer relies on. */
const LEDGER_TABLES = Object.freeze(['ledger_entries', 'ledger_checkpoints']);

/**
 * What a writable ledger store checks about its own tables before it serves and before each signature
 * (ADR 0013). The append-only triggers stop nothing if the store's own connection can drop or disable them:
 *
 * - PostgreSQL: the connection's role must not be able to (`assertServingRole`: no ownership, no UPDATE,
 *   DELETE, TRUNCATE, TRIGGER or REFERENCES, not a superuser, nothing that could shadow the tables), unless
 *   `allowPrivilegedRole` — a development and test opt-out — says otherwise; PostgreSQL itself then refuses
 *   `DISABLE TRIGGER`, `DELETE` and the rest to the service.
 * - Both: the tables and their triggers must be what the migrations create (`createSchemaGuard`), at open
 *   and again inside every batch transaction, after its units of work ran and before its checkpoint is
 *   signed. SQLite cannot stop a connection from dropping a trigger; this makes the store refuse to sign
 *   over it, from then on (`SchemaAlteredError`, `ERR_DB_SCHEMA_ALTERED`). A batch refused so is rolled
 *   back whole — on SQLite the DDL of a unit of work that dropped a trigger included.
 *
 * A read-only store (no signer) signs nothing and checks nothing: `null`.
 */
export async function openStorageGuard(db: Kysely<any>, options: { writable: boolean; allowPrivilegedRole: boolean }): Promise<SchemaGuard | null> {
  if (!options.writable) return null;
  if (dialectOf(db) === 'postgres' && !options.allowPrivilegedRole) await assertServingRole(db, { appendOnly: LEDGER_TABLES });
  return createSchemaGuard(db, LEDGER_TABLES);
}
