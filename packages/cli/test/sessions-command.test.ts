import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { RevocationSubject } from '@covenant/identity';
import { createRevocationStore } from '@covenant/identity/revocation-store';
import { createLedgerStore, decodeEntry, verifyLedger } from '@covenant/ledger';
import { createSignerKeyFile, readSignerKeyFile } from '@covenant/ledger/node';
import { createTempProject, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

const ORIGIN = 'covenant.local/service';
const DATABASE = 'data/covenant.db';

/** A project with the service's database (migrated, one entry on its ledger) and its ledger key in keys/ledger.key. */
async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  createSignerKeyFile(join(created.root, 'keys/ledger.key'));
  mkdirSync(join(created.root, 'data'), { recursive: true });
  const db = createDatabase<any>({ url: join(created.root, DATABASE) });
  try {
    await migrateToLatest(db);
    // An application's own migration, as the helpdesk's database carries: not a newer build's.
    await db.insertInto('covenant_migrations').values({ name: '1001-helpdesk', applied_at: new Date(0).toISOString() }).execute();
    const ledger = await createLedgerStore({ db, origin: ORIGIN, signer: readSignerKeyFile(join(created.root, 'keys/ledger.key'), ORIGIN) });
    await ledger.append([{ kind: 'event', action: 'service.started', actor: null, tenant: null, resource: null, requestId: null, outcome: null, inputDigest: null, data: null }]);
    await ledger.close();
  } finally {
    await db.destroy();
  }
  return created;
}

const flags = (overrides: Record<string, string | null> = {}): string[] => {
  const values: Record<string, string | null> = {
    database: DATABASE,
    org: 'acme',
    session: 'sid-stolen-laptop',
    reason: 'laptop reported stolen, ticket SEC-7',
    operator: 'jane',
    'ledger-key': 'keys/ledger.key',
    ...overrides,
  };
  return Object.entries(values).flatMap(([name, value]) => (value === null ? [] : [`--${name}`, value]));
};

const subject = (org: string, ids: { session?: string; tokenId?: string }, workspace: string | null = null): RevocationSubject => ({
  issuer: 'https://issuer.test',
  subject: 'user_1',
  session: ids.session ?? null,
  tokenId: ids.tokenId ?? null,
  issuedAt: 0,
  tenant: { org, workspace },
});

/** What the service's verifier would be told, and what an auditor reads on the ledger. */
async function stateOf(p: TempProject) {
  const db = createDatabase<any>({ url: join(p.root, DATABASE) });
  try {
    const store = createRevocationStore({ db });
    const rows = await db.selectFrom('ledger_entries').select('body').orderBy('seq').execute();
    const signer = readSignerKeyFile(join(p.root, 'keys/ledger.key'), ORIGIN);
    return {
      isRevoked: (token: RevocationSubject) => store.isRevoked(token),
      revocations: await store.list('acme'),
      bodies: rows.map((row: { body: Uint8Array }) => new TextDecoder().decode(row.body)),
      entries: rows.map((row: { body: Uint8Array }) => decodeEntry(new Uint8Array(row.body))),
      verified: await verifyLedger(db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey }),
      close: () => db.destroy(),
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

describe('covenant sessions revoke', () => {
  it("revokes a session in --org only, recorded on the ledger as operator:<name> in the revocation's transaction", async () => {
    const p = await project('sessions-revoke');
    const result = await p.run('sessions', 'revoke', ...flags());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^covenant sessions revoke: acme: session sid-stolen-laptop revoked \([0-9a-f-]+\)\n/);
    expect(result.stdout).toContain('recorded as operator:jane in ');
    expect(result.stdout).toContain('and on its ledger (2 entries)');

    const state = await stateOf(p);
    try {
      expect(await state.isRevoked(subject('acme', { session: 'sid-stolen-laptop' }))).toBe(true);
      expect(await state.isRevoked(subject('acme', { session: 'sid-stolen-laptop' }, 'support'))).toBe(true);
      expect(await state.isRevoked(subject('globex', { session: 'sid-stolen-laptop' }))).toBe(false);
      expect(state.revocations).toEqual([
        expect.objectContaining({ kind: 'session', org: 'acme', workspace: null, value: 'sid-stolen-laptop', revokedBy: 'operator:jane', reason: 'laptop reported stolen, ticket SEC-7' }),
      ]);
      expect(state.entries.at(-1)).toMatchObject({
        kind: 'event',
        action: 'sessions.revoke',
        actor: { subject: 'operator:jane', session: null },
        tenant: { org: 'acme', workspace: null },
        resource: { type: 'session', id: 'sid-stolen-laptop' },
        data: { revocation: state.revocations[0]!.id, tokenExpiresAt: null },
      });
      expect(state.bodies.join('\n')).not.toContain('SEC-7');
      expect(state.verified).toMatchObject({ ok: true, size: 2 });
    } finally {
      await state.close();
    }
  });

  it('revokes one token by --token-id until --until, and nothing else of its session', async () => {
    const p = await project('sessions-revoke-token');
    const result = await p.run('sessions', 'revoke', ...flags({ session: null, 'token-id': 'jti-leaked', until: '2030-01-01T12:00:00+02:00' }));
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('acme: token jti-leaked (until 2030-01-01T10:00:00.000Z) revoked');
    const state = await stateOf(p);
    try {
      expect(await state.isRevoked(subject('acme', { tokenId: 'jti-leaked', session: 's1' }))).toBe(true);
      expect(await state.isRevoked(subject('acme', { tokenId: 'jti-other', session: 's1' }))).toBe(false);
      expect(await state.isRevoked(subject('globex', { tokenId: 'jti-leaked' }))).toBe(false);
      expect(state.entries.at(-1)).toMatchObject({ resource: { type: 'token', id: 'jti-leaked' }, data: { tokenExpiresAt: '2030-01-01T10:00:00.000Z' } });
      expect(state.verified).toMatchObject({ ok: true });
    } finally {
      await state.close();
    }
  });

  it('works from the real binary too', async () => {
    const p = await project('sessions-revoke-binary');
    const result = await p.spawn('sessions', 'revoke', ...flags());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const state = await stateOf(p);
    try {
      expect(await state.isRevoked(subject('acme', { session: 'sid-stolen-laptop' }))).toBe(true);
    } finally {
      await state.close();
    }
  });

  it.each([
    ['no --session and no --token-id', { session: null }, /exactly one of --session <sid> and --token-id <jti>/],
    ['both --session and --token-id', { 'token-id': 'jti-1', until: '2030-01-01T00:00:00Z' }, /exactly one of/],
    ['--until with --session', { until: '2030-01-01T00:00:00Z' }, /--until goes with --token-id/],
    ['--token-id without --until', { session: null, 'token-id': 'jti-1' }, /--token-id needs --until/],
    ['--until that is not a time', { session: null, 'token-id': 'jti-1', until: 'tomorrow' }, /--until is an ISO 8601 time with a zone/],
    ['--until without a zone', { session: null, 'token-id': 'jti-1', until: '2030-01-01T00:00:00' }, /--until is an ISO 8601 time/],
    ['--until a date only', { session: null, 'token-id': 'jti-1', until: '2030-01-01' }, /--until is an ISO 8601 time/],
    ['--until an impossible date', { session: null, 'token-id': 'jti-1', until: '2030-02-31T00:00:00Z' }, /--until is an ISO 8601 time/],
    ['no --org', { org: null }, /--org is required/],
    ['no --reason and no --operator', { reason: null, operator: null }, /--reason, --operator are required/],
    ['a two-character reason', { reason: ' ab ' }, /--reason is 3 to 500 characters/],
    ['an in-memory database', { database: ':memory:' }, /--database is the path of a SQLite file or a postgres:\/\/ URL/],
    ['another scheme', { database: 'mysql://db/covenant' }, /--database is the path of a SQLite file or a postgres/],
    ['an org that is not a tenant identifier', { org: 'acme/../globex' }, /"org" must be a tenant identifier/],
    ['a sid with a control character', { session: 'sid\nINFO forged' }, /"session" must be a sid/],
    ['no ledger key', { 'ledger-key': null }, /--ledger-key \(or COVENANT_LEDGER_KEY_FILE\) is required: every revocation is a ledger entry/],
  ])('%s is a usage error (exit 2, nothing changed)', async (_name, overrides, message) => {
    const p = await project('sessions-usage');
    const result = await p.run('sessions', 'revoke', ...flags(overrides));
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('covenant sessions revoke --database <sqlite file | postgres:// url> --org <org>');
    const state = await stateOf(p);
    try {
      expect(state.revocations).toEqual([]);
      expect(state.entries).toHaveLength(1);
    } finally {
      await state.close();
    }
  });

  it('refuses unknown flags, positional arguments and subcommands (exit 2); --help prints the usage (exit 0)', async () => {
    const p = await project('sessions-strict');
    expect(await p.run('sessions', 'revoke', ...flags(), '--workspace', 'support')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^covenant: Unknown option '--workspace'/) });
    expect(await p.run('sessions', 'revoke', ...flags(), 'extra')).toMatchObject({ code: 2 });
    expect(await p.run('sessions')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^covenant: sessions: name a subcommand \(revoke\)/) });
    expect(await p.run('sessions', 'list')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^covenant: sessions: unknown subcommand "list"/) });
    const help = await p.run('sessions', 'revoke', '--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('covenant sessions revoke --database <sqlite file | postgres:// url> --org <org>');
  });

  it('exits 1 and changes nothing without the database, with a key that is not the ledger’s, or one others can read', async () => {
    const p = await project('sessions-failures');
    const missing = await p.run('sessions', 'revoke', ...flags({ database: 'data/typo.db' }));
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('nothing was changed; no database at ');
    expect(existsSync(join(p.root, 'data/typo.db'))).toBe(false);

    createSignerKeyFile(join(p.root, 'keys/other.key'));
    const wrong = await p.run('sessions', 'revoke', ...flags({ 'ledger-key': 'keys/other.key' }));
    expect(wrong).toMatchObject({ code: 1, stdout: '' });
    expect(wrong.stderr).toContain('is not signed with this --ledger-key for origin covenant.local/service');
    expect((await p.run('sessions', 'revoke', ...flags({ origin: 'other.example/log' }))).code).toBe(1);

    chmodSync(join(p.root, 'keys/ledger.key'), 0o644);
    const loose = await p.run('sessions', 'revoke', ...flags());
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain('must be readable by its owner only');
    chmodSync(join(p.root, 'keys/ledger.key'), 0o600);

    const state = await stateOf(p);
    try {
      expect(state.revocations).toEqual([]);
      expect(state.entries).toHaveLength(1);
      expect(state.verified).toMatchObject({ ok: true });
    } finally {
      await state.close();
    }
  });
});
