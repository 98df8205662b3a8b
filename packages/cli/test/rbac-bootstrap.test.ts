import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync } from 'node:fs';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createLedgerStore, decodeEntry, verifyCheckpoint, verifyLedger, type LedgerTables } from '@covenant/ledger';
import { createSignerKeyFile, readSignerKeyFile } from '@covenant/ledger/node';
import { createRbacStore, type RbacTables } from '@covenant/rbac';
import { recordChangesOn } from '@covenant/rbac/ledger';
import { disableAppendOnly, procedureContextFor } from '@covenant/testkit';
import { postgresTestDatabase, postgresTestUrl } from '@covenant/testkit/postgres';
import { createTempProject, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

const ORDERS = `import { defineContract, mutation, query } from '@covenant/contract';
import * as z from 'zod';

export const orders = defineContract('orders', {
  list: query({ input: z.strictObject({}), output: z.object({ ids: z.array(z.string()) }), capability: 'orders.read' }),
  place: mutation({ input: z.strictObject({ sku: z.string() }), output: z.object({ id: z.string() }), capability: 'orders.write' }),
  live: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),
});
`;

/** A project with one contract (two capabilities), a ledger key in keys/ledger.key, and no database yet. */
async function project(name: string, contract = ORDERS): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  await created.write('contracts/orders.contract.ts', contract);
  createSignerKeyFile(join(created.root, 'keys/ledger.key'));
  return created;
}

const ORIGIN = 'covenant.local/service';

/** The project's ledger, as an auditor reads it: every entry decoded, and whether the whole log verifies. */
async function ledgerOf(p: TempProject) {
  const signer = readSignerKeyFile(join(p.root, 'keys/ledger.key'), ORIGIN);
  const db = createDatabase<any>({ url: join(p.root, 'data/covenant.db') });
  try {
    const rows = await db.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
    const verified = await verifyLedger(db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey });
    return { entries: rows.map((row: { body: Uint8Array }) => decodeEntry(new Uint8Array(row.body))), verified };
  } finally {
    await db.destroy();
  }
}

const flags = (overrides: Record<string, string | null> = {}): string[] => {
  const values: Record<string, string | null> = {
    database: 'data/covenant.db',
    org: 'org_a',
    admin: 'alice',
    reason: 'first admin of org_a, ticket OPS-12',
    operator: 'jane',
    'ledger-key': 'keys/ledger.key',
    ...overrides,
  };
  return Object.entries(values).flatMap(([name, value]) => (value === null ? [] : [`--${name}`, value]));
};

/** What the database says about an org, read with the store (the same code the service runs). */
async function policy(p: TempProject, org: string) {
  const db = createDatabase<RbacTables>({ url: join(p.root, 'data/covenant.db') });
  try {
    const store = createRbacStore({ db });
    return { roles: await store.listRoles(org), bindings: await store.listBindings(org), changes: await store.changes(org) };
  } finally {
    await db.destroy();
  }
}

describe('covenant rbac bootstrap (in-process)', () => {
  it("makes the org's first admin: an admin role with every capability the contracts declare, bound to --admin, recorded", async () => {
    const p = await project('rbac-boot');
    const result = await p.run('rbac', 'bootstrap', ...flags());
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^covenant rbac bootstrap: org_a: role admin \(role_[0-9a-f-]+, 2 capabilities\) bound to alice \(bind_[0-9a-f-]+\)\n/);
    expect(result.stdout).toContain('recorded as operator:jane in ');
    expect(result.stdout).toContain('(new database)');

    const { roles, bindings, changes } = await policy(p, 'org_a');
    expect(roles).toEqual([expect.objectContaining({ name: 'admin', capabilities: ['orders.read', 'orders.write'] })]);
    expect(bindings).toEqual([
      expect.objectContaining({ subject: 'alice', roleId: roles[0]!.id, effect: 'allow', workspace: null, resource: null, expiresAt: null, createdBy: 'operator:jane' }),
    ]);
    expect(changes).toEqual([
      expect.objectContaining({
        action: 'tenant.bootstrap',
        outcome: 'applied',
        actor: 'operator:jane',
        reason: 'first admin of org_a, ticket OPS-12',
        before: null,
        after: expect.objectContaining({ role: expect.objectContaining({ id: roles[0]!.id }) }),
      }),
    ]);
  });

  it('writes the change to the ledger in the same transaction: one rbac.tenant.bootstrap event by the operator, and the log verifies', async () => {
    const p = await project('rbac-ledger');
    const result = await p.run('rbac', 'bootstrap', ...flags());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('and on its ledger (1 entries)');
    const { entries, verified } = await ledgerOf(p);
    expect(verified).toMatchObject({ ok: true, size: 1 });
    expect(entries).toEqual([
      expect.objectContaining({
        kind: 'event',
        action: 'rbac.tenant.bootstrap',
        actor: { subject: 'operator:jane', session: null },
        tenant: { org: 'org_a', workspace: null },
        data: expect.objectContaining({ change: 'applied', before: null, reasonDigest: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/) }),
      }),
    ]);
    // The free-text reason is on the ledger only as its digest.
    expect(JSON.stringify(entries)).not.toContain('OPS-12');
  });

  it('without a ledger key it exits 2 and changes nothing; with a key that is not the ledger’s, or one others can read, it exits 1', async () => {
    const p = await project('rbac-ledger-key');
    const missing = await p.run('rbac', 'bootstrap', ...flags({ 'ledger-key': null }));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--ledger-key (or COVENANT_LEDGER_KEY_FILE) is required: every RBAC change is a ledger entry');
    expect(existsSync(join(p.root, 'data/covenant.db'))).toBe(false);

    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
    const before = await policy(p, 'org_b');
    createSignerKeyFile(join(p.root, 'keys/other.key'));
    const wrong = await p.run('rbac', 'bootstrap', ...flags({ org: 'org_b', 'ledger-key': 'keys/other.key' }));
    expect(wrong).toMatchObject({ code: 1, stdout: '' });
    expect(wrong.stderr).toContain('is not signed with this --ledger-key for origin covenant.local/service');
    const otherOrigin = await p.run('rbac', 'bootstrap', ...flags({ org: 'org_b', origin: 'other.example/log' }));
    expect(otherOrigin.code).toBe(1);

    chmodSync(join(p.root, 'keys/ledger.key'), 0o644);
    const loose = await p.run('rbac', 'bootstrap', ...flags({ org: 'org_b' }));
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain('must be readable by its owner only');
    expect(await policy(p, 'org_b')).toEqual(before);
    chmodSync(join(p.root, 'keys/ledger.key'), 0o600);
    expect((await ledgerOf(p)).entries).toHaveLength(1);
  });

  it("works on an application's database: the app's own migrations (1001-helpdesk) are not taken for a newer build's", async () => {
    const p = await project('rbac-app-db');
    mkdirSync(join(p.root, 'data'), { recursive: true });
    const db = createDatabase<any>({ url: join(p.root, 'data/covenant.db') });
    try {
      await migrateToLatest(db);
      await db.insertInto('covenant_migrations').values({ name: '1001-helpdesk', applied_at: new Date(0).toISOString() }).execute();
    } finally {
      await db.destroy();
    }
    const result = await p.run('rbac', 'bootstrap', ...flags());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect((await policy(p, 'org_a')).bindings.map((b) => b.subject)).toEqual(['alice']);
  });

  it('holds the ledger to the head in its state file (--ledger-state, default beside --ledger-key): a log cut back since is refused, nothing changed', async () => {
    const p = await project('rbac-state');
    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
    const stateFile = join(p.root, 'keys/ledger.key.state');
    const signer = readSignerKeyFile(join(p.root, 'keys/ledger.key'), ORIGIN);
    expect(verifyCheckpoint(readFileSync(stateFile, 'utf8'), { name: ORIGIN, publicKey: signer.publicKey, origin: ORIGIN })).toMatchObject({ ok: true, checkpoint: { size: 1 } });
    expect((await p.run('rbac', 'bootstrap', ...flags({ org: 'org_b', admin: 'bea' }))).code).toBe(0);
    // The tail (org_b's bootstrap entry and its checkpoint) deleted, triggers off and back on: a log that
    // verifies on its own, on an intact schema.
    const db = createDatabase<any>({ url: join(p.root, 'data/covenant.db') });
    try {
      const restore = await disableAppendOnly(db);
      await db.deleteFrom('ledger_entries').where('seq', '>=', 1).execute();
      await db.deleteFrom('ledger_checkpoints').where('size', '>', 1).execute();
      await restore();
    } finally {
      await db.destroy();
    }
    expect((await ledgerOf(p)).verified).toMatchObject({ ok: true, size: 1 });
    const before = await policy(p, 'org_c');
    const refused = await p.run('rbac', 'bootstrap', ...flags({ org: 'org_c', admin: 'cid' }));
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('ERR_LEDGER_LOG_TRUNCATED');
    expect(await policy(p, 'org_c')).toEqual(before);
    // Another state file (a malformed one here) is honoured when named: refused too.
    writeFileSync(join(p.root, 'keys/other.state'), 'garbage\n', { mode: 0o600 });
    const malformed = await p.run('rbac', 'bootstrap', ...flags({ org: 'org_c', admin: 'cid', 'ledger-state': 'keys/other.state' }));
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('ERR_LEDGER_LOG_STATE_INVALID');
    expect((await ledgerOf(p)).entries).toHaveLength(1);
  });

  it('is refused the second time for the same org (exit 1, nothing changed); another org is its own', async () => {
    const p = await project('rbac-twice');
    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
    const before = await policy(p, 'org_a');

    const again = await p.run('rbac', 'bootstrap', ...flags({ admin: 'mallory', reason: 'another admin please' }));
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr: 'covenant rbac bootstrap: refused: org_a already has roles; grant admins through the rbac API instead\n',
    });
    expect(await policy(p, 'org_a')).toEqual(before);

    expect((await p.run('rbac', 'bootstrap', ...flags({ org: 'org_b', admin: 'bea' }))).code).toBe(0);
    expect((await policy(p, 'org_b')).bindings.map((b) => b.subject)).toEqual(['bea']);
    expect(await policy(p, 'org_a')).toEqual(before);
  });

  it.each([
    ['--reason', { reason: null }, /--reason is required/],
    ['--operator', { operator: null }, /--operator is required/],
    ['--database', { database: null }, /--database is required/],
    ['--org and --admin', { org: null, admin: null }, /--org, --admin are required/],
    ['a blank --reason', { reason: '   ' }, /--reason is required/],
    ['a two-letter --reason', { reason: 'ok' }, /--reason is 3 to 500 characters/],
    ['an in-memory database', { database: ':memory:' }, /--database is the path of a SQLite file/],
    ['a database URL', { database: 'postgres://db/covenant' }, /--database is the path of a SQLite file/],
  ])('without %s it exits 2 with the usage, and creates no database', async (_what, overrides, message) => {
    const p = await project('rbac-usage');
    const result = await p.run('rbac', 'bootstrap', ...flags(overrides));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('covenant rbac bootstrap --database <sqlite file>');
    expect(existsSync(join(p.root, 'data/covenant.db'))).toBe(false);
  });

  it('an identifier the store refuses (org with a space) exits 2 and records nothing', async () => {
    const p = await project('rbac-badorg');
    const result = await p.run('rbac', 'bootstrap', ...flags({ org: 'org a' }));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^covenant: rbac bootstrap: bootstrapTenant: org and subject must be identifiers/);
    expect(await policy(p, 'org a')).toEqual({ roles: [], bindings: [], changes: [] });
  });

  it('unknown flags, a missing or unknown subcommand exit 2', async () => {
    const p = await project('rbac-flags');
    expect((await p.run('rbac', 'bootstrap', ...flags(), '--force')).code).toBe(2);
    expect(await p.run('rbac')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^covenant: rbac: name a subcommand \(bootstrap, extend-admin, recover\)/) });
    expect(await p.run('rbac', 'grant')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^covenant: rbac: unknown subcommand "grant"/) });
  });

  it('refuses (exit 1, no database) when the contracts declare no capability: an admin of nothing could never administer', async () => {
    const p = await project('rbac-nocaps', ORDERS.replace(/capability: 'orders\.(read|write)'/g, 'anyPrincipal: true'));
    const result = await p.run('rbac', 'bootstrap', ...flags());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/declares a capability, so an admin role would hold nothing/);
    expect(existsSync(join(p.root, 'data/covenant.db'))).toBe(false);
  });

  it('refuses (exit 1) when the contracts cannot be loaded, naming the file', async () => {
    const p = await project('rbac-badcontract', ORDERS.replace("capability: 'orders.read'", "capability: 'orders.*'"));
    const result = await p.run('rbac', 'bootstrap', ...flags());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('contracts/orders.contract.ts');
    expect(existsSync(join(p.root, 'data/covenant.db'))).toBe(false);
  });
});

describe('covenant rbac bootstrap (the real binary)', () => {
  it('bootstraps, refuses the second time, and exits 2 without --reason', async () => {
    const p = await project('rbac-bin');
    const first = await p.spawn('rbac', 'bootstrap', ...flags());
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('org_a: role admin');

    const second = await p.spawn('rbac', 'bootstrap', ...flags({ admin: 'mallory' }));
    expect(second).toMatchObject({ code: 1, stdout: '' });
    expect(second.stderr).toContain('refused: org_a already has roles');

    const noReason = await p.spawn('rbac', 'bootstrap', ...flags({ org: 'org_c', reason: null }));
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason is required');

    expect((await policy(p, 'org_a')).bindings.map((b) => b.subject)).toEqual(['alice']);
    expect(await policy(p, 'org_c')).toEqual({ roles: [], bindings: [], changes: [] });
  });
});

describe('covenant rbac extend-admin', () => {
  it('adds capabilities declared after the bootstrap to the bootstrap role, recorded; refused for an org never bootstrapped', async () => {
    const p = await project('rbac-extend');
    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
    await p.write(
      'contracts/reports.contract.ts',
      `import { defineContract, query } from '@covenant/contract';
import * as z from 'zod';

export const reports = defineContract('reports', {
  export: query({ input: z.strictObject({}), output: z.object({ url: z.string() }), capability: 'reports.export' }),
});
`,
    );
    const extend = ['rbac', 'extend-admin', '--database', 'data/covenant.db', '--org', 'org_a', '--operator', 'jane', '--reason', 'reports contract added', '--ledger-key', 'keys/ledger.key'];
    const result = await p.spawn(...extend);
    expect(result).toMatchObject({ code: 0, stdout: 'covenant rbac extend-admin: org_a: added reports.export; recorded as operator:jane\n' });
    expect((await p.run(...extend)).stdout).toBe('covenant rbac extend-admin: org_a: the bootstrap role already holds every capability\n');

    const db = createDatabase<RbacTables>({ url: join(p.root, 'data/covenant.db') });
    try {
      const store = createRbacStore({ db });
      const [record] = await store.changes('org_a', { limit: 1 });
      expect(record).toMatchObject({ actor: 'operator:jane', action: 'tenant.extend_bootstrap_role', reason: 'reports contract added' });
    } finally {
      await db.destroy();
    }
    const other = await p.run('rbac', 'extend-admin', '--database', 'data/covenant.db', '--org', 'org_z', '--operator', 'jane', '--reason', 'nope', '--ledger-key', 'keys/ledger.key');
    expect(other).toMatchObject({ code: 1, stderr: 'covenant rbac extend-admin: refused: this org was never bootstrapped\n' });
    expect((await p.run('rbac', 'extend-admin', '--database', 'data/covenant.db', '--org', 'org_a', '--operator', 'jane', '--ledger-key', 'keys/ledger.key')).code).toBe(2);
  });
});

/** A contract declaring the rbac administration capabilities too: an org's admin then manages bindings. */
const ADMIN_CONTRACT = `import { defineContract, mutation } from '@covenant/contract';
import * as z from 'zod';

export const admin = defineContract('admin', {
  grant: mutation({ input: z.strictObject({ who: z.string() }), output: z.object({ ok: z.boolean() }), capability: 'rbac.bindings.manage' }),
  shape: mutation({ input: z.strictObject({ what: z.string() }), output: z.object({ ok: z.boolean() }), capability: 'rbac.roles.manage' }),
});
`;

/** The catalogue of a project with ORDERS and ADMIN_CONTRACT, as the bootstrap role holds it. */
const FULL_CATALOGUE = ['orders.read', 'orders.write', 'rbac.bindings.manage', 'rbac.roles.manage'];

/** A project whose org_a was bootstrapped with alice as its admin, and a second role (agent) bound to bob. */
async function bootstrapped(name: string): Promise<TempProject> {
  const p = await project(name);
  await p.write('contracts/admin.contract.ts', ADMIN_CONTRACT);
  expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
  await withPolicyDb(p, async (db, store) => {
    // Written straight into the tables: an agent role and bob's binding to it, which recovery must leave alone.
    const [admin] = await store.listRoles('org_a');
    await db.insertInto('rbac_roles').values({ id: 'role_agent', org: 'org_a', name: 'agent', description: null, created_at: new Date(0).toISOString() }).execute();
    await db.insertInto('rbac_role_capabilities').values({ role_id: 'role_agent', capability: 'orders.read' }).execute();
    await insertBinding(db, { id: 'bind_bob', subject: 'bob', role_id: 'role_agent', effect: 'allow' });
    expect(admin?.capabilities).toEqual(FULL_CATALOGUE);
  });
  return p;
}

type PolicyDb = ReturnType<typeof createDatabase<RbacTables>>;

/** Runs `body` with the project's database and a store on it (no ledger: only for arranging and reading). */
async function withPolicyDb<T>(p: TempProject, body: (db: PolicyDb, store: ReturnType<typeof createRbacStore>) => Promise<T>): Promise<T> {
  const db = createDatabase<RbacTables>({ url: join(p.root, 'data/covenant.db') });
  try {
    return await body(db, createRbacStore({ db }));
  } finally {
    await db.destroy();
  }
}

/**
 * A binding row written straight into the table: how an org got locked out before the store refused such
 * changes (issue 12: a workspace admin denied every org admin their admin role), or after a hand repair.
 */
async function insertBinding(db: PolicyDb, row: { id: string; subject: string; role_id: string; effect: 'allow' | 'deny' }) {
  await db
    .insertInto('rbac_bindings')
    .values({ ...row, org: 'org_a', workspace: null, resource_type: null, resource_id: null, expires_at: null, created_at: new Date(0).toISOString(), created_by: 'user:mallory' })
    .execute();
}

/** Locks org_a out: alice (its only admin) denied the admin role org-wide. */
async function lockOut(p: TempProject): Promise<void> {
  await withPolicyDb(p, async (db, store) => {
    const admin = (await store.listRoles('org_a')).find((r) => r.name === 'admin')!;
    await insertBinding(db, { id: 'bind_deny_1', subject: 'alice', role_id: admin.id, effect: 'deny' });
  });
}

/** Can `subject` use every capability of the catalogue in org_a, as the service would decide? */
async function holdsEverything(p: TempProject, subject: string): Promise<boolean> {
  return withPolicyDb(p, async (_db, store) => {
    await store.registerCapabilities(FULL_CATALOGUE, 'contract');
    const principal = { subject, tenant: { org: 'org_a', workspace: null }, session: null, tokenId: null, issuer: 'https://issuer.test', issuedAt: 0, expiresAt: 0 };
    for (const capability of FULL_CATALOGUE) if (!(await store.check({ principal, capability, resource: null, procedure: procedureContextFor(capability) })).allowed) return false;
    return true;
  });
}

const recoverFlags = (overrides: Record<string, string | null> = {}) => flags({ reason: 'alice locked out, ticket OPS-77', ...overrides });

describe('covenant rbac recover', () => {
  it('restores a locked-out org: the deny lifted, alice bound to the bootstrap role again, recorded on the ledger in the same transaction', async () => {
    const p = await bootstrapped('rbac-recover');
    await lockOut(p);
    expect(await holdsEverything(p, 'alice')).toBe(false);
    // Neither existing path helps: bootstrap refuses an org with roles, extend-admin has nothing to add.
    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(1);
    expect((await p.run('rbac', 'extend-admin', ...flags({ admin: null }))).stdout).toContain('already holds every capability');
    expect(await holdsEverything(p, 'alice')).toBe(false);
    const ledgerBefore = (await ledgerOf(p)).entries.length;

    const result = await p.run('rbac', 'recover', ...recoverFlags());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^covenant rbac recover: org_a: role admin \(role_[0-9a-f-]+, 4 capabilities\) bound to alice \(bind_[0-9a-f-]+\); lifted 1 deny binding of alice\n/);
    expect(await holdsEverything(p, 'alice')).toBe(true);

    const { roles, bindings, changes } = await policy(p, 'org_a');
    const admin = roles.find((r) => r.name === 'admin')!;
    expect(bindings.filter((b) => b.subject === 'alice')).toEqual([expect.objectContaining({ roleId: admin.id, effect: 'allow', workspace: null, expiresAt: null })]);
    expect(bindings.find((b) => b.subject === 'bob')).toMatchObject({ id: 'bind_bob' }); // nobody else's bindings touched
    expect(changes[0]).toMatchObject({
      actor: 'operator:jane',
      action: 'tenant.recover',
      outcome: 'applied',
      reason: 'alice locked out, ticket OPS-77',
      before: { role: { id: admin.id }, denies: [expect.objectContaining({ id: 'bind_deny_1', subject: 'alice', effect: 'deny' })] },
      after: { role: { id: admin.id, capabilities: FULL_CATALOGUE } },
    });

    const { entries, verified } = await ledgerOf(p);
    expect(verified).toMatchObject({ ok: true });
    expect(entries.slice(ledgerBefore)).toEqual([
      expect.objectContaining({ kind: 'event', action: 'rbac.tenant.recover', actor: { subject: 'operator:jane', session: null }, tenant: { org: 'org_a', workspace: null } }),
    ]);
    // The ledger keeps the subjects and the reason as redactions and a digest only.
    const data = JSON.stringify(entries.at(-1)!.data);
    expect(data).not.toContain('alice');
    expect(data).not.toContain('OPS-77');
    expect(data).toContain('[redacted:identifier]');
  });

  it('is refused (exit 1, nothing changed, nothing on the ledger) for an org someone can still administer', async () => {
    const p = await bootstrapped('rbac-recover-open');
    const before = await policy(p, 'org_a');
    const size = (await ledgerOf(p)).entries.length;
    const result = await p.run('rbac', 'recover', ...recoverFlags({ admin: 'mallory' }));
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'covenant rbac recover: refused: org_a is not locked out (someone holds every capability org-wide, for good); grant admins through the rbac API instead\n',
    });
    expect(await policy(p, 'org_a')).toEqual(before);
    expect((await ledgerOf(p)).entries).toHaveLength(size);
    expect(await holdsEverything(p, 'mallory')).toBe(false);
  });

  it('counts an org whose only admin is denied a capability that does not manage anything as locked out: the deny is a hole no one can lift', async () => {
    const p = await bootstrapped('rbac-recover-hole');
    // Written straight into the tables (the API refuses to place it now): alice, the only admin, denied
    // the agent role in one workspace. She still manages bindings, but can grant its capabilities nowhere
    // org-wide and cannot lift the deny (she lacks them there).
    await withPolicyDb(p, async (db, store) => {
      const agent = (await store.listRoles('org_a')).find((r) => r.name === 'agent')!;
      await insertBinding(db, { id: 'bind_hole', subject: 'alice', role_id: agent.id, effect: 'deny' });
      await db.updateTable('rbac_bindings').set({ workspace: 'w1' }).where('id', '=', 'bind_hole').execute();
    });
    const result = await p.run('rbac', 'recover', ...recoverFlags());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('lifted 1 deny binding of alice');
    expect((await policy(p, 'org_a')).bindings.filter((b) => b.subject === 'alice' && b.effect === 'deny')).toEqual([]);
  });

  it('counts an admin whose binding expires, or who is denied the managing capability in one workspace, as locked out', async () => {
    const p = await bootstrapped('rbac-recover-partial');
    await withPolicyDb(p, async (db, store) => {
      const admin = (await store.listRoles('org_a')).find((r) => r.name === 'admin')!;
      await db.deleteFrom('rbac_bindings').where('subject', '=', 'alice').execute();
      await insertBinding(db, { id: 'bind_expiring', subject: 'alice', role_id: admin.id, effect: 'allow' });
      await db.updateTable('rbac_bindings').set({ expires_at: '2999-01-01T00:00:00.000Z' }).where('id', '=', 'bind_expiring').execute();
    });
    expect((await p.run('rbac', 'recover', ...recoverFlags())).code).toBe(0);
    // Now she is an admin for good: a second recovery is refused.
    expect((await p.run('rbac', 'recover', ...recoverFlags())).code).toBe(1);
    // A deny of her admin role in one workspace takes rbac.bindings.manage from her there: she no longer
    // manages the org as a whole (org-wide bindings), so the org is locked out again.
    await withPolicyDb(p, async (db, store) => {
      const admin = (await store.listRoles('org_a')).find((r) => r.name === 'admin')!;
      await insertBinding(db, { id: 'bind_deny_w1', subject: 'alice', role_id: admin.id, effect: 'deny' });
      await db.updateTable('rbac_bindings').set({ workspace: 'w1' }).where('id', '=', 'bind_deny_w1').execute();
    });
    const again = await p.run('rbac', 'recover', ...recoverFlags());
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toContain('lifted 1 deny binding of alice');
    expect((await policy(p, 'org_a')).bindings.filter((b) => b.subject === 'alice').map((b) => [b.effect, b.workspace, b.expiresAt])).toEqual([
      ['allow', null, '2999-01-01T00:00:00.000Z'],
      ['allow', null, null],
    ]);
  });

  it('recreates a deleted bootstrap role (extend-admin then extends the new one), and lifts every deny of the admin', async () => {
    const p = await bootstrapped('rbac-recover-deleted');
    await withPolicyDb(p, async (db, store) => {
      const admin = (await store.listRoles('org_a')).find((r) => r.name === 'admin')!;
      await db.deleteFrom('rbac_roles').where('id', '=', admin.id).execute(); // its bindings go with it
      await insertBinding(db, { id: 'bind_deny_2', subject: 'alice', role_id: 'role_agent', effect: 'deny' });
    });
    expect((await p.run('rbac', 'extend-admin', ...flags({ admin: null }))).stderr).toContain("the org's bootstrap role was deleted");
    const result = await p.run('rbac', 'recover', ...recoverFlags());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('lifted 1 deny binding of alice');
    expect(await holdsEverything(p, 'alice')).toBe(true);
    const { roles, bindings } = await policy(p, 'org_a');
    expect(roles.map((r) => [r.name, r.capabilities])).toEqual([
      ['admin', FULL_CATALOGUE],
      ['agent', ['orders.read']],
    ]);
    expect(bindings.some((b) => b.effect === 'deny')).toBe(false);
    await p.write('contracts/reports.contract.ts', ORDERS.replace(/orders/g, 'reports'));
    expect((await p.run('rbac', 'extend-admin', ...flags({ admin: null }))).stdout).toContain('added reports.read, reports.write');
    expect((await policy(p, 'org_a')).roles.find((r) => r.name === 'admin')!.capabilities).toContain('reports.write');
  });

  it('is refused for an org never bootstrapped, for a missing database (never created), and without its flags', async () => {
    const p = await bootstrapped('rbac-recover-refusals');
    expect(await p.run('rbac', 'recover', ...recoverFlags({ org: 'org_z' }))).toEqual({
      code: 1,
      stdout: '',
      stderr: 'covenant rbac recover: refused: org_z was never bootstrapped; run covenant rbac bootstrap instead\n',
    });
    const missing = await p.run('rbac', 'recover', ...recoverFlags({ database: 'data/other.db' }));
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: `covenant rbac recover: no database at ${join(p.root, 'data/other.db')}\n` });
    expect(existsSync(join(p.root, 'data/other.db'))).toBe(false);
    for (const [overrides, message] of [
      [{ admin: null }, /--admin is required/],
      [{ reason: null }, /--reason is required/],
      [{ operator: null }, /--operator is required/],
      [{ database: ':memory:' }, /--database is the path of a SQLite file or a postgres:\/\/ URL/],
      [{ database: 'mysql://db/covenant' }, /--database is the path of a SQLite file or a postgres:\/\/ URL/],
    ] as const) {
      const result = await p.run('rbac', 'recover', ...recoverFlags(overrides));
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('covenant rbac recover --database <sqlite file | postgres:// url>');
    }
    expect((await p.run('rbac', 'recover', ...recoverFlags(), '--force')).code).toBe(2);
  });

  it('refuses (exit 1) when the contracts declare no rbac.bindings.manage: there would be no manager to restore', async () => {
    const p = await project('rbac-recover-nocap');
    expect((await p.run('rbac', 'bootstrap', ...flags())).code).toBe(0);
    const result = await p.run('rbac', 'recover', ...recoverFlags());
    expect(result).toMatchObject({ code: 1, stderr: 'covenant rbac recover: refused: rbac.bindings.manage is not in the catalogue: no contract declares it\n' });
  });
});

describe('covenant rbac recover (the real binary)', () => {
  it('recovers a locked-out org, then refuses the same org (no longer locked out)', async () => {
    const p = await bootstrapped('rbac-recover-bin');
    await lockOut(p);
    const first = await p.spawn('rbac', 'recover', ...recoverFlags());
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('org_a: role admin');
    expect(await holdsEverything(p, 'alice')).toBe(true);
    const second = await p.spawn('rbac', 'recover', ...recoverFlags());
    expect(second).toMatchObject({ code: 1, stdout: '' });
    expect(second.stderr).toContain('refused: org_a is not locked out');
    expect((await ledgerOf(p)).verified).toMatchObject({ ok: true });
  });
});

describe.skipIf(postgresTestUrl() === undefined)('covenant rbac recover on PostgreSQL (the real binary)', () => {
  it("recovers a locked-out org in the service's PostgreSQL database, recorded on its ledger; then refuses it", async () => {
    const p = await project('rbac-recover-pg');
    await p.write('contracts/admin.contract.ts', ADMIN_CONTRACT);
    const scratch = await postgresTestDatabase();
    // Migrated by the owner; the service, and the operator's command, use the serving role (ADR 0013).
    const owner = createDatabase<any>({ url: scratch.url });
    const db = createDatabase<RbacTables>({ url: scratch.servingUrl });
    const log = createDatabase<LedgerTables>({ url: scratch.servingUrl });
    try {
      // The database as the service leaves it: migrated, org_a bootstrapped through the ledger, then locked out.
      await migrateToLatest(owner);
      await owner.destroy();
      const ledger = await createLedgerStore({ db, origin: ORIGIN, signer: readSignerKeyFile(join(p.root, 'keys/ledger.key'), ORIGIN) });
      const store = createRbacStore({ db, ...recordChangesOn(ledger, { error: () => undefined }) });
      await store.registerCapabilities(FULL_CATALOGUE, 'contract');
      const { role } = await ledger.transact((tx) => store.bind(tx.db).bootstrapTenant('ops', 'org_a', 'alice', 'first admin'));
      await ledger.close();
      await insertBinding(db, { id: 'bind_deny_1', subject: 'alice', role_id: role.id, effect: 'deny' });
      const principal = { subject: 'alice', tenant: { org: 'org_a', workspace: null }, session: null, tokenId: null, issuer: 'https://issuer.test', issuedAt: 0, expiresAt: 0 };
      expect((await store.check({ principal, capability: 'rbac.bindings.manage', resource: null, procedure: procedureContextFor('rbac.bindings.manage') })).allowed).toBe(false);

      const result = await p.spawn('rbac', 'recover', ...recoverFlags({ database: scratch.servingUrl }));
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toContain('lifted 1 deny binding of alice');
      expect(result.stdout).not.toContain('search_path');
      for (const capability of FULL_CATALOGUE) expect((await store.check({ principal, capability, resource: null, procedure: procedureContextFor(capability) })).allowed).toBe(true);
      const entries = await log.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
      expect(entries.map((row) => decodeEntry(new Uint8Array(row.body)).action)).toEqual(['rbac.tenant.bootstrap', 'rbac.tenant.recover']);
      const signer = readSignerKeyFile(join(p.root, 'keys/ledger.key'), ORIGIN);
      expect(await verifyLedger(log, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey })).toMatchObject({ ok: true, size: 2 });

      const again = await p.spawn('rbac', 'recover', ...recoverFlags({ database: scratch.servingUrl }));
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toContain('refused: org_a is not locked out');
    } finally {
      await db.destroy();
      await log.destroy();
      await scratch.drop();
    }
  });
});
