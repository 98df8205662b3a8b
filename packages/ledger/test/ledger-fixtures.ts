import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createCheckpointSigner, type LedgerTables, type NewEntry } from '../src/index.ts';

export const ORIGIN = 'audit.example/test';
/** A fixed test key (never a real one): 32 bytes 0x07. */
export const SEED = new Uint8Array(32).fill(7);
export const signer = createCheckpointSigner({ name: ORIGIN, privateKey: SEED });
export const KEY = { name: ORIGIN, publicKey: signer.publicKey, origin: ORIGIN };
export const VERIFY = { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey };
export const fixedClock = { now: () => new Date('2026-01-02T03:04:05.678Z') };

/** An entry as the pipeline would write it; `n` varies the request id. */
export function sample(n: number, overrides: Partial<NewEntry> = {}): NewEntry {
  return {
    kind: 'intent',
    action: 'orders.place',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: null },
    resource: { type: 'order', id: `ord_${n}` },
    requestId: `req_${n}`,
    outcome: null,
    inputDigest: `sha256:${'ab'.repeat(32)}`,
    data: null,
    ...overrides,
  };
}

/** Temporary SQLite files, migrated, closed and removed by `dispose()`. */
export function createTempDatabases() {
  const dirs: string[] = [];
  const dbs: Kysely<any>[] = [];
  return {
    path(): string {
      const dir = mkdtempSync(join(tmpdir(), 'covenant-ledger-'));
      dirs.push(dir);
      return join(dir, 'ledger.db');
    },
    async open(url?: string): Promise<Kysely<LedgerTables>> {
      const db = createDatabase<LedgerTables>({ url: url ?? this.path() });
      dbs.push(db);
      await migrateToLatest(db);
      return db;
    },
    async dispose(): Promise<void> {
      await Promise.all(dbs.splice(0).map((db) => db.destroy()));
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
