import { dialectOf } from '@covenant/db';
import { sql, type ColumnDefinitionBuilder, type Generated, type Kysely, type Migration } from 'kysely';

/**
 * The helpdesk's own tables. Every row carries its tenant (org and workspace); every query the handlers
 * make filters on the verified caller's. `seq` orders pages (ids are random); ids are what the API shows.
 */
export interface HelpdeskTables {
  helpdesk_customers: {
    seq: Generated<number>;
    id: string;
    org: string;
    workspace: string;
    name: string;
    email: string;
    phone: string | null;
    created_at: string;
    created_by: string;
  };
  helpdesk_tickets: {
    seq: Generated<number>;
    id: string;
    org: string;
    workspace: string;
    customer_id: string;
    subject: string;
    status: 'open' | 'closed';
    priority: 'low' | 'normal' | 'high' | 'urgent';
    assignee: string | null;
    external_ref: string | null;
    resolution: string | null;
    created_at: string;
    updated_at: string;
    created_by: string;
  };
  helpdesk_comments: {
    seq: Generated<number>;
    id: string;
    org: string;
    workspace: string;
    ticket_id: string;
    author: string;
    body: string;
    internal: number;
    created_at: string;
  };
}

/**
 * Migration 1001-helpdesk (app migrations are numbered from 1001, after the framework's stores). Foreign
 * keys include the tenant, so a ticket can only ever point at a customer of its own org and workspace,
 * whatever a handler does; an external reference is unique per org.
 *
 * One definition for both dialects (same table, column, constraint and index names): on PostgreSQL `text`
 * is `text collate "C"` (bytewise, as SQLite compares), integers are `bigint`, and `seq` is an identity
 * column. The SQLite statements are exactly those of the first release (databases in the field carry them).
 */
export const helpdeskMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const postgres = dialectOf(db) === 'postgres';
    // As @covenant/db's migrations: bytewise comparison and order, like SQLite's default collation.
    const text = postgres ? sql`text collate "C"` : 'text';
    const integer = postgres ? 'bigint' : 'integer';
    const seq = (c: ColumnDefinitionBuilder): ColumnDefinitionBuilder => (postgres ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement());
    await db.schema
      .createTable('helpdesk_customers')
      .addColumn('seq', integer, seq)
      .addColumn('id', text, (c) => c.notNull().unique())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('workspace', text, (c) => c.notNull())
      .addColumn('name', text, (c) => c.notNull())
      .addColumn('email', text, (c) => c.notNull())
      .addColumn('phone', text)
      .addColumn('created_at', text, (c) => c.notNull())
      .addColumn('created_by', text, (c) => c.notNull())
      .addUniqueConstraint('helpdesk_customers_tenant_id', ['org', 'workspace', 'id'])
      .addUniqueConstraint('helpdesk_customers_email', ['org', 'workspace', 'email'])
      .execute();
    await db.schema
      .createTable('helpdesk_tickets')
      .addColumn('seq', integer, seq)
      .addColumn('id', text, (c) => c.notNull().unique())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('workspace', text, (c) => c.notNull())
      .addColumn('customer_id', text, (c) => c.notNull())
      .addColumn('subject', text, (c) => c.notNull())
      .addColumn('status', text, (c) => c.notNull().check(sql`status in ('open', 'closed')`))
      .addColumn('priority', text, (c) => c.notNull().check(sql`priority in ('low', 'normal', 'high', 'urgent')`))
      .addColumn('assignee', text)
      .addColumn('external_ref', text)
      .addColumn('resolution', text)
      .addColumn('created_at', text, (c) => c.notNull())
      .addColumn('updated_at', text, (c) => c.notNull())
      .addColumn('created_by', text, (c) => c.notNull())
      .addUniqueConstraint('helpdesk_tickets_tenant_id', ['org', 'workspace', 'id'])
      .addUniqueConstraint('helpdesk_tickets_external_ref', ['org', 'external_ref'])
      .addForeignKeyConstraint('helpdesk_tickets_customer', ['org', 'workspace', 'customer_id'], 'helpdesk_customers', ['org', 'workspace', 'id'])
      .execute();
    await db.schema
      .createTable('helpdesk_comments')
      .addColumn('seq', integer, seq)
      .addColumn('id', text, (c) => c.notNull().unique())
      .addColumn('org', text, (c) => c.notNull())
      .addColumn('workspace', text, (c) => c.notNull())
      .addColumn('ticket_id', text, (c) => c.notNull())
      .addColumn('author', text, (c) => c.notNull())
      .addColumn('body', text, (c) => c.notNull())
      .addColumn('internal', integer, (c) => c.notNull().check(sql`internal in (0, 1)`))
      .addColumn('created_at', text, (c) => c.notNull())
      .addForeignKeyConstraint('helpdesk_comments_ticket', ['org', 'workspace', 'ticket_id'], 'helpdesk_tickets', ['org', 'workspace', 'id'])
      .execute();
    await db.schema.createIndex('helpdesk_tickets_list').on('helpdesk_tickets').columns(['org', 'workspace', 'status', 'seq']).execute();
    await db.schema.createIndex('helpdesk_comments_ticket').on('helpdesk_comments').columns(['ticket_id', 'seq']).execute();
  },
};
