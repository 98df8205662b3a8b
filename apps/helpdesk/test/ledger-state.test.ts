import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '@covenant/db';
import { createCheckpointSigner, verifyCheckpoint, verifyLedger } from '@covenant/ledger';
import { createTestIssuer, disableAppendOnly } from '@covenant/testkit';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { createService, type Service } from '../src/service.ts';

// The service keeps its ledger's highest signed head in a state file outside the database (issue 12): a log
// truncated at a batch boundary while the service was stopped — entries and checkpoints deleted together,
// which on its own verifies — is refused at the next start instead of being signed a second time at a size
// it already signed.

const SIGNER = createCheckpointSigner({ name: 'test.example/ledger-state', privateKey: new Uint8Array(32).fill(0x3c) });
const KEY = { name: SIGNER.name, publicKey: SIGNER.publicKey, origin: SIGNER.name };
const VERIFY = { origin: SIGNER.name, keyName: SIGNER.name, publicKey: SIGNER.publicKey };

const dirs: string[] = [];
const services: Service[] = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covenant-ledger-state-'));
  dirs.push(dir);
  return dir;
}

async function open(file: string, ledgerStateFile: string | undefined, logs: string[] = []): Promise<Service> {
  const issuer = await createTestIssuer();
  const service = await createService({
    identity: issuer.verifierOptions(),
    databaseUrl: file,
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    ledgerSigner: SIGNER,
    ...(ledgerStateFile !== undefined ? { ledgerStateFile } : {}),
  });
  services.push(service);
  return service;
}

/** Two bootstrap batches: checkpoints at the end of each. */
async function twoBatches(service: Service): Promise<void> {
  for (const org of ['org_one', 'org_two']) {
    await service.ledger.transact((tx) => service.rbac.bind(tx.db).bootstrapTenant('state-test', org, 'alice', 'first admin of the state test'));
  }
}

/** The attacker with the file: the tail (entries and checkpoints) deleted back to the first checkpoint. */
async function truncateToFirstCheckpoint(db: Kysely<any>): Promise<number> {
  // Triggers off, and back on after: the schema is intact, only the contents are cut.
  const restore = await disableAppendOnly(db);
  const first = (await db.selectFrom('ledger_checkpoints').select('size').orderBy('size').limit(1).executeTakeFirstOrThrow()).size as number;
  await db.deleteFrom('ledger_entries').where('seq', '>=', first).execute();
  await db.deleteFrom('ledger_checkpoints').where('size', '>', first).execute();
  await restore();
  return first;
}

describe('the ledger state file', () => {
  it('holds the signed head (mode 0600) and refuses a restart on a log truncated at a batch boundary', async () => {
    const dir = await folder();
    const file = join(dir, 'covenant.db');
    const stateFile = join(dir, 'ledger.key.state');
    const service = await open(file, stateFile);
    await twoBatches(service);
    const head = (await service.ledger.latestCheckpoint())!;
    expect(readFileSync(stateFile, 'utf8')).toBe(head.note);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    await services.pop()!.close();

    const db = createDatabase<any>({ url: file });
    try {
      const size = await truncateToFirstCheckpoint(db);
      expect(size).toBeLessThan(head.checkpoint.size);
      expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size });
    } finally {
      await db.destroy();
    }
    await expect(open(file, stateFile)).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_TRUNCATED' });
    // What the file still holds is the head the service signed, usable with `covenant ledger verify --trusted-checkpoint`.
    expect(verifyCheckpoint(readFileSync(stateFile, 'utf8'), KEY)).toMatchObject({ ok: true, checkpoint: { size: head.checkpoint.size } });
  });

  it('a first start without a state file trusts the log as found, says so, and records its head', async () => {
    const dir = await folder();
    const file = join(dir, 'covenant.db');
    await twoBatches(await open(file, undefined));
    await services.pop()!.close();
    const stateFile = join(dir, 'ledger.key.state');
    expect(existsSync(stateFile)).toBe(false);
    const logs: string[] = [];
    const service = await open(file, stateFile, logs);
    expect(readFileSync(stateFile, 'utf8')).toBe((await service.ledger.latestCheckpoint())!.note);
    expect(logs.some((line) => line.includes('no ledger state file: the log was trusted as found'))).toBe(true);
  });
});
