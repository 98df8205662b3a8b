import type { RevocationSubject } from '@covenant/identity';
import {
  createRevocationStore,
  recordRevocationsOn,
  type Revocation,
  type RevocationStore,
  type RevocationStoreOptions,
} from '@covenant/identity/revocation-store';
import { createCheckpointSigner, createLedgerStore, decodeEntry, verifyLedger } from '@covenant/ledger';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { StoreConformanceFactory } from './factory.ts';
import { databasesPerTest } from './per-test.ts';

const ORIGIN = 'conformance.example/revocations';
/** A fixed test key (never a real one). */
const signer = createCheckpointSigner({ name: ORIGIN, privateKey: new Uint8Array(32).fill(5) });
const AT = new Date('2026-03-04T05:06:07.000Z');

/** A verified token's revocation subject, as the verifier builds it. */
function token(
  tenant: { org: string; workspace?: string | null },
  ids: { session?: string | null; tokenId?: string | null } = {},
): RevocationSubject {
  return {
    issuer: 'https://issuer.test',
    subject: 'user_1',
    session: ids.session ?? null,
    tokenId: ids.tokenId ?? null,
    issuedAt: Math.floor(AT.getTime() / 1000) - 60,
    tenant: { org: tenant.org, workspace: tenant.workspace ?? null },
  };
}

const BY_ANA = { revokedBy: 'operator:ana', reason: 'laptop reported stolen' } as const;

/**
 * The revocation store (`createRevocationStore`, @covenant/identity/revocation-store) on one backend: what
 * it refuses, and that a revocation binds its own tenant only, is seen by another connection (another
 * process) as soon as it commits, commits or rolls back with the transaction it was written in, and
 * lands on the audit ledger with that transaction.
 */
export function runRevocationConformance(factory: StoreConformanceFactory): void {
  describe(`revocation store conformance (${factory.name})`, () => {
    const openDatabase = databasesPerTest(factory);

    const setup = async (options: Partial<RevocationStoreOptions> = {}) => {
      const database = await openDatabase();
      let n = 0;
      const store = createRevocationStore({ db: database.db, clock: { now: () => AT }, ids: () => `rev_${String(++n).padStart(4, '0')}`, ...options });
      /** A second store on another connection to the same database (another process, in effect). */
      const second = async (): Promise<RevocationStore> => createRevocationStore({ db: await database.another() });
      return { database, store, second };
    };

    describe('isRevoked', () => {
      it('revokes nothing at first, and asks nothing for a token without sid or jti', async () => {
        const { store } = await setup();
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-1', tokenId: 'jti-1' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme' }))).toBe(false);
      });

      it("a session revocation refuses every token of that sid in the revoker's org, in every workspace, and nothing else", async () => {
        const { store } = await setup();
        await store.revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA });
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-1' }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'acme', workspace: 'support' }, { session: 'sid-1', tokenId: 'jti-x' }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-2' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme' }, { tokenId: 'sid-1' }))).toBe(false); // a jti is not a sid
        expect(await store.isRevoked(token({ org: 'acme' }))).toBe(false);
      });

      it('another org is not affected by a revocation of the same sid (a guessed sid revokes nothing there)', async () => {
        const { store } = await setup();
        await store.revokeSession({ org: 'acme', session: 'sid-shared', ...BY_ANA });
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-shared' }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'globex' }, { session: 'sid-shared' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'globex', workspace: 'support' }, { session: 'sid-shared' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'ACME' }, { session: 'sid-shared' }))).toBe(false);
      });

      it("a workspace-limited revocation refuses that workspace's tokens only: not org-wide ones, not another workspace's", async () => {
        const { store } = await setup();
        await store.revokeSession({ org: 'acme', workspace: 'support', session: 'sid-1', ...BY_ANA });
        expect(await store.isRevoked(token({ org: 'acme', workspace: 'support' }, { session: 'sid-1' }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-1' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme', workspace: 'billing' }, { session: 'sid-1' }))).toBe(false);
      });

      it('a token revocation refuses that jti in its tenant only, for good (its expiry only says how long to keep it)', async () => {
        const { store } = await setup();
        await store.revokeToken({ org: 'acme', tokenId: 'jti-1', expiresAt: new Date(AT.getTime() + 300_000), ...BY_ANA });
        expect(await store.isRevoked(token({ org: 'acme' }, { tokenId: 'jti-1', session: 'sid-9' }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'acme' }, { tokenId: 'jti-2' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'jti-1' }))).toBe(false); // a sid is not a jti
        expect(await store.isRevoked(token({ org: 'globex' }, { tokenId: 'jti-1' }))).toBe(false);
      });

      it('matches ids exactly: other case, look-alike letters, SQL text are other ids', async () => {
        const { store } = await setup();
        const hostile = "sid' or '1'='1";
        await store.revokeSession({ org: 'acme', session: hostile, ...BY_ANA });
        await store.revokeSession({ org: 'acme', session: 'sid-latin', ...BY_ANA });
        expect(await store.isRevoked(token({ org: 'acme' }, { session: hostile }))).toBe(true);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'anything-else' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'SID-LATIN' }))).toBe(false);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 's\u0456d-latin' }))).toBe(false); // Cyrillic і
      });

      it('a second connection (another process) sees a revocation as soon as it commits, and not before', async () => {
        const { database, store, second } = await setup();
        const other = await second();
        const subject = token({ org: 'acme' }, { session: 'sid-1' });
        expect(await other.isRevoked(subject)).toBe(false);
        await database.db.transaction().execute(async (trx) => {
          await store.bind(trx).revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA });
          expect(await store.bind(trx).isRevoked(subject)).toBe(true); // inside, it is seen
          expect(await other.isRevoked(subject)).toBe(false); // uncommitted: not elsewhere
        });
        expect(await other.isRevoked(subject)).toBe(true);
      });

      it('decides as the rule says for every tenant and id combination (a reference model, seeded)', async () => {
        const { store } = await setup();
        const orgs = ['acme', 'globex'];
        const workspaces = [null, 'support', 'billing'];
        const ids = ['a', 'b', 'c'];
        let seed = 12;
        const pick = <T>(values: ReadonlyArray<T>): T => {
          seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
          return values[seed % values.length] as T;
        };
        const revoked: Array<{ org: string; workspace: string | null; kind: 'session' | 'token'; value: string }> = [];
        for (let i = 0; i < 8; i += 1) {
          const entry = { org: pick(orgs), workspace: pick(workspaces), kind: pick(['session', 'token'] as const), value: pick(ids) };
          revoked.push(entry);
          const base = { org: entry.org, workspace: entry.workspace, ...BY_ANA };
          if (entry.kind === 'session') await store.revokeSession({ ...base, session: entry.value });
          else await store.revokeToken({ ...base, tokenId: entry.value, expiresAt: AT });
        }
        for (const org of orgs) {
          for (const workspace of workspaces) {
            for (const session of [null, ...ids]) {
              for (const tokenId of [null, ...ids]) {
                const expected = revoked.some(
                  (r) =>
                    r.org === org &&
                    (r.workspace === null || r.workspace === workspace) &&
                    ((r.kind === 'session' && r.value === session) || (r.kind === 'token' && r.value === tokenId)),
                );
                const subject = token({ org, workspace }, { session, tokenId });
                expect(await store.isRevoked(subject), JSON.stringify(subject.tenant) + ` ${session} ${tokenId}`).toBe(expected);
              }
            }
          }
        }
      });
    });

    describe('writes', () => {
      it('records who, why, when and the tenant; lists an org’s revocations newest first', async () => {
        let now = AT;
        const { store } = await setup({ clock: { now: () => now } });
        const first = await store.revokeSession({ org: 'acme', workspace: 'support', session: 'sid-1', revokedBy: 'user:ada', reason: '  left the company  ', requestId: 'req-1' });
        expect(first).toEqual({
          id: 'rev_0001',
          kind: 'session',
          org: 'acme',
          workspace: 'support',
          value: 'sid-1',
          expiresAt: null,
          revokedAt: AT.toISOString(),
          revokedBy: 'user:ada',
          reason: 'left the company',
          requestId: 'req-1',
        } satisfies Revocation);
        now = new Date(AT.getTime() + 1_000);
        const second = await store.revokeToken({ org: 'acme', tokenId: 'jti-1', expiresAt: new Date(AT.getTime() + 60_000), ...BY_ANA });
        expect(second).toMatchObject({ kind: 'token', value: 'jti-1', expiresAt: new Date(AT.getTime() + 60_000).toISOString(), workspace: null, requestId: null });
        await store.revokeSession({ org: 'globex', session: 'sid-9', ...BY_ANA });
        expect((await store.list('acme')).map((r) => r.id)).toEqual(['rev_0002', 'rev_0001']);
        expect((await store.list('acme', { limit: 1 })).map((r) => r.id)).toEqual(['rev_0002']);
        expect((await store.list('globex')).map((r) => r.value)).toEqual(['sid-9']);
      });

      it('bind(): a revocation rolls back with the transaction it was written in', async () => {
        const { database, store } = await setup();
        await expect(
          database.db.transaction().execute(async (trx) => {
            await store.bind(trx).revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA });
            throw new Error('the call failed');
          }),
        ).rejects.toThrow('the call failed');
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-1' }))).toBe(false);
        expect(await store.list('acme')).toEqual([]);
      });

      it('onRevoke runs in the revocation’s transaction; when it throws, nothing is stored', async () => {
        const seen: Revocation[] = [];
        const { store } = await setup({
          onRevoke: (revocation) => {
            seen.push(revocation);
            if (revocation.value === 'sid-refused') throw new Error('not recorded');
          },
        });
        await store.revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA });
        await expect(store.revokeSession({ org: 'acme', session: 'sid-refused', ...BY_ANA })).rejects.toThrow('not recorded');
        expect(seen.map((r) => r.value)).toEqual(['sid-1', 'sid-refused']);
        expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-refused' }))).toBe(false);
        expect((await store.list('acme')).map((r) => r.value)).toEqual(['sid-1']);
      });

      it.each([
        ['an org that is not a tenant identifier', { org: 'acme/../globex' }],
        ['an empty org', { org: '' }],
        ['a workspace that is not one', { workspace: 'a b' }],
        ['a sid with a control character', { session: 'sid\nINFO forged' }],
        ['a sid with a lone surrogate', { session: 'sid-\ud800' }],
        ['an empty sid', { session: '' }],
        ['a sid longer than 255', { session: 'x'.repeat(256) }],
        ['a reason of two characters', { reason: ' ab ' }],
        ['a reason of 501 characters', { reason: 'x'.repeat(501) }],
        ['no revoker', { revokedBy: '' }],
      ])('refuses %s with a TypeError, storing nothing', async (_name, change) => {
        const { store } = await setup();
        const request = { org: 'acme', session: 'sid-1', ...BY_ANA, ...change } as Parameters<RevocationStore['revokeSession']>[0];
        await expect(store.revokeSession(request)).rejects.toThrow(TypeError);
        expect(await store.list('acme')).toEqual([]);
      });

      it('refuses a token revocation without a valid expiry', async () => {
        const { store } = await setup();
        await expect(store.revokeToken({ org: 'acme', tokenId: 'jti-1', expiresAt: new Date(Number.NaN), ...BY_ANA })).rejects.toThrow(TypeError);
        await expect(store.revokeToken({ org: 'acme', tokenId: 'jti-1', expiresAt: '2030-01-01' as unknown as Date, ...BY_ANA })).rejects.toThrow(TypeError);
      });
    });

    describe('on the audit ledger (recordRevocationsOn)', () => {
      it('a revocation in a ledger transaction commits with its entry; the log verifies', async () => {
        const { database } = await setup();
        const ledger = await createLedgerStore({ db: database.db, origin: ORIGIN, signer });
        try {
          const store = createRevocationStore({ db: database.db, onRevoke: recordRevocationsOn(ledger) });
          const revocation = await ledger.transact((tx) =>
            store.bind(tx.db).revokeToken({ org: 'acme', workspace: 'support', tokenId: 'jti-1', expiresAt: new Date(AT.getTime() + 60_000), revokedBy: 'operator:ana', reason: 'leaked in a ticket', requestId: 'req-7' }),
          );
          expect(await store.isRevoked(token({ org: 'acme', workspace: 'support' }, { tokenId: 'jti-1' }))).toBe(true);
          const stored = await ledger.readEntry((await ledger.size()) - 1);
          expect(stored.entry).toMatchObject({
            kind: 'event',
            action: 'sessions.revoke',
            actor: { subject: 'operator:ana', session: null },
            tenant: { org: 'acme', workspace: 'support' },
            resource: { type: 'token', id: 'jti-1' },
            requestId: 'req-7',
            data: { revocation: revocation.id, tokenExpiresAt: revocation.expiresAt },
          });
          // The free-text reason is not copied into the log.
          expect(new TextDecoder().decode(stored.bytes)).not.toContain('leaked in a ticket');
          expect(decodeEntry(stored.bytes).seq).toBe(stored.entry.seq);
          expect(await verifyLedger(database.db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey })).toMatchObject({ ok: true });
        } finally {
          await ledger.close();
        }
      });

      it('a revocation outside a ledger transaction is refused, and nothing is stored', async () => {
        const { database } = await setup();
        const ledger = await createLedgerStore({ db: database.db, origin: ORIGIN, signer });
        try {
          const store = createRevocationStore({ db: database.db, onRevoke: recordRevocationsOn(ledger) });
          await expect(store.revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA })).rejects.toThrow(/ledger transaction/);
          await expect(
            database.db.transaction().execute((trx: Kysely<any>) => store.bind(trx).revokeSession({ org: 'acme', session: 'sid-1', ...BY_ANA })),
          ).rejects.toThrow(/ledger transaction/);
          expect(await store.isRevoked(token({ org: 'acme' }, { session: 'sid-1' }))).toBe(false);
          expect(await ledger.size()).toBe(0);
        } finally {
          await ledger.close();
        }
      });
    });
  });
}
