import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { canonicalRedactedInput } from '@covenant/contract';
import { ACTION_THREW_CODE, AuditUnavailableError, type ActionResult, type AuditIntent, type Denial, type DenialRecord } from '@covenant/core';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ABORTED_BY_CRASH, createLedgerAudit, type LedgerAudit, type LedgerAuditOptions } from '../src/audit/index.ts';
import {
  createLedgerStore,
  decodeEntry,
  encodeEntry,
  leafHash,
  verifyBundle,
  verifyCheckpoint,
  verifyConsistency,
  verifyLedger,
  type LedgerEntry,
  type LedgerStore,
  type LedgerTables,
  type CheckpointSigner,
} from '../src/index.ts';
import { disableAppendOnly, flakySigner } from '@covenant/testkit';
import { KEY, ORIGIN, VERIFY, createTempDatabases, signer } from './ledger-fixtures.ts';

const temp = createTempDatabases();
/** Ports opened by a test: closed after it (each holds its file's writer lock until then). */
const ports: LedgerAudit[] = [];
afterEach(async () => {
  for (const port of ports.splice(0)) await port.close();
  await temp.dispose();
});

/** createLedgerAudit, closed after the test. */
async function openAudit(options: LedgerAuditOptions): Promise<LedgerAudit> {
  const port = await createLedgerAudit(options);
  ports.push(port);
  return port;
}

interface Tables extends LedgerTables {
  notes: { id: number; text: string };
}

const DIGEST = `sha256:${'c3'.repeat(32)}`;
/** An input as the audit step hands it over: parsed, its classified fields already labels. */
const INPUT = Object.freeze({ title: 'Quarterly numbers', email: '[redacted:contact]' });

function intent(n: number, overrides: Partial<AuditIntent> = {}): AuditIntent {
  return {
    requestId: `req_${n}`,
    procedure: 'notes.add',
    kind: 'mutation',
    actor: { subject: 'user_1', session: 'sess_1' },
    tenant: { org: 'org_a', workspace: 'ws_1' },
    resource: { type: 'note', id: `note_${n}` },
    canonicalInput: canonicalRedactedInput(INPUT),
    at: new Date('2026-01-02T03:04:05.678Z'),
    ...overrides,
  };
}

async function setup(options: { readonly signer?: CheckpointSigner } = {}) {
  const url = temp.path();
  const db = (await temp.open(url)) as unknown as Kysely<Tables>;
  await db.schema
    .createTable('notes')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('text', 'text', (c) => c.notNull())
    .execute();
  const ledger = await createLedgerStore({ db, origin: ORIGIN, signer: options.signer ?? signer });
  const audit = await openAudit({ ledger, db });
  /** Another connection on the same file: sees only what is committed. */
  const second = async () => (await temp.open(url)) as unknown as Kysely<Tables>;
  return { db, ledger, audit, second };
}

/** The handler's write, through the database the audit port hands it. */
const write = (scope: { readonly db?: unknown }, id: number): Promise<unknown> =>
  (scope.db as Kysely<Tables>).insertInto('notes').values({ id, text: `note ${id}` }).execute();

async function noteIds(db: Kysely<Tables>): Promise<number[]> {
  return (await db.selectFrom('notes').select('id').orderBy('id').execute()).map((row) => row.id);
}

async function entries(db: Kysely<Tables>, requestId?: string): Promise<LedgerEntry[]> {
  let query = db.selectFrom('ledger_entries').select('body').orderBy('seq');
  if (requestId !== undefined) query = query.where('request_id', '=', requestId);
  return (await query.execute()).map((row) => decodeEntry(new Uint8Array(row.body)));
}

async function bodies(db: Kysely<Tables>): Promise<string> {
  return (await db.selectFrom('ledger_entries').select('body').execute()).map((row) => Buffer.from(row.body).toString('utf8')).join('\n');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const SUBJECT = {
  action: 'notes.add',
  actor: { subject: 'user_1', session: 'sess_1' },
  tenant: { org: 'org_a', workspace: 'ws_1' },
};

describe('createLedgerAudit: audited', () => {
  it('commits the intent before the action runs, then the ok outcome together with the writes', async () => {
    const { db, audit, second } = await setup();
    const otherDb = await second();
    const reader = await createLedgerStore({ db: otherDb, origin: ORIGIN });
    const seen: Record<string, unknown> = {};
    const result = { ok: true as const, code: null, data: { id: 1 } };
    const { result: returned } = await audit.audited(intent(1), async (scope) => {
      const tx = scope.db as Kysely<Tables>;
      // Through the action's own transaction: the intent is in the table.
      seen.inTx = (await tx.selectFrom('ledger_entries').select(['seq', 'kind']).where('request_id', '=', 'req_1').execute()).map((r) => [r.seq, r.kind]);
      // From another connection: it is committed, open, and covered by a signed checkpoint.
      const open = await reader.openIntents();
      seen.open = open.map((entry) => [entry.seq, entry.requestId]);
      seen.checkpointSize = (await reader.latestCheckpoint())?.checkpoint.size;
      seen.provable = verifyBundle(await reader.inclusionBundle(0), KEY, (await reader.readEntry(0)).bytes).ok;
      await write(scope, 1);
      // Not visible to others until the outcome commits with it.
      seen.othersSeeWrite = (await noteIds(otherDb)).length > 0;
      return result;
    });
    expect(returned).toBe(result);
    expect(seen).toEqual({ inTx: [[0, 'intent']], open: [[0, 'req_1']], checkpointSize: 1, provable: true, othersSeeWrite: false });
    expect(await noteIds(db)).toEqual([1]);
    const [intentEntry, outcomeEntry, ...rest] = await entries(db, 'req_1');
    expect(rest).toEqual([]);
    expect(intentEntry).toMatchObject({
      seq: 0,
      kind: 'intent',
      ...SUBJECT,
      resource: { type: 'note', id: 'note_1' },
      requestId: 'req_1',
      outcome: null,
      inputDigest: signer.digest(canonicalRedactedInput(INPUT)),
      data: { call: 'mutation' },
    });
    expect(outcomeEntry).toMatchObject({
      seq: 1,
      kind: 'outcome',
      ...SUBJECT,
      resource: { type: 'note', id: 'note_1' },
      requestId: 'req_1',
      outcome: 'ok',
      inputDigest: null,
      data: null,
    });
    expect(await reader.openIntents()).toEqual([]);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
  });

  it('records queries, anonymous callers and unresolved resources with nulls', async () => {
    const { db, audit } = await setup();
    await audit.audited(intent(2, { kind: 'query', actor: null, tenant: null, resource: { type: 'note', id: null } }), async () => ({ ok: true, code: null }));
    const [recorded, outcome] = await entries(db, 'req_2');
    expect(recorded).toMatchObject({ kind: 'intent', actor: null, tenant: null, resource: null, data: { call: 'query' } });
    expect(outcome).toMatchObject({ kind: 'outcome', outcome: 'ok', actor: null, tenant: null, resource: null });
  });

  describe('an action that returns { ok: false }', () => {
    // The pipeline gives the code (failureCodeOf of @covenant/server); the port records it as given.
    const cases: Array<[string, string]> = [
      ['a declared error', 'NOTE_LOCKED'],
      ['a security error', 'ERR_AUTHZ_DENIED'],
      ['an input validation failure', 'ERR_INPUT_INVALID'],
      ['a bug', 'ERR_INTERNAL'],
    ];

    it.each(cases)('(%s) rolls the writes back, records a failed outcome with its code, and returns the result as is', async (_name, code) => {
      const { db, audit } = await setup();
      // What else the result carries (the transport's error) is never read: only the flag and the code.
      const result = { ok: false as const, code, error: new Error('UNIQUE constraint failed: secret_table.value (locked)') };
      const { result: returned } = await audit.audited(intent(1), async (scope) => {
        await write(scope, 1);
        return result;
      });
      expect(returned).toBe(result);
      expect(await noteIds(db)).toEqual([]);
      const [, outcome, ...rest] = await entries(db, 'req_1');
      expect(rest).toEqual([]);
      expect(outcome).toMatchObject({ kind: 'outcome', outcome: 'failed', requestId: 'req_1', inputDigest: null, data: { code } });
      // Codes only: the error's message and cause stay out of the log.
      const text = await bodies(db);
      expect(text).not.toContain('constraint');
      expect(text).not.toContain('locked');
      expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 2, checkpoints: 2 });
    });
  });

  it('an action that throws: writes rolled back, a failed ERR_INTERNAL outcome, and the same error rethrown', async () => {
    const { db, audit } = await setup();
    const boom = new Error('handler crashed with secret s3cr3t');
    const error = await rejection(
      audit.audited(intent(1), async (scope) => {
        await write(scope, 1);
        throw boom;
      }),
    );
    expect(error).toBe(boom);
    expect(await noteIds(db)).toEqual([]);
    expect((await entries(db, 'req_1')).map((entry) => [entry.kind, entry.outcome, entry.data])).toEqual([
      ['intent', null, { call: 'mutation' }],
      ['outcome', 'failed', { code: 'ERR_INTERNAL' }],
    ]);
    expect(await bodies(db)).not.toContain('s3cr3t');
  });

  it('an action that throws records ACTION_THREW_CODE whatever it threw: a code on the error does not cross', async () => {
    const { db, audit } = await setup();
    const thrown = Object.assign(new Error('The note is locked'), { code: 'NOTE_LOCKED' });
    expect(
      await rejection(
        audit.audited(intent(1), async (scope) => {
          await write(scope, 1);
          throw thrown;
        }),
      ),
    ).toBe(thrown);
    expect(await noteIds(db)).toEqual([]);
    expect((await entries(db, 'req_1'))[1]).toMatchObject({ outcome: 'failed', data: { code: ACTION_THREW_CODE } });
  });

  it("an action that shadows the port's savepoint by name and returns { ok: false } keeps nothing: the whole call is 503 (found from our own re-read)", async () => {
    const { db, audit } = await setup();
    const error = await rejection(
      audit.audited(intent(1), async (scope) => {
        await write(scope, 1);
        for (let k = 0; k < 16; k += 1) await sql.raw(`savepoint covenant_sp_${k}`).execute(scope.db as Kysely<Tables>);
        return { ok: false, code: 'NOTE_LOCKED' };
      }),
    );
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect(await noteIds(db)).toEqual([]);
  });

  it('a result that is not exactly { ok: true, code: null } fails, and one without a string code is recorded as ACTION_THREW_CODE', async () => {
    const { db, audit } = await setup();
    const odd = [{ ok: 'yes', code: null }, { ok: false, code: 42 }, { ok: false }, null] as unknown as ActionResult[];
    for (const [i, result] of odd.entries()) {
      const { result: returned } = await audit.audited(intent(i), async (scope) => (await write(scope, i), result));
      expect(returned).toBe(result);
      expect((await entries(db, `req_${i}`))[1]).toMatchObject({ outcome: 'failed', data: { code: ACTION_THREW_CODE } });
    }
    expect(await noteIds(db)).toEqual([]);
  });

  describe('when the intent cannot be made durable it fails closed (AuditUnavailableError) and never calls the action', () => {
    it('a database that refuses ledger inserts', async () => {
      const { db, audit } = await setup();
      await sql`create trigger no_entries before insert on ledger_entries begin select raise(abort, 'disk full'); end`.execute(db);
      let called = false;
      const error = await rejection(
        audit.audited(intent(1), async () => {
          called = true;
          return { ok: true, code: null };
        }),
      );
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect(error).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', status: 503 });
      expect(String((error as Error).cause)).toMatch(/disk full/);
      expect(called).toBe(false);
      expect(await entries(db)).toEqual([]);
    });

    it('a closed store', async () => {
      const { db, ledger, audit } = await setup();
      await ledger.close();
      let called = false;
      const error = await rejection(
        audit.audited(intent(1), async () => {
          called = true;
          return { ok: true, code: null };
        }),
      );
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect((error as Error).cause).toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
      expect(called).toBe(false);
      expect(await entries(db)).toEqual([]);
    });

    it('a read-only store (no signer)', async () => {
      const { db, audit: writer } = await setup();
      await writer.close();
      const audit = await openAudit({ ledger: await createLedgerStore({ db, origin: ORIGIN }), db });
      let called = false;
      const error = await rejection(
        audit.audited(intent(1), async () => {
          called = true;
          return { ok: true, code: null };
        }),
      );
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect((error as Error).cause).toMatchObject({ code: 'ERR_LEDGER_LOG_READ_ONLY' });
      expect(called).toBe(false);
    });

  });

  it('intent committed but the outcome batch cannot commit: AuditUnavailableError, no write survives, the failure is logged', async () => {
    const flaky = flakySigner(signer);
    const { db, audit } = await setup({ signer: flaky });
    let called = 0;
    const error = await rejection(
      audit.audited(intent(1), async (scope) => {
        called += 1;
        await write(scope, 1);
        // The batch's checkpoint cannot be signed (the key's HSM goes away for a moment): the batch, this
        // write with it, rolls back. (Not a row in its way: the database refuses a checkpoint that does not
        // cover the log; not an extra trigger: the store refuses to sign over a schema it did not create.)
        flaky.failNext();
        return { ok: true, code: null };
      }),
    );
    expect(called).toBe(1);
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect(String((error as Error).cause)).toMatch(/HSM unavailable/);
    expect(await noteIds(db)).toEqual([]);
    // No ok outcome: the port logged that the call failed for want of the audit.
    expect((await entries(db, 'req_1')).map((entry) => [entry.kind, entry.outcome, entry.data])).toEqual([
      ['intent', null, { call: 'mutation' }],
      ['outcome', 'failed', { code: 'ERR_AUDIT_UNAVAILABLE' }],
    ]);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true, size: 2 });
  });

  it('outcome entries refused by the database: AuditUnavailableError, writes gone, the intent stays open until recovery', async () => {
    // From the action on, no batch can commit (a unit may not set PRAGMA query_only any more, so the signer
    // refuses instead): the outcome batch fails, and so does the failed outcome the port tries next.
    const refusing = { on: false };
    const { db, ledger, audit } = await setup({
      signer: Object.freeze({
        ...signer,
        sign: (checkpoint: Parameters<CheckpointSigner['sign']>[0]) => {
          if (refusing.on) throw new Error('the store refuses to commit (readonly database)');
          return signer.sign(checkpoint);
        },
      }),
    });
    let called = false;
    const error = await rejection(
      audit.audited(intent(1), async (scope) => {
        called = true;
        await write(scope, 1);
        refusing.on = true;
        return { ok: true, code: null };
      }),
    );
    expect(called).toBe(true);
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect(String((error as Error).cause)).toMatch(/readonly database/);
    expect(await noteIds(db)).toEqual([]);
    expect((await ledger.openIntents()).map((entry) => entry.requestId)).toEqual(['req_1']);
    refusing.on = false;
    await audit.close();
    const restarted = await openAudit({ ledger, db });
    expect(restarted.recovered).toEqual(['req_1']);
    expect((await entries(db, 'req_1')).map((entry) => entry.outcome)).toEqual([null, 'aborted']);
  });
});

describe('createLedgerAudit: start-up recovery', () => {
  it('closes intents left without an outcome as aborted, once', async () => {
    const { db, ledger, audit } = await setup();
    await audit.close();
    const intentEntry = (n: number) => ({
      kind: 'intent' as const,
      ...SUBJECT,
      resource: n === 2 ? null : { type: 'note', id: `note_${n}` },
      requestId: `crash_${n}`,
      outcome: null,
      inputDigest: DIGEST,
      data: { call: 'mutation' },
    });
    await ledger.append([intentEntry(1), intentEntry(2), intentEntry(3)]);
    await ledger.append([{ ...intentEntry(2), kind: 'outcome', outcome: 'ok', inputDigest: null, data: null }, intentEntry(4)]);

    const first = await openAudit({ ledger, db });
    expect(first.recovered).toEqual(['crash_1', 'crash_3', 'crash_4']);
    for (const n of [1, 3, 4]) {
      const outcomes = (await entries(db, `crash_${n}`)).filter((entry) => entry.kind === 'outcome');
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0]).toMatchObject({
        ...SUBJECT,
        resource: { type: 'note', id: `note_${n}` },
        requestId: `crash_${n}`,
        outcome: 'aborted',
        inputDigest: null,
        data: { code: ABORTED_BY_CRASH },
      });
    }
    expect(ABORTED_BY_CRASH).toBe('ERR_PROCESS_ENDED');
    // The intent that had an outcome is left alone.
    expect((await entries(db, 'crash_2')).map((entry) => entry.outcome)).toEqual([null, 'ok']);
    expect(await ledger.openIntents()).toEqual([]);

    await first.close();
    const second = await openAudit({ ledger, db });
    expect(second.recovered).toEqual([]);
    await second.close();
    const third = await openAudit({ ledger, db });
    expect(third.recovered).toEqual([]);
    expect(Object.isFrozen(third.recovered)).toBe(true);
    expect(await ledger.size()).toBe(8);
    expect(await verifyLedger(db, VERIFY)).toEqual({ ok: true, size: 8, checkpoints: 3 });
  });

  it('recovers nothing on an empty log and refuses something that is not a ledger store, or no database', async () => {
    const { db, ledger, audit } = await setup();
    expect(audit.recovered).toEqual([]);
    expect(await ledger.size()).toBe(0);
    await expect(createLedgerAudit({ ledger: {} as LedgerStore, db })).rejects.toBeInstanceOf(TypeError);
    await expect(createLedgerAudit({ ledger } as never)).rejects.toThrow(/"db"/);
    await expect(createLedgerAudit(undefined as never)).rejects.toBeInstanceOf(TypeError);
  });

  // Regression: an intent without a request id could never be closed, so every start-up "recovered" it again.
  it('an intent or outcome without a request id is refused at append, so recovery never meets one', async () => {
    const { db, ledger, audit } = await setup();
    await audit.close();
    const base = { action: 'notes.add', actor: null, tenant: null, resource: null, requestId: null, inputDigest: null, data: null } as const;
    await expect(ledger.append([{ ...base, kind: 'intent', outcome: null }])).rejects.toThrow(/requestId is required for an intent entry/);
    await expect(ledger.append([{ ...base, kind: 'outcome', outcome: 'aborted' }])).rejects.toThrow(/requestId is required for an outcome entry/);
    await expect(ledger.append([{ ...base, kind: 'event', outcome: null }])).resolves.toEqual([0]);
    expect((await openAudit({ ledger, db })).recovered).toEqual([]);
    expect(await ledger.size()).toBe(1);
  });
});

describe('createLedgerAudit: receipts', () => {
  it('every audited call resolves with its receipt: the seqs of its intent and outcome and the signed checkpoint covering both', async () => {
    const { db, ledger, audit } = await setup();
    const ok = await audit.audited(intent(1), async (scope) => (await write(scope, 1), { ok: true, code: null }));
    const failed = await audit.audited(intent(2), async () => ({ ok: false, code: 'NOTE_LOCKED' }));
    for (const [{ receipt }, requestId, outcome] of [[ok, 'req_1', 'ok'], [failed, 'req_2', 'failed']] as const) {
      expect(receipt).not.toBeNull();
      const { intentSeq, outcomeSeq, checkpoint } = receipt!;
      expect((await ledger.readEntry(intentSeq)).entry).toMatchObject({ kind: 'intent', requestId });
      expect((await ledger.readEntry(outcomeSeq)).entry).toMatchObject({ kind: 'outcome', requestId, outcome });
      // The checkpoint of the outcome's batch, as stored, signed with the log's key, covering both entries.
      const verified = verifyCheckpoint(checkpoint.note, KEY);
      expect(verified).toMatchObject({ ok: true, checkpoint: { size: checkpoint.size } });
      expect(verified.ok && Buffer.from(verified.checkpoint.root).toString('base64')).toBe(checkpoint.root);
      expect(checkpoint.size).toBeGreaterThan(outcomeSeq);
      expect(outcomeSeq).toBeGreaterThan(intentSeq);
      const row = await db.selectFrom('ledger_checkpoints').select('note').where('size', '=', checkpoint.size).executeTakeFirstOrThrow();
      expect(row.note).toBe(checkpoint.note);
    }
    // A client holds the log to it: every later head is consistent with the receipt's checkpoint.
    const head = (await ledger.latestCheckpoint())!;
    const first = ok.receipt!.checkpoint;
    const proof = await ledger.consistencyProof(first.size, head.checkpoint.size);
    expect(verifyConsistency({ size1: first.size, size2: head.checkpoint.size, root1: Buffer.from(first.root, 'base64'), root2: head.checkpoint.root, proof }).ok).toBe(true);
    expect(Object.isFrozen(ok.receipt)).toBe(true);
  });
});

describe('createLedgerAudit: rows it did not write', () => {
  it('a canonical, correctly hashed row inserted from another connection while the port runs: the next audited call is 503 and its action never runs', async () => {
    for (const row of ['canonical', 'garbage'] as const) {
      const { db, audit, second } = await setup();
      await audit.audited(intent(1), async () => ({ ok: true, code: null }));
      const at = (await entries(db))[0]!.at;
      const body =
        row === 'canonical'
          ? encodeEntry({ v: 1, seq: 2, at, kind: 'event', ...SUBJECT, action: 'access.breakGlass.approved', resource: null, requestId: null, outcome: null, inputDigest: null, data: null })
          : new TextEncoder().encode('garbage');
      await (await second()).insertInto('ledger_entries').values({ seq: 2, body, leaf_hash: leafHash(body), kind: 'event', request_id: null, at }).execute();
      let ran = false;
      const error = await rejection(audit.audited(intent(2), async () => ((ran = true), { ok: true, code: null })));
      expect(error).toBeInstanceOf(AuditUnavailableError);
      expect((error as Error).cause).toMatchObject({ code: row === 'canonical' ? 'ERR_LEDGER_LOG_UNSEALED' : 'ERR_LEDGER_LOG_ENTRY_MALFORMED' });
      expect(ran).toBe(false);
      // Nothing was signed over the row: the log's head is still the one before it.
      expect((await db.selectFrom('ledger_checkpoints').select('size').orderBy('size', 'desc').executeTakeFirstOrThrow()).size).toBe(2);
    }
  });
});

describe('createLedgerAudit: recovery reads the hashed bodies, not the unhashed columns', () => {
  it("an ok outcome whose kind column was flipped does not make recovery abort the finished call; an intent whose kind column was hidden is still closed", async () => {
    const { db, ledger, audit } = await setup();
    await audit.audited(intent(1), async () => ({ ok: true, code: null }));
    // A call cut off by a crash: its intent only.
    await ledger.append([{ kind: 'intent', ...SUBJECT, resource: null, requestId: 'req_cut', outcome: null, inputDigest: DIGEST, data: { call: 'mutation' } }]);
    await audit.recordDenial({
      requestId: 'req_denied',
      procedure: 'notes.add',
      actor: SUBJECT.actor,
      tenant: SUBJECT.tenant,
      decision: { allowed: false, code: 'authz.missing_capability', capability: 'notes.write', resource: null },
      at: new Date(),
    });
    await audit.close();
    // Triggers off and back on: only the unhashed columns differ from the bodies.
    const restore = await disableAppendOnly(db);
    await sql`update ledger_entries set kind = 'event' where request_id = 'req_1' and kind = 'outcome'`.execute(db);
    await sql`update ledger_entries set kind = 'event' where request_id = 'req_cut'`.execute(db);
    await restore();
    // The running store took both rows in when they were written: recovery decides from what it verified.
    const restarted = await openAudit({ ledger, db });
    expect(restarted.recovered).toEqual(['req_cut']);
    const outcomes = (await entries(db)).filter((entry) => entry.kind === 'outcome');
    expect(outcomes.map((entry) => [entry.requestId, entry.outcome])).toEqual([
      ['req_1', 'ok'],
      ['req_cut', 'aborted'],
    ]);
    // A store opened anew refuses the log outright: its columns no longer say what its bodies say.
    await restarted.close();
    await expect(createLedgerStore({ db, origin: ORIGIN, signer })).rejects.toMatchObject({ code: 'ERR_LEDGER_LOG_INDEX_MISMATCH' });
  });
});

describe('createLedgerAudit: one writer per SQLite file', () => {
  it('a second port on the same file is refused (ERR_LEDGER_WRITER_BUSY) while the first lives, and its recovery never runs; after close() it opens', async () => {
    const { db, ledger, audit, second } = await setup();
    const running = audit.audited(intent(1), async () => ({ ok: true, code: null }));
    const otherDb = await second();
    const other = await createLedgerStore({ db: otherDb, origin: ORIGIN, signer });
    await expect(createLedgerAudit({ ledger: other, db: otherDb })).rejects.toMatchObject({ name: 'WriterBusyError', code: 'ERR_LEDGER_WRITER_BUSY' });
    await running;
    expect((await entries(db, 'req_1')).map((entry) => entry.outcome)).toEqual([null, 'ok']);
    await audit.close();
    await ledger.flush();
    expect((await openAudit({ ledger: other, db: otherDb })).recovered).toEqual([]);
  });

  it("a second writer that got in anyway (its lock file deleted) and closed an in-flight intent as aborted: the first writer's outcome is refused, its writes roll back, one outcome on the log", async () => {
    const { db, ledger, second } = await setup();
    await ports.pop()!.close(); // the setup's port: this test opens its own over a store that lets the race happen
    let race: (() => Promise<void>) | null = null;
    // The first writer's store, but before the outcome's batch runs, the second writer starts up.
    const racing = Object.freeze({
      ...ledger,
      transact: async <T>(work: Parameters<typeof ledger.transact<T>>[0]): Promise<T> => {
        const run = race;
        race = null;
        await run?.();
        return ledger.transact(work);
      },
    });
    const first = await openAudit({ ledger: racing, db });
    const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(db)).rows[0]!.file;
    let recovered: ReadonlyArray<string> = [];
    race = async () => {
      rmSync(`${file}-writer`); // what the attacker did: the lock file is gone, so the next one locks a new file
      const otherDb = await second();
      const other = await createLedgerStore({ db: otherDb, origin: ORIGIN, signer });
      recovered = (await openAudit({ ledger: other, db: otherDb })).recovered;
    };
    const error = await rejection(first.audited(intent(1), async (scope) => {
      await write(scope, 1);
      return { ok: true, code: null };
    }));
    expect(recovered).toEqual(['req_1']);
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect((error as Error).cause).toMatchObject({ code: 'ERR_LEDGER_INTENT_CLOSED' });
    expect(await noteIds(db)).toEqual([]);
    expect((await entries(db, 'req_1')).map((entry) => [entry.kind, entry.outcome])).toEqual([
      ['intent', null],
      ['outcome', 'aborted'],
    ]);
    expect(await verifyLedger(db, VERIFY)).toMatchObject({ ok: true });
  });
});

describe('createLedgerAudit: recordDenial', () => {
  const denial = (decision: Denial): DenialRecord => ({
    requestId: 'req_9',
    procedure: 'notes.delete',
    actor: { subject: 'user_2', session: null },
    tenant: { org: 'org_b', workspace: null },
    decision,
    at: new Date('2026-01-02T03:04:05.678Z'),
  });

  it.each<[string, Denial['resource'], LedgerEntry['resource'], string | null]>([
    ['a resource type without id', { type: 'note', id: null }, null, 'note'],
    ['an exact resource', { type: 'note', id: 'note_7' }, { type: 'note', id: 'note_7' }, 'note'],
    ['no resource', null, null, null],
  ])('writes a denial entry (%s)', async (_name, resource, recorded, resourceType) => {
    const { db, ledger, audit } = await setup();
    await audit.recordDenial(denial({ allowed: false, code: 'authz.missing_capability', capability: 'notes.delete', resource }));
    const [entry, ...rest] = await entries(db);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      kind: 'denial',
      action: 'notes.delete',
      actor: { subject: 'user_2', session: null },
      tenant: { org: 'org_b', workspace: null },
      resource: recorded,
      requestId: 'req_9',
      outcome: null,
      inputDigest: null,
      data: { code: 'authz.missing_capability', capability: 'notes.delete', resourceType },
    });
    // A denial is not an open call.
    expect(await ledger.openIntents()).toEqual([]);
    expect((await ledger.latestCheckpoint())?.checkpoint.size).toBe(1);
  });
});

describe('createLedgerAudit: group commit', () => {
  it('100 concurrent audited calls: every write, intent and ok outcome, in far fewer checkpoints than 200', async () => {
    const { db, audit } = await setup();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        audit.audited(intent(i), async (scope) => {
          await write(scope, i);
          return { ok: true, code: null, id: i } satisfies ActionResult & { id: number };
        }),
      ),
    );
    expect(results.map(({ result }) => result.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await noteIds(db)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const all = await entries(db);
    expect(all.filter((entry) => entry.kind === 'intent')).toHaveLength(100);
    const outcomes = all.filter((entry) => entry.kind === 'outcome');
    expect(outcomes).toHaveLength(100);
    expect(outcomes.every((entry) => entry.outcome === 'ok' && entry.data === null)).toBe(true);
    expect(new Set(outcomes.map((entry) => entry.requestId)).size).toBe(100);
    const checkpoints = (await db.selectFrom('ledger_checkpoints').select('size').execute()).length;
    // Intents of one tick share one batch, their actions the next: 2 checkpoints observed.
    expect(checkpoints).toBeLessThanOrEqual(4);
    expect(await verifyLedger(db, { origin: ORIGIN, keyName: ORIGIN, publicKey: signer.publicKey })).toEqual({ ok: true, size: 200, checkpoints });
  });
});

describe('createLedgerAudit: no raw input, and no digest a guess can confirm', () => {
  it("records the input only as its keyed digest: none of its text, and not the SHA-256 a guesser would compute", async () => {
    const { db, audit } = await setup();
    await audit.audited(intent(1), async (scope) => {
      await write(scope, 1);
      return { ok: true, code: null };
    });
    const recorded = await entries(db, 'req_1');
    const canonical = canonicalRedactedInput(INPUT);
    expect(recorded[0]?.inputDigest).toBe(signer.digest(canonical));
    expect(recorded[0]?.inputDigest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    // Issue 12 §5: an unkeyed digest let anyone holding the log confirm a guessed input by hashing it.
    expect(recorded[0]?.inputDigest).not.toContain(createHash('sha256').update(canonical).digest('hex'));
    expect(recorded[1]?.inputDigest).toBeNull();
    const text = await bodies(db);
    expect(text).not.toContain('Quarterly');
  });
});

describe('what the PostgreSQL fence relies on (createFence: one writer-lock check per batch)', () => {
  it('tx.batch is one identity for every unit of a batch (ok or failed) and another for the next batch', async () => {
    const { ledger } = await setup();
    const batches = new Map<string, object>();
    const unit = (name: string, work: () => Promise<unknown> = async () => undefined): Promise<unknown> =>
      ledger
        .transact(async (tx) => {
          batches.set(name, tx.batch);
          tx.append([]);
          return work();
        })
        .catch(() => undefined);
    const later: Array<Promise<unknown>> = [];
    await Promise.all([
      unit('a1', async () => {
        // Queued while batch 1 runs: these go to the next batch.
        later.push(unit('b1'), unit('b2', async () => Promise.reject(new Error('b2 fails'))));
      }),
      unit('a2', async () => Promise.reject(new Error('a2 fails'))),
      unit('a3'),
    ]);
    await Promise.all(later);
    const [a1, a2, a3, b1, b2] = ['a1', 'a2', 'a3', 'b1', 'b2'].map((name) => batches.get(name));
    expect(a1).toBeDefined();
    expect(a2).toBe(a1);
    expect(a3).toBe(a1);
    expect(b1).toBeDefined();
    expect(b1).not.toBe(a1);
    expect(b2).toBe(b1);
    expect(Object.isFrozen(a1)).toBe(true);
  });
});
