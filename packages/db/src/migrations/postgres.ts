import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * PostgreSQL pieces of the migrations. Column types: `text collate "C"` compares and sorts bytewise like
 * SQLite's default (ISO timestamps and names order the same on both, whatever the database's locale),
 * `bigint` is SQLite's 64-bit integer, `bytea` its blob.
 */
export const PG_TEXT: RawBuilder<unknown> = sql`text collate "C"`;

/**
 * Makes `table` append-only as the SQLite triggers do: UPDATE and DELETE are refused row by row, and
 * TRUNCATE (which fires no row triggers, and which SQLite does not have) by a statement trigger. The
 * message is SQLite's, `<table> is append-only`.
 */
export async function appendOnly(db: Kysely<unknown>, table: string): Promise<void> {
  await sql`create or replace function covenant_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only', tg_table_name using errcode = 'raise_exception';
    end $$`.execute(db);
  for (const [suffix, event, level] of [
    ['no_update', 'update', 'row'],
    ['no_delete', 'delete', 'row'],
    ['no_truncate', 'truncate', 'statement'],
  ] as const) {
    await sql`create trigger ${sql.id(`${table}_${suffix}`)} before ${sql.raw(event)} on ${sql.table(table)}
      for each ${sql.raw(level)} execute function covenant_refuse_change()`.execute(db);
  }
}

/**
 * A BEFORE INSERT row trigger on `table` that raises `message` when `refuse` (a boolean SQL expression over
 * `new` and the table) holds. Row triggers see the rows an INSERT already wrote, so a multi-row INSERT is
 * checked row by row as on SQLite. The function's search_path is the migration's, so the check reads
 * the right table whatever a later session's search_path is.
 */
export async function refuseInsertWhen(db: Kysely<unknown>, table: string, trigger: string, refuse: string, message: string): Promise<void> {
  const fn = sql.id(`${trigger}_check`);
  await sql`create function ${fn}() returns trigger language plpgsql set search_path from current as $$
    begin
      if ${sql.raw(refuse)} then
        raise exception ${sql.lit(message)} using errcode = 'raise_exception';
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger ${sql.id(trigger)} before insert on ${sql.table(table)}
    for each row execute function ${fn}()`.execute(db);
}
