// `covenant sessions revoke --database postgres://…` on a throw-away schema. Runs when COVENANT_TEST_PG is
// set; otherwise postgresTestUrl() prints why it is skipped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createRevocationStore } from '@covenant/identity/revocation-store';
import { createLedgerStore, verifyLedger } from '@covenant/ledger';
import { createSignerKeyFile, readSignerKeyFile } from '@covenant/ledger/node';
import { postgresTestDatabase, postgresTestUrl, type PostgresTestDatabase } from '@covenant/testkit/postgres';
import { runInProcess } from './temp-project.ts';

const baseUrl = postgresTestUrl();
const ORIGIN = 'covenant.local/service';

describe.skipIf(baseUrl === undefined)('covenant sessions revoke on PostgreSQL', () => {
  let scratch: PostgresTestDatabase;
  let dir: string;
  let key: string;

  beforeAll(async () => {
    scratch = await postgresTestDatabase(baseUrl);
    dir = mkdtempSync(join(tmpdir(), 'covenant-sessions-pg-'));
    key = join(dir, 'ledger.key');
    createSignerKeyFile(key);
    // Migrated by the owner; the service and the operator's command use the serving role (ADR 0013).
    const owner = createDatabase<any>({ url: scratch.url });
    await migrateToLatest(owner).finally(() => owner.destroy());
    const db = createDatabase<any>({ url: scratch.servingUrl });
    try {
      const ledger = await createLedgerStore({ db, origin: ORIGIN, signer: readSignerKeyFile(key, ORIGIN) });
      await ledger.close();
    } finally {
      await db.destroy();
    }
  });
  afterAll(async () => {
    await scratch?.drop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("revokes a session in the org's tenant only and records it on the ledger", async () => {
    const result = await runInProcess(
      ['sessions', 'revoke', '--database', scratch.servingUrl, '--org', 'acme', '--session', 'sid-pg', '--reason', 'phone lost', '--operator', 'jane', '--ledger-key', key],
      dir,
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('acme: session sid-pg revoked');
    const db = createDatabase<any>({ url: scratch.servingUrl });
    try {
      const store = createRevocationStore({ db });
      const token = (org: string) => ({ issuer: 'i', subject: 's', session: 'sid-pg', tokenId: null, issuedAt: 0, tenant: { org, workspace: null } });
      expect(await store.isRevoked(token('acme'))).toBe(true);
      expect(await store.isRevoked(token('globex'))).toBe(false);
      const signer = readSignerKeyFile(key, ORIGIN);
      expect(await verifyLedger(db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey })).toMatchObject({ ok: true, size: 1 });
    } finally {
      await db.destroy();
    }
  });
});
