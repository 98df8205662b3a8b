import { SERVICE_ROLE, dialectOf } from '@covenant/db';
import { sql, type Kysely } from 'kysely';

/**
 * Lets the serving role read and write a table a test created as the owner (PostgreSQL: a GRANT to
 * `covenant_service`, as an application's own migration grants its tables; SQLite has no roles).
 */
export async function grantToService(owner: Kysely<any>, table: string): Promise<void> {
  if (dialectOf(owner) !== 'postgres') return;
  await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(SERVICE_ROLE)}`.execute(owner);
}
