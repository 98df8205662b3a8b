import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TenantFilterMissingError, createDatabase, tenantGuard } from '../src/index.ts';

interface Tables {
  tickets: { id: string; org: string; workspace: string; subject: string };
  settings: { key: string; value: string };
}

let db: Kysely<Tables>;
let acme: Kysely<Tables>;
beforeEach(async () => {
  db = createDatabase<Tables>({ url: ':memory:' });
  await db.schema.createTable('tickets').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('org', 'text').addColumn('workspace', 'text').addColumn('subject', 'text').execute();
  await db.schema.createTable('settings').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text').execute();
  await db
    .insertInto('tickets')
    .values([
      { id: 't1', org: 'acme', workspace: 'support', subject: 'acme one' },
      { id: 't2', org: 'globex', workspace: 'support', subject: 'globex one' },
    ])
    .execute();
  acme = db.withPlugin(tenantGuard({ org: 'acme', workspace: 'support' }, ['tickets']));
});
afterEach(() => db.destroy());

const refused = async (run: Promise<unknown>, message?: RegExp): Promise<void> => {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TenantFilterMissingError);
  expect((error as TenantFilterMissingError).code).toBe('ERR_DB_TENANT_FILTER_MISSING');
  if (message !== undefined) expect((error as Error).message).toMatch(message);
};
const rows = () => db.selectFrom('tickets').select(['id', 'org', 'subject']).orderBy('id').execute();

describe('tenantGuard()', () => {
  it('refuses a select, update or delete without the tenant filter before it reaches the database', async () => {
    const before = await rows();
    await refused(acme.selectFrom('tickets').selectAll().execute(), /SELECT on tickets has no WHERE org/);
    await refused(acme.updateTable('tickets').set({ subject: 'x' }).execute(), /UPDATE on tickets/);
    await refused(acme.deleteFrom('tickets').where('id', '=', 't2').execute(), /DELETE on tickets/);
    // Another org's value, or a filter on org without the workspace, is not the tenant filter.
    await refused(acme.selectFrom('tickets').selectAll().where('org', '=', 'globex').where('workspace', '=', 'support').execute());
    await refused(acme.selectFrom('tickets').selectAll().where('org', '=', 'acme').execute(), /workspace/);
    // A filter under an OR does not confine the query.
    await refused(acme.selectFrom('tickets').selectAll().where((eb) => eb.or([eb('org', '=', 'acme'), eb('id', '=', 't2')])).where('workspace', '=', 'support').execute());
    expect(await rows()).toEqual(before);
  });

  it('accepts the filtered statements, qualified, aliased or not, and they run', async () => {
    const filtered = await acme.selectFrom('tickets').select('id').where('org', '=', 'acme').where('workspace', '=', 'support').execute();
    expect(filtered).toEqual([{ id: 't1' }]);
    const aliased = await acme.selectFrom('tickets as t').select('t.id').where((eb) => eb.and([eb('t.org', '=', 'acme'), eb('t.workspace', '=', 'support')])).execute();
    expect(aliased).toEqual([{ id: 't1' }]);
    await acme.updateTable('tickets').set({ subject: 'changed' }).where('tickets.org', '=', 'acme').where('workspace', '=', 'support').execute();
    expect(await rows()).toEqual([
      { id: 't1', org: 'acme', subject: 'changed' },
      { id: 't2', org: 'globex', subject: 'globex one' },
    ]);
  });

  it('refuses a filtered query whose nested subquery on a guarded table has no filter', async () => {
    await refused(
      acme
        .selectFrom('tickets')
        .select('id')
        .where('org', '=', 'acme')
        .where('workspace', '=', 'support')
        .where('id', 'in', (eb) => eb.selectFrom('tickets').select('id'))
        .execute(),
    );
    await refused(acme.selectFrom('settings').select('key').where('value', 'in', (eb) => eb.selectFrom('tickets').select('subject')).execute());
    await refused(acme.with('all_tickets', (qb) => qb.selectFrom('tickets').select('id')).selectFrom('all_tickets').select('id').execute());
  });

  it('refuses a join whose guarded table is not filtered', async () => {
    await refused(
      acme
        .selectFrom('settings')
        .innerJoin('tickets', 'tickets.id', 'settings.key')
        .select('settings.key')
        .where('settings.value', '=', 'acme')
        .execute(),
    );
  });

  it("refuses an insert of another tenant's row, or one without the org, and writes nothing", async () => {
    await refused(acme.insertInto('tickets').values({ id: 't3', org: 'globex', workspace: 'support', subject: 'x' }).execute(), /org other than/);
    await refused(
      acme
        .insertInto('tickets')
        .values([
          { id: 't3', org: 'acme', workspace: 'support', subject: 'ok' },
          { id: 't4', org: 'globex', workspace: 'support', subject: 'smuggled' },
        ])
        .execute(),
    );
    await refused(acme.insertInto('tickets').values({ id: 't3', org: 'acme', workspace: 'sales', subject: 'x' }).execute(), /workspace/);
    await refused(acme.insertInto('tickets').columns(['id', 'org', 'workspace', 'subject']).expression((eb) => eb.selectFrom('tickets').select(['id', 'org', 'workspace', 'subject'])).execute());
    expect((await rows()).map((r) => r.id)).toEqual(['t1', 't2']);
    await acme.insertInto('tickets').values({ id: 't3', org: 'acme', workspace: 'support', subject: 'ok' }).execute();
    expect((await rows()).map((r) => r.id)).toEqual(['t1', 't2', 't3']);
  });

  it('refuses raw SQL naming a guarded table; tables not listed are untouched', async () => {
    await refused(sql`select * from tickets`.execute(acme), /raw SQL/);
    await acme.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
    expect(await acme.selectFrom('settings').selectAll().execute()).toEqual([{ key: 'k', value: 'v' }]);
    await acme.deleteFrom('settings').execute();
    expect(await sql<{ n: number }>`select count(*) as n from settings`.execute(acme)).toMatchObject({ rows: [{ n: 0 }] });
  });

  it('a tenant without a workspace needs only the org; a null tenant is refused everything on guarded tables', async () => {
    const org = db.withPlugin(tenantGuard({ org: 'acme', workspace: null }, ['tickets']));
    expect(await org.selectFrom('tickets').select('id').where('org', '=', 'acme').execute()).toEqual([{ id: 't1' }]);
    const nobody = db.withPlugin(tenantGuard(null, ['tickets']));
    await refused(nobody.selectFrom('tickets').select('id').where('org', '=', 'acme').execute(), /without a tenant/);
    expect(await nobody.selectFrom('settings').selectAll().execute()).toEqual([]);
  });
});
