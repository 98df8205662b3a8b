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
  for (const trigger of appendOnlyTriggers(table)) {
    await sql`create trigger ${sql.id(trigger.name)} before ${sql.raw(trigger.event)} on ${sql.table(table)}
      for each ${sql.raw(trigger.level)} execute function ${sql.id(trigger.fn)}()`.execute(db);
  }
}

/** A BEFORE trigger the migrations create on PostgreSQL, as the schema check (schema-integrity.ts) expects it. */
export interface PgTriggerSpec {
  readonly name: string;
  readonly event: 'insert' | 'update' | 'delete' | 'truncate';
  readonly level: 'row' | 'statement';
  /** The trigger function's name. */
  readonly fn: string;
}

/** The triggers `appendOnly(db, table)` creates. */
export function appendOnlyTriggers(table: string): ReadonlyArray<PgTriggerSpec> {
  return [
    { name: `${table}_no_update`, event: 'update', level: 'row', fn: 'covenant_refuse_change' },
    { name: `${table}_no_delete`, event: 'delete', level: 'row', fn: 'covenant_refuse_change' },
    { name: `${table}_no_truncate`, event: 'truncate', level: 'statement', fn: 'covenant_refuse_change' },
  ];
}

/** The trigger `refuseInsertWhen(db, table, trigger, …)` creates. */
export function insertCheckTrigger(trigger: string): PgTriggerSpec {
  return { name: trigger, event: 'insert', level: 'row', fn: `${trigger}_check` };
}

/**
 * A BEFORE INSERT row trigger on `table` that raises `message` when `refuse` (a boolean SQL expression over
 * `new` and the table) holds. Row triggers see the rows an INSERT already wrote, so a multi-row INSERT is
 * checked row by row as on SQLite.
 */
export async function refuseInsertWhen(db: Kysely<unknown>, table: string, trigger: string, refuse: string, message: string): Promise<void> {
  await replaceInsertCheck(db, trigger, refuse, message);
  await sql`create trigger ${sql.id(trigger)} before insert on ${sql.table(table)}
    for each row execute function ${sql.id(insertCheckTrigger(trigger).fn)}()`.execute(db);
}

/**
 * Creates, or replaces, the function of the insert check `trigger`: a later migration changes a check this
 * way and leaves the trigger (and the schema check's list of triggers) as it was. The function's
 * search_path is the migration's, so the check reads the right table whatever a later session's is.
 */
export async function replaceInsertCheck(db: Kysely<unknown>, trigger: string, refuse: string, message: string): Promise<void> {
  await sql`create or replace function ${sql.id(insertCheckTrigger(trigger).fn)}() returns trigger language plpgsql set search_path from current as $$
    begin
      if ${sql.raw(refuse)} then
        raise exception ${sql.lit(message)} using errcode = 'raise_exception';
      end if;
      return new;
    end $$`.execute(db);
}
