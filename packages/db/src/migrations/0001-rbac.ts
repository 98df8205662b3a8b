import { sql, type Kysely, type Migration } from 'kysely';
import { dialectOf } from '../dialect.ts';
import { PG_TEXT, appendOnly } from './postgres.ts';

/**
 * RBAC: the capability catalogue, roles per org, their capabilities, bindings of subjects to roles
 * (org- or workspace-wide, optionally on one resource or every resource of a type, optionally expiring,
 * allow or deny), a per-org epoch that every change bumps (decision caches are keyed on it), and the
 * append-only change record.
 *
 * One definition for both dialects: on PostgreSQL `text` is `text collate "C"`, integers are `bigint`, the
 * change sequence is an identity column, and the append-only triggers are PL/pgSQL (see ./postgres.ts).
 * The SQLite statements are exactly those of the first release (databases in the field carry them).
 */
export const rbacMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const postgres = dialectOf(db) === 'postgres';
    const text = postgres ? PG_TEXT : 'text';
    const integer = postgres ? 'bigint' : 'integer';
    await db.schema
      .createTable('rbac_capabilities')
      .addColumn('name', text, (c) => c.primaryKey())
      .addColumn('source', text, (c) => c.notNull().check(sql`source in ('contract', 'registered')`))
      .addColumn('description', text)
      .execute();

    await db.schema
      .createTable('rbac_roles')
      .addColumn('id', text, (c) => c.primaryKey())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('name', text, (c) => c.notNull())
      .addColumn('description', text)
      .addColumn('created_at', text, (c) => c.notNull())
      .addUniqueConstraint('rbac_roles_org_name', ['org', 'name'])
      // Lets bindings reference (org, id) so that a binding can only ever name a role of its own org.
      .addUniqueConstraint('rbac_roles_org_id', ['org', 'id'])
      .execute();

    await db.schema
      .createTable('rbac_role_capabilities')
      .addColumn('role_id', text, (c) => c.notNull().references('rbac_roles.id').onDelete('cascade'))
      .addColumn('capability', text, (c) => c.notNull().references('rbac_capabilities.name'))
      .addPrimaryKeyConstraint('rbac_role_capabilities_pk', ['role_id', 'capability'])
      .execute();

    await db.schema
      .createTable('rbac_bindings')
      .addColumn('id', text, (c) => c.primaryKey())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('workspace', text)
      .addColumn('subject', text, (c) => c.notNull())
      .addColumn('role_id', text, (c) => c.notNull())
      .addColumn('effect', text, (c) => c.notNull().check(sql`effect in ('allow', 'deny')`))
      .addColumn('resource_type', text)
      .addColumn('resource_id', text)
      .addColumn('expires_at', text)
      .addColumn('created_at', text, (c) => c.notNull())
      .addColumn('created_by', text, (c) => c.notNull())
      .addForeignKeyConstraint('rbac_bindings_role', ['org', 'role_id'], 'rbac_roles', ['org', 'id'], (c) => c.onDelete('cascade'))
      .addCheckConstraint('rbac_bindings_resource_pair', sql`(resource_type is null) = (resource_id is null)`)
      .execute();
    await db.schema.createIndex('rbac_bindings_lookup').on('rbac_bindings').columns(['org', 'subject']).execute();

    await db.schema
      .createTable('rbac_epochs')
      .addColumn('org', text, (c) => c.primaryKey())
      .addColumn('epoch', integer, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('rbac_changes')
      .addColumn('seq', integer, (c) => (postgres ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement()))
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('actor', text, (c) => c.notNull())
      .addColumn('action', text, (c) => c.notNull())
      .addColumn('outcome', text, (c) => c.notNull().check(sql`outcome in ('applied', 'refused')`))
      .addColumn('reason', text, (c) => c.notNull())
      .addColumn('before', text)
      .addColumn('after', text)
      .addColumn('request_id', text)
      .addColumn('at', text, (c) => c.notNull())
      .execute();
    // Append-only at the storage layer too: the ledger issue moves these records into the signed log.
    if (postgres) {
      // No INSERT OR REPLACE on PostgreSQL (an upsert's update fires the update trigger), and an identity
      // column GENERATED ALWAYS refuses a chosen seq unless asked with OVERRIDING, then the key refuses it.
      await appendOnly(db, 'rbac_changes');
      return;
    }
    await sql`create trigger rbac_changes_no_update before update on rbac_changes
      begin select raise(abort, 'rbac_changes is append-only'); end`.execute(db);
    await sql`create trigger rbac_changes_no_delete before delete on rbac_changes
      begin select raise(abort, 'rbac_changes is append-only'); end`.execute(db);
    // INSERT OR REPLACE deletes the old row without firing delete triggers (unless recursive triggers are
    // on): refuse an insert that names an existing sequence number.
    await sql`create trigger rbac_changes_no_replace before insert on rbac_changes
      when new.seq is not null and exists (select 1 from rbac_changes where seq = new.seq)
      begin select raise(abort, 'rbac_changes is append-only'); end`.execute(db);
  },
};
