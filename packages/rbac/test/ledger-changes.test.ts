import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createCheckpointSigner, createLedgerStore, decodeEntry, verifyLedger, type LedgerEntry, type LedgerStore } from '@covenant/ledger';
import { EscalationRefusedError, createRbacStore, type RbacStore, type RbacTables } from '../src/index.ts';
import { changeEntry, recordChangesOn } from '../src/ledger.ts';
import { CATALOGUE, counterIds, manualClock, tempDatabaseFile, user } from './support/rbac-fixture.ts';

// Issue 12, section 5: the RBAC change entries copied whole before/after records into the append-only log,
// the binding subject (classified pii: identifier) and free-text role descriptions included. They now
// carry the records with the contract's classification applied ([redacted:<class>]); the full record stays
// in rbac_changes, an ordinary table. And (issue 12, "Also found") a refusal inside a ledger transaction
// keeps its record, in rbac_changes and as a denial entry, although that transaction rolls back.

const SIGNER = createCheckpointSigner({ name: 'test.example/rbac', privateKey: new Uint8Array(32).fill(3) });
const ALICE = user('alice', 'req-alice');

/** Values that must never reach the ledger: subjects and descriptions used below. */
const SUBJECT = 'zed-grantee-77';
const OTHER_SUBJECT = 'yan-denied-88';
const DESCRIPTION = 'Cover for Dana Whitfield while on leave';
const NEW_DESCRIPTION = 'Night shift, ask Priya Natarajan';

let file: ReturnType<typeof tempDatabaseFile>;
let db: ReturnType<typeof createDatabase<RbacTables>>;
let ledger: LedgerStore;
let rbac: RbacStore;
const failures: unknown[] = [];

beforeEach(async () => {
  file = tempDatabaseFile();
  db = createDatabase<RbacTables>({ url: file.url });
  await migrateToLatest(db);
  ledger = await createLedgerStore({ db, origin: SIGNER.name, signer: SIGNER });
  rbac = createRbacStore({ db, clock: manualClock(), ids: counterIds(), ...recordChangesOn(ledger, { error: (details) => void failures.push(details) }) });
  await rbac.registerCapabilities(CATALOGUE, 'contract');
  await ledger.transact((tx) => rbac.bind(tx.db).bootstrapTenant('ops', 'org_a', 'alice', 'first admin'));
});
afterEach(async () => {
  await ledger.close();
  await db.destroy();
  file.remove();
  expect(failures.splice(0)).toEqual([]);
});

/** Runs a change as an audited handler does: bound to a ledger unit of work. */
const audited = <T>(work: (bound: RbacStore) => Promise<T>): Promise<T> => ledger.transact((tx) => work(rbac.bind(tx.db)));

async function entries(): Promise<LedgerEntry[]> {
  await ledger.flush();
  const rows = await (db as unknown as ReturnType<typeof createDatabase<{ ledger_entries: { seq: number; body: Uint8Array } }>>)
    .selectFrom('ledger_entries')
    .select('body')
    .orderBy('seq')
    .execute();
  return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
}

describe('RBAC change entries apply the records’ classification', () => {
  it('after a grant, a revoke, role edits, a deny, a role delete and a refusal, no subject or description is in any ledger entry', async () => {
    const role = await audited((s) => s.createRole(ALICE, 'org_a', { name: 'cover', description: DESCRIPTION, capabilities: ['tickets.read'] }, 'cover role'));
    await audited((s) => s.updateRole(ALICE, 'org_a', role.id, { description: NEW_DESCRIPTION, capabilities: ['tickets.read', 'tickets.write'] }, 'night shift'));
    const granted = await audited((s) => s.grant(ALICE, 'org_a', { subject: SUBJECT, roleId: role.id, workspace: 'w1' }, 'zed covers'));
    await audited((s) => s.grant(ALICE, 'org_a', { subject: OTHER_SUBJECT, roleId: role.id, effect: 'deny' }, 'yan paused'));
    await audited((s) => s.revoke(ALICE, 'org_a', granted.id, 'zed is done'));
    // A refusal carries the attempted subject: a binding manager who lacks tickets.write.
    const binder = await audited((s) => s.createRole(ALICE, 'org_a', { name: 'binder', capabilities: ['rbac.bindings.manage'] }, 'binders'));
    await audited((s) => s.grant(ALICE, 'org_a', { subject: 'bo', roleId: binder.id }, 'bo binds'));
    await expect(audited((s) => s.grant(user('bo'), 'org_a', { subject: SUBJECT, roleId: role.id }, 'bo tries'))).rejects.toBeInstanceOf(EscalationRefusedError);
    await audited((s) => s.deleteRole(ALICE, 'org_a', role.id, 'cover over'));

    const logged = await entries();
    expect(logged.map((e) => [e.kind, e.action])).toEqual([
      ['event', 'rbac.tenant.bootstrap'],
      ['event', 'rbac.roles.create'],
      ['event', 'rbac.roles.update'],
      ['event', 'rbac.bindings.grant'],
      ['event', 'rbac.bindings.grant'],
      ['event', 'rbac.bindings.revoke'],
      ['event', 'rbac.roles.create'],
      ['event', 'rbac.bindings.grant'],
      ['denial', 'rbac.bindings.grant'],
      ['event', 'rbac.roles.delete'],
    ]);
    const text = JSON.stringify(logged);
    for (const value of [SUBJECT, OTHER_SUBJECT, DESCRIPTION, NEW_DESCRIPTION, 'Dana', 'Priya', '"bo"', '"alice"']) expect(text).not.toContain(value);
    expect(logged[2]!.data).toMatchObject({
      change: 'applied',
      before: { id: role.id, name: 'cover', description: '[redacted:free-text]', capabilities: ['tickets.read'] },
      after: { id: role.id, description: '[redacted:free-text]', capabilities: ['tickets.read', 'tickets.write'] },
    });
    expect(logged[3]!.data).toMatchObject({
      after: { id: granted.id, subject: '[redacted:identifier]', roleId: role.id, workspace: 'w1', createdBy: '[redacted:identifier]' },
    });
    expect(logged[8]!.data).toMatchObject({ change: 'refused', after: { attempted: { subject: '[redacted:identifier]', roleId: role.id }, missing: ['tickets.read', 'tickets.write'] } });
    expect(logged[9]!.data).toMatchObject({ before: { role: { description: '[redacted:free-text]' }, bindings: [{ subject: '[redacted:identifier]' }] } });

    // The full records stay in rbac_changes.
    const full = JSON.stringify(await rbac.changes('org_a', { limit: 100 }));
    for (const value of [SUBJECT, OTHER_SUBJECT, DESCRIPTION, NEW_DESCRIPTION]) expect(full).toContain(value);
    expect(await verifyLedger(db, { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey })).toMatchObject({ ok: true, size: 10 });
  });

  it('changeEntry redacts every shape a change holds: bootstrap, recovery, deletion, refusal; null stays null', () => {
    const binding = { id: 'b1', subject: SUBJECT, roleId: 'r1', effect: 'allow', workspace: null, resource: null, expiresAt: null, createdAt: 't', createdBy: 'user:x' };
    const role = { id: 'r1', name: 'admin', description: DESCRIPTION, capabilities: ['a.b'], createdAt: 't' };
    const event = (before: unknown, after: unknown) => ({ org: 'org_a', actor: 'operator:ops', action: 'x', outcome: 'applied' as const, reason: 'why', before, after, requestId: null, at: 't' });
    for (const [before, after] of [
      [null, { role, binding }],
      [{ role, denies: [binding] }, { role, binding }],
      [{ role: null, denies: [binding, binding] }, { role, binding }],
      [{ role, bindings: [binding] }, null],
      [null, { attempted: { subject: SUBJECT, roleId: 'r1', workspace: null, resource: null, expiresAt: null }, code: 'ERR_RBAC_SCOPE_REFUSED', missing: ['m.n'] }],
      [role, { ...role, description: null }],
      [binding, null],
    ]) {
      const entry = changeEntry(event(before, after), SIGNER);
      const text = JSON.stringify(entry);
      expect(text).not.toContain(SUBJECT);
      expect(text).not.toContain(DESCRIPTION);
      expect(text).not.toContain('user:x');
      if (before === null) expect(entry.data).toMatchObject({ before: null });
      if (after === null) expect(entry.data).toMatchObject({ after: null });
    }
    // The reason is the ledger's keyed digest: not the SHA-256 of 'why', which anyone could compute and compare.
    expect(changeEntry(event(null, null), SIGNER).data).toMatchObject({ reasonDigest: SIGNER.digest('why') });
    expect(JSON.stringify(changeEntry(event(null, null), SIGNER))).not.toContain(createHash('sha256').update('why').digest('hex'));
    // The unclassified parts are kept as they are: ids, names, capabilities, scope.
    expect(changeEntry(event(null, { role, binding }), SIGNER).data).toMatchObject({ after: { role: { id: 'r1', name: 'admin', capabilities: ['a.b'] }, binding: { id: 'b1', roleId: 'r1' } } });
  });
});

describe('recordChangesOn', () => {
  it('refuses a change made outside a ledger transaction (it would miss the ledger), and it changes nothing', async () => {
    await expect(rbac.createRole(ALICE, 'org_a', { name: 'unlogged', capabilities: [] }, 'no ledger')).rejects.toThrow('RBAC changes are made inside a ledger transaction');
    expect((await rbac.listRoles('org_a')).map((r) => r.name)).toEqual(['admin']);
  });

  it('a refusal inside an audited call keeps its record and its denial entry though the call rolls back, and nothing waits on the write lock', async () => {
    const binder = await audited((s) => s.createRole(ALICE, 'org_a', { name: 'binder', capabilities: ['rbac.bindings.manage'] }, 'binders'));
    await audited((s) => s.grant(ALICE, 'org_a', { subject: 'bo', roleId: binder.id }, 'bo binds'));
    const [admin] = await rbac.listRoles('org_a');
    const bo = user('bo', 'req-bo');
    const failure = await ledger
      .transact(async (tx) => {
        // As the handler of an audited call: its own write, then the refused change, which fails the call.
        await (tx.db as typeof db).insertInto('rbac_epochs').values({ org: 'org_b', epoch: 41 }).execute();
        return rbac.bind(tx.db).grant(bo, 'org_a', { subject: 'bo', roleId: admin!.id }, 'bo promotes himself');
      })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EscalationRefusedError);
    // The call's own write rolled back…
    expect(await db.selectFrom('rbac_epochs').selectAll().where('org', '=', 'org_b').execute()).toEqual([]);
    // …the refusal's record did not.
    await ledger.flush();
    expect((await rbac.changes('org_a', { limit: 1 }))[0]).toMatchObject({ actor: 'user:bo', action: 'bindings.grant', outcome: 'refused', requestId: 'req-bo', after: { missing: expect.arrayContaining(['tickets.read']) } });
    const denial = (await entries()).at(-1)!;
    expect(denial).toMatchObject({ kind: 'denial', action: 'rbac.bindings.grant', requestId: 'req-bo', actor: { subject: 'user:bo' }, data: { change: 'refused' } });
    expect(await verifyLedger(db, { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey })).toMatchObject({ ok: true });
  });

  it('a refused record that cannot be written is reported to the log, not thrown into the caller', async () => {
    const [admin] = await rbac.listRoles('org_a');
    const logged: unknown[] = [];
    const broken = createRbacStore({ db, ...recordChangesOn(ledger, { error: (details, message) => void logged.push([message, details]) }) });
    await ledger.close(); // every later ledger write fails
    await expect(broken.grant(user('nobody'), 'org_a', { subject: 'x', roleId: admin!.id }, 'nobody grants')).rejects.toMatchObject({ code: 'ERR_RBAC_SCOPE_REFUSED' });
    expect(logged).toEqual([['could not record a refused RBAC change', { error: expect.objectContaining({ type: 'LogError', code: 'ERR_LEDGER_LOG_CLOSED' }) }]]);
    ledger = await createLedgerStore({ db, origin: SIGNER.name, signer: SIGNER }); // for afterEach
  });
});
