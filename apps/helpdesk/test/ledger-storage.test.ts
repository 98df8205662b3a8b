// Issue 12 §4 on the helpdesk as `npm start` runs it (SQLite): the application's database file can lose the
// ledger's append-only triggers to any connection. The service then refuses every audited call (503, the
// code in the log), signs nothing further, and refuses to start again on that file (ADR 0013).
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SchemaAlteredError, createDatabase } from '@covenant/db';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createService } from '../src/service.ts';
import { TEST_LEDGER_SIGNER, startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { expectRefused } from './refusals.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function started(): Promise<{ helpdesk: Helpdesk; other: Kysely<any> }> {
  const helpdesk = await startHelpdesk();
  cleanups.push(() => helpdesk.close());
  // The attacker's connection: anyone who can open the file (another process, the application's own code).
  const other = createDatabase<any>({ url: helpdesk.databaseFile });
  cleanups.push(() => other.destroy());
  return { helpdesk, other };
}

async function stored(db: Kysely<any>): Promise<{ entries: number; checkpoints: number }> {
  const entries = (await db.selectFrom('ledger_entries').select('seq').execute()).length;
  const checkpoints = (await db.selectFrom('ledger_checkpoints').select('size').execute()).length;
  return { entries, checkpoints };
}

describe('the helpdesk refuses to serve over a ledger whose triggers were taken away (SQLite)', () => {
  it('a trigger dropped while it runs: every audited call is 503 ERR_AUDIT_UNAVAILABLE, the error log names SchemaAlteredError and what differs, ledger writes reject with ERR_DB_SCHEMA_ALTERED, nothing more is signed', async () => {
    const { helpdesk, other } = await started();
    const ann = await helpdesk.as('ann');
    const customer = await ann.customers.create.mutate({ name: 'Before', email: 'before@example.com' });
    await helpdesk.service.ledger.flush();
    await sql`drop trigger ledger_entries_no_delete`.execute(other);
    const before = await stored(other);

    const refused = await expectRefused(ann.tickets.create.mutate({ customer: { id: customer.id }, subject: 'After', body: 'x' }), 503, 'ERR_AUDIT_UNAVAILABLE');
    await expectRefused(ann.customers.create.mutate({ name: 'Later', email: 'later@example.com' }), 503, 'ERR_AUDIT_UNAVAILABLE');
    // Even with the trigger put back, the running service signs nothing more (fail-stop until restarted).
    await sql`create trigger ledger_entries_no_delete before delete on ledger_entries begin select raise(abort, 'ledger_entries is append-only'); end`.execute(other);
    await expectRefused(ann.customers.create.mutate({ name: 'Even later', email: 'even-later@example.com' }), 503, 'ERR_AUDIT_UNAVAILABLE');

    expect(await stored(other)).toEqual(before);
    // Loudly: an error line for the call, with the store's refusal as its cause, naming what differs…
    const failure = helpdesk.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry['requestId'] === refused.requestId && entry['msg'] === 'call failed');
    expect(failure).toMatchObject({ level: 50, code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(JSON.stringify(failure)).toContain('SchemaAlteredError');
    expect(JSON.stringify(failure)).toContain('trigger ledger_entries_no_delete missing');
    // …and with its code, to whoever writes to the ledger in-process (an RBAC change, the CLI).
    await expect(helpdesk.service.ledger.append([])).resolves.toEqual([]);
    await expect(
      helpdesk.service.ledger.transact(async () => undefined),
    ).rejects.toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED', differences: [{ type: 'trigger', name: 'ledger_entries_no_delete', problem: 'missing' }] });
    expect(await other.selectFrom('helpdesk_tickets').select('subject').where('subject', '=', 'After').execute()).toEqual([]);
  });

  it('a file whose triggers were altered before start-up: the service refuses to start (SchemaAlteredError)', async () => {
    const helpdesk = await startHelpdesk();
    // The service stops; its data folder stays (Helpdesk.close would remove it).
    await helpdesk.service.close();
    cleanups.push(() => rm(dirname(helpdesk.databaseFile), { recursive: true, force: true }));
    const other = createDatabase<any>({ url: helpdesk.databaseFile });
    cleanups.push(() => other.destroy());
    await sql`drop trigger ledger_checkpoints_no_update`.execute(other);
    await sql`create trigger ledger_checkpoints_no_update before update on ledger_checkpoints begin select 1; end`.execute(other);
    const error = await createService({
      identity: helpdesk.identity.verifierOptions,
      databaseUrl: helpdesk.databaseFile,
      logger: pino({ level: 'silent' }),
      ledgerSigner: TEST_LEDGER_SIGNER,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaAlteredError);
    expect(error).toMatchObject({ code: 'ERR_DB_SCHEMA_ALTERED', differences: [{ type: 'trigger', name: 'ledger_checkpoints_no_update', problem: 'altered' }] });
  });
});
