import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isCovenantError } from '@covenant/client';
import { createDatabase, migrateToLatest } from '@covenant/db';
import { createTokenVerifier, type TokenVerifier } from '@covenant/identity';
import {
  LedgerWorkTimeoutError,
  createCheckpointSigner,
  createLedgerStore,
  decodeEntry,
  verifyBundle,
  verifyCheckpoint,
  verifyConsistency,
  verifyLedger,
  type LedgerEntry,
  type LedgerStore,
  type LedgerTables,
} from '@covenant/ledger';
import { createLedgerAudit, type LedgerAudit } from '@covenant/ledger/audit';
import { type AuditReceipt } from '@covenant/core';
import { createCovenantRuntime, createHttpServer, type CovenantRuntime, type Handler } from '@covenant/server';
import { createStaticAuthorization, createTestIssuer, type StaticGrants, type TestIssuer } from '@covenant/testkit';
import { sql, type Kysely } from 'kysely';
import { pino } from 'pino';
import type { tickets } from './fixtures/contracts/tickets.contract.ts';
import { createClient } from './fixtures/generated/client.ts';
import type { Handlers } from './fixtures/generated/handlers.ts';
import { createRouter } from './fixtures/generated/router.ts';
import { rawCall } from './harness.ts';

// The generated fixture pipeline (tickets router) with the REAL ledger audit port on a temp SQLite file,
// over real HTTP. Handlers keep tickets in a table of their own, written through `ctx.db`: for the audited
// `tickets.create` that is the ledger's batch transaction, so a ticket commits with its ok outcome or not
// at all; for queries it is the runtime's `database`.

interface TicketRow {
  id: string;
  org: string;
  title: string;
  requester_email: string;
  request_id: string;
}
type Tables = LedgerTables & { fixture_tickets: TicketRow };

const SIGNER = createCheckpointSigner({ name: 'test.example/ledger-pipeline', privateKey: new Uint8Array(32).fill(11) });
const ORIGIN = SIGNER.name;
/** Small, so that the stalled-handler test is quick; ordinary units take a few milliseconds. */
const WORK_TIMEOUT_MS = 250;

const GRANTS: StaticGrants = {
  'org_a/alice': ['tickets.read', 'tickets.write'],
  'org_a/carol': ['tickets.read'],
  'org_b/mallory': ['tickets.read', 'tickets.write'],
};
const alice = { sub: 'alice', org: 'org_a', sid: 'sess-alice' };
const carol = { sub: 'carol', org: 'org_a' };
const mallory = { sub: 'mallory', org: 'org_b' };

let dir: string;
let file: string;
/** The runtime's `database`, and the ledger store's. */
let db: Kysely<Tables>;
/** A second connection on the same file: what it sees is committed. */
let reader: Kysely<Tables>;
let ledger: LedgerStore;
let audit: LedgerAudit;
let issuer: TestIssuer;
let verifier: TokenVerifier;
let runtime: CovenantRuntime;
let server: Server;
let router: ReturnType<typeof createRouter>;
let url: string;
const logs: string[] = [];

/** Handler calls by procedure name: proves a handler did (not) run. */
const calls: Record<string, number> = {};
/** What each create handler saw: its request id and which database `ctx.db` was. */
const seen: Array<{ requestId: string; runtimeDb: boolean; ledgerTx: boolean }> = [];
/** What each list handler got as `ctx.db`, or the error reading it threw. */
const listDbs: Array<{ db: unknown } | { error: unknown }> = [];
const overrides: Partial<Record<keyof Handlers['tickets'], unknown>> = {};

/** `ctx.db` as this test's tables (the fixture registers no database type; the service's Register may leak in). */
function dbOf(ctx: { readonly db: unknown }): Kysely<Tables> {
  return ctx.db as Kysely<Tables>;
}

function pick<K extends keyof Handlers['tickets']>(name: K, fallback: Handlers['tickets'][K]): Handlers['tickets'][K] {
  return ((args: never) => {
    calls[name] = (calls[name] ?? 0) + 1;
    const handler = (overrides[name] ?? fallback) as (args: never) => unknown;
    return handler(args);
  }) as Handlers['tickets'][K];
}

function override<K extends keyof Handlers['tickets']>(name: K, handler: Handlers['tickets'][K]): void {
  overrides[name] = handler;
}

function toTicket(row: TicketRow) {
  return { id: row.id, title: row.title, requesterEmail: row.requester_email, org: row.org };
}

async function insertTicket(tx: Kysely<Tables>, requestId: string, org: string, title: string, email: string) {
  const row: TicketRow = { id: randomUUID(), org, title, requester_email: email, request_id: requestId };
  await tx.insertInto('fixture_tickets').values(row).execute();
  return toTicket(row);
}

const create: Handler<typeof tickets.create> = async ({ input, ctx }) => {
  seen.push({ requestId: ctx.requestId, runtimeDb: ctx.db === db, ledgerTx: ledger.transactionOf(ctx.db) !== null });
  const tx = dbOf(ctx);
  const existing = await tx
    .selectFrom('fixture_tickets')
    .select('id')
    .where('org', '=', ctx.tenant.org)
    .where('title', '=', input.title)
    .executeTakeFirst();
  if (existing !== undefined) ctx.fail('DUPLICATE_TITLE');
  return insertTicket(tx, ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
};

const handlers: Handlers = {
  tickets: {
    admin: { purge: () => ({ removed: 0 }) },
    create: pick('create', create),
    get: pick('get', async ({ input, ctx }) => {
      const row = await dbOf(ctx)
        .selectFrom('fixture_tickets')
        .selectAll()
        .where('id', '=', input.ticketId)
        .where('org', '=', ctx.tenant.org)
        .executeTakeFirst();
      return row === undefined ? ctx.fail('TICKET_NOT_FOUND') : toTicket(row);
    }),
    list: pick('list', async ({ input, ctx }) => {
      let handle: Kysely<Tables>;
      try {
        handle = dbOf(ctx);
      } catch (error) {
        listDbs.push({ error });
        throw error;
      }
      listDbs.push({ db: handle });
      const rows = await handle
        .selectFrom('fixture_tickets')
        .selectAll()
        .where('org', '=', ctx.tenant.org)
        .orderBy('title')
        .limit(input.limit)
        .execute();
      return { items: rows.map(toTicket) };
    }),
    mine: pick('mine', ({ ctx }) => ({ subject: ctx.principal.subject, org: ctx.tenant.org })),
    status: pick('status', () => ({ open: true })),
  },
};

async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function close(s: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => s.close((error) => (error ? reject(error) : resolve())));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covenant-ledger-pipeline-'));
  file = join(dir, 'covenant.db');
  db = createDatabase<Tables>({ url: file });
  await migrateToLatest(db);
  await sql`
    create table fixture_tickets (
      id text primary key,
      org text not null,
      title text not null check (length(title) <= 100),
      requester_email text not null,
      request_id text not null,
      unique (org, title)
    )
  `.execute(db);
  reader = createDatabase<Tables>({ url: file });
  ledger = await createLedgerStore({ db, origin: ORIGIN, signer: SIGNER, workTimeoutMs: WORK_TIMEOUT_MS });
  audit = await createLedgerAudit({ ledger, db });
  issuer = await createTestIssuer();
  verifier = createTokenVerifier(issuer.verifierOptions());
  runtime = createCovenantRuntime({
    identity: verifier,
    authorization: createStaticAuthorization(GRANTS),
    audit,
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    database: db,
  });
  router = createRouter(runtime, handlers);
  server = createHttpServer(runtime, router);
  url = await listen(server);
});

afterAll(async () => {
  if (server !== undefined) await close(server);
  await ledger?.close();
  await reader?.destroy();
  await db?.destroy();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await ledger.flush();
  await db.deleteFrom('fixture_tickets').execute();
  for (const key of Object.keys(calls)) delete calls[key];
  for (const key of Object.keys(overrides)) delete overrides[key as keyof Handlers['tickets']];
  seen.length = 0;
  listDbs.length = 0;
});

async function tokenFor(claims: { sub: string; org: string; sid?: string }): Promise<string> {
  return issuer.mint(claims);
}

async function api(claims: { sub: string; org: string; sid?: string }, options: { batch?: boolean } = {}) {
  const token = await tokenFor(claims);
  return createClient({ url, token: () => token, ...(options.batch === false ? { batch: false } : {}) });
}

/** A raw POST of tickets.create: the status line and body exactly as any client sees them. */
async function postCreate(claims: { sub: string; org: string; sid?: string }, input: unknown) {
  return rawCall(url, 'tickets.create', { token: await tokenFor(claims), input, method: 'POST' });
}

/** The whole stored log, decoded, in order (after every pending append and unit has settled). */
async function ledgerEntries(): Promise<LedgerEntry[]> {
  await ledger.flush();
  const rows = await reader.selectFrom('ledger_entries').select(['seq', 'body']).orderBy('seq').execute();
  return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
}

async function entriesOf(requestId: string): Promise<LedgerEntry[]> {
  return (await ledgerEntries()).filter((entry) => entry.requestId === requestId);
}

/** Committed tickets, read on a second connection. */
async function committedTickets(): Promise<TicketRow[]> {
  return reader.selectFrom('fixture_tickets').selectAll().orderBy('title').execute();
}

async function checkpointCount(): Promise<number> {
  const row = await reader.selectFrom('ledger_checkpoints').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** An intent followed by exactly one outcome for the same call, about the same actor, tenant and action. */
function expectIntentThenOutcome(entries: LedgerEntry[], outcome: 'ok' | 'failed', code: string | null) {
  expect(entries.map((e) => e.kind)).toEqual(['intent', 'outcome']);
  const [intent, result] = entries as [LedgerEntry, LedgerEntry];
  expect(intent.seq).toBeLessThan(result.seq);
  expect(intent.outcome).toBeNull();
  expect(intent.inputDigest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  expect(intent.data).toEqual({ call: 'mutation' });
  expect(result.outcome).toBe(outcome);
  expect(result.data).toEqual(code === null ? null : { code });
  expect(result.inputDigest).toBeNull();
  expect({ action: result.action, actor: result.actor, tenant: result.tenant, resource: result.resource }).toEqual({
    action: intent.action,
    actor: intent.actor,
    tenant: intent.tenant,
    resource: intent.resource,
  });
}

function expectWireError(result: { status: number; body: any }, status: number, code: string): string {
  expect(result.status).toBe(status);
  expect(result.body.error.data.code).toBe(code);
  const requestId = result.body.error.data.requestId as string;
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(result.body.error.data).not.toHaveProperty('stack');
  return requestId;
}

describe('audited mutation on the ledger', () => {
  it('commits the row with an ok outcome: intent before outcome, same actor/tenant/action, ctx.db is the ledger transaction', async () => {
    const client = await api(alice);
    const ticket = await client.tickets.create.mutate({ title: 'printer on fire', requesterEmail: 'secret.person@example.com' });
    expect(ticket).toMatchObject({ title: 'printer on fire', org: 'org_a' });

    expect(seen).toHaveLength(1);
    const { requestId, runtimeDb, ledgerTx } = seen[0]!;
    // ctx.db in an audited procedure is the ledger's unit-of-work handle, not the runtime's database.
    expect(runtimeDb).toBe(false);
    expect(ledgerTx).toBe(true);

    const rows = await committedTickets();
    expect(rows).toEqual([
      { id: ticket.id, org: 'org_a', title: 'printer on fire', requester_email: 'secret.person@example.com', request_id: requestId },
    ]);

    const entries = await entriesOf(requestId);
    expectIntentThenOutcome(entries, 'ok', null);
    expect(entries[0]).toMatchObject({
      action: 'tickets.create',
      actor: { subject: 'alice', session: 'sess-alice' },
      tenant: { org: 'org_a', workspace: null },
    });
    // The log holds a digest of the redacted input, never the classified value.
    expect(JSON.stringify(entries)).not.toContain('secret.person@example.com');
  });

  it('rolls back a handler that writes then throws: no row, a failed ERR_INTERNAL outcome, 500 without internals on the wire', async () => {
    override('create', async ({ input, ctx }) => {
      await insertTicket(dbOf(ctx), ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
      throw new Error('constraint on secret_table failed; password=hunter2');
    });
    const result = await postCreate(alice, { title: 'will throw', requesterEmail: 'a@example.com' });
    const requestId = expectWireError(result, 500, 'ERR_INTERNAL');
    expect(result.body.error.message).toBe('Internal server error');
    expect(result.text).not.toContain('hunter2');
    expect(result.text).not.toContain('secret_table');
    expect(calls['create']).toBe(1);

    expect(await committedTickets()).toEqual([]);
    expectIntentThenOutcome(await entriesOf(requestId), 'failed', 'ERR_INTERNAL');
    // The cause stays in the server log, under the same request id, redacted: never the secret (issue 12 §5).
    expect(logs.some((line) => line.includes(requestId) && line.includes('password=[redacted]'))).toBe(true);
    expect(logs.join('\n')).not.toContain('hunter2');
  });

  it('rolls back a handler that writes then raises a declared error: failed outcome with its code, the declared status on the wire', async () => {
    override('create', async ({ input, ctx }) => {
      await insertTicket(dbOf(ctx), ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
      return ctx.fail('DUPLICATE_TITLE');
    });
    const result = await postCreate(alice, { title: 'declared', requesterEmail: 'a@example.com' });
    const requestId = expectWireError(result, 409, 'DUPLICATE_TITLE');
    expect(result.body.error.message).toBe('A ticket with this title is already open');

    expect(await committedTickets()).toEqual([]);
    expectIntentThenOutcome(await entriesOf(requestId), 'failed', 'DUPLICATE_TITLE');

    // Through the generated client: the typed error carries the same status, code and a request id.
    const client = await api(alice);
    const error = await client.tickets.create.mutate({ title: 'declared', requesterEmail: 'a@example.com' }).catch((e: unknown) => e);
    expect(isCovenantError(error, 'DUPLICATE_TITLE')).toBe(true);
    expect(error).toMatchObject({ httpStatus: 409 });
    const clientRequestId = (error as { requestId: string }).requestId;
    expectIntentThenOutcome(await entriesOf(clientRequestId), 'failed', 'DUPLICATE_TITLE');
    expect(await committedTickets()).toEqual([]);
  });

  it('the default handler’s own duplicate check: the first create commits, the second is 409 and leaves one row', async () => {
    const client = await api(alice);
    await client.tickets.create.mutate({ title: 'dup', requesterEmail: 'a@example.com' });
    const error = await client.tickets.create.mutate({ title: 'dup', requesterEmail: 'b@example.com' }).catch((e: unknown) => e);
    expect(isCovenantError(error, 'DUPLICATE_TITLE')).toBe(true);
    const rows = await committedTickets();
    expect(rows.map((r) => [r.title, r.requester_email])).toEqual([['dup', 'a@example.com']]);
    const [first, second] = seen;
    expectIntentThenOutcome(await entriesOf(first!.requestId), 'ok', null);
    expectIntentThenOutcome(await entriesOf(second!.requestId), 'failed', 'DUPLICATE_TITLE');
  });

  it('rolls back when the output fails validation after the handler returned: never recorded as a success', async () => {
    override('create', async ({ input, ctx }) => {
      await insertTicket(dbOf(ctx), ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
      // Violates the output schema (id must be a string; title, requesterEmail and org are missing).
      return { id: 1 } as never;
    });
    const result = await postCreate(alice, { title: 'bad output', requesterEmail: 'a@example.com' });
    const requestId = expectWireError(result, 500, 'ERR_INTERNAL');
    expect(calls['create']).toBe(1);

    expect(await committedTickets()).toEqual([]);
    const entries = await entriesOf(requestId);
    expectIntentThenOutcome(entries, 'failed', 'ERR_INTERNAL');
    expect(entries.some((e) => e.outcome === 'ok')).toBe(false);
    // tRPC's output middleware threw after the handler returned; the chain reported it as { ok: false }
    // and the request-context step logged the cause (zod's issues, as codes and paths) under the request id.
    expect(logs.some((line) => line.includes(requestId) && line.includes('"code":"invalid_type","path":["id"]'))).toBe(true);
  });

  const constraintCases: Array<[string, (args: Parameters<Handler<typeof tickets.create>>[0]) => Promise<never>]> = [
    [
      'UNIQUE (the second of two inserts)',
      async ({ input, ctx }) => {
        const tx = dbOf(ctx);
        await insertTicket(tx, ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
        await insertTicket(tx, ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
        throw new Error('unreachable: the second insert violates UNIQUE (org, title)');
      },
    ],
    [
      'CHECK (a title longer than the table allows)',
      async ({ input, ctx }) => {
        const tx = dbOf(ctx);
        await insertTicket(tx, ctx.requestId, ctx.tenant.org, `${input.title}-ok`, input.requesterEmail);
        await insertTicket(tx, ctx.requestId, ctx.tenant.org, 'x'.repeat(150), input.requesterEmail);
        throw new Error('unreachable: the second insert violates CHECK (length(title) <= 100)');
      },
    ],
  ];
  for (const [name, handler] of constraintCases) {
    it(`rolls back a constraint violation, ${name}: failed outcome, 500, no row`, async () => {
      override('create', handler);
      const result = await postCreate(alice, { title: 'constrained', requesterEmail: 'a@example.com' });
      const requestId = expectWireError(result, 500, 'ERR_INTERNAL');
      expect(result.text).not.toMatch(/constraint|SQLITE/i);
      expect(await committedTickets()).toEqual([]);
      expectIntentThenOutcome(await entriesOf(requestId), 'failed', 'ERR_INTERNAL');
      expect(logs.some((line) => line.includes(requestId) && /constraint failed/i.test(line))).toBe(true);
    });
  }
});

describe('the ledger fails closed', () => {
  it('answers 503 ERR_AUDIT_UNAVAILABLE when the intent cannot be written, and the handler never runs', async () => {
    const before = await ledgerEntries();
    await sql`create trigger ledger_down before insert on ledger_entries begin select raise(abort, 'ledger is down'); end`.execute(db);
    let result: Awaited<ReturnType<typeof postCreate>>;
    try {
      result = await postCreate(alice, { title: 'no ledger', requesterEmail: 'a@example.com' });
    } finally {
      await sql`drop trigger ledger_down`.execute(db);
    }
    const requestId = expectWireError(result, 503, 'ERR_AUDIT_UNAVAILABLE');
    expect(result.text).not.toContain('ledger is down');
    expect(calls['create']).toBeUndefined();
    expect(await committedTickets()).toEqual([]);
    const after = await ledgerEntries();
    expect(after).toHaveLength(before.length);
    expect(after.some((e) => e.requestId === requestId)).toBe(false);

    // The store recovers once the database accepts writes again.
    const client = await api(alice);
    await expect(client.tickets.create.mutate({ title: 'ledger back', requesterEmail: 'a@example.com' })).resolves.toMatchObject({
      title: 'ledger back',
    });
    expect((await committedTickets()).map((r) => r.title)).toEqual(['ledger back']);
    expectIntentThenOutcome(await entriesOf(seen[0]!.requestId), 'ok', null);
  });

  it('answers 503 when a handler overruns workTimeoutMs: its write is rolled back, a late write is refused, later calls work', async () => {
    let resume!: () => void;
    const stalled = new Promise<void>((resolve) => (resume = resolve));
    let lateWrite!: Promise<unknown>;
    let reachedStall!: () => void;
    const stalling = new Promise<void>((resolve) => (reachedStall = resolve));
    override('create', async ({ input, ctx }) => {
      const tx = dbOf(ctx);
      await insertTicket(tx, ctx.requestId, ctx.tenant.org, input.title, input.requesterEmail);
      reachedStall();
      // Holds the batch far beyond workTimeoutMs (resumed only after the test has seen the 503).
      await stalled;
      lateWrite = insertTicket(tx, ctx.requestId, ctx.tenant.org, `${input.title} (late)`, input.requesterEmail).then(
        () => 'written',
        (error: unknown) => error,
      );
      return lateWrite as never;
    });
    const result = await postCreate(alice, { title: 'stalled', requesterEmail: 'a@example.com' });
    await stalling;
    const requestId = expectWireError(result, 503, 'ERR_AUDIT_UNAVAILABLE');
    expect(calls['create']).toBe(1);
    expect(await committedTickets()).toEqual([]);
    // The overrun unit was rolled back; the port closed the intent with a failed outcome outside it.
    expectIntentThenOutcome(await entriesOf(requestId), 'failed', 'ERR_AUDIT_UNAVAILABLE');
    expect(logs.some((line) => line.includes(requestId) && line.includes(LedgerWorkTimeoutError.name))).toBe(true);

    // The handler wakes up after its unit was revoked: whatever it writes now never lands.
    resume();
    await stalled;
    await new Promise((resolve) => setImmediate(resolve));
    const late = await lateWrite;
    expect(late).toMatchObject({ code: 'ERR_LEDGER_LOG_CLOSED' });
    await ledger.flush();
    expect(await committedTickets()).toEqual([]);

    // The store goes on: the next call commits normally.
    delete overrides['create'];
    const client = await api(alice);
    await expect(client.tickets.create.mutate({ title: 'after the stall', requesterEmail: 'a@example.com' })).resolves.toMatchObject({
      title: 'after the stall',
    });
    expect((await committedTickets()).map((r) => r.title)).toEqual(['after the stall']);
    expectIntentThenOutcome(await entriesOf(seen.at(-1)!.requestId), 'ok', null);
  });

  it('records a refused authorization as a denial entry, with no intent, and the handler never runs', async () => {
    const result = await postCreate(carol, { title: 'not allowed', requesterEmail: 'c@example.com' });
    const requestId = expectWireError(result, 403, 'ERR_AUTHZ_DENIED');
    expect(calls['create']).toBeUndefined();
    expect(await committedTickets()).toEqual([]);
    const entries = await entriesOf(requestId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: 'denial',
      action: 'tickets.create',
      actor: { subject: 'carol', session: null },
      tenant: { org: 'org_a', workspace: null },
      outcome: null,
      inputDigest: null,
      data: { code: 'authz.missing_capability', capability: 'tickets.write', resourceType: null },
    });
    expect(entries.some((e) => e.kind === 'intent')).toBe(false);
  });
});

describe('ctx.db outside audited procedures', () => {
  it('a query gets the runtime’s database and reads committed tickets, tenant by tenant', async () => {
    const a = await api(alice);
    const b = await api(mallory);
    const created = await a.tickets.create.mutate({ title: 'visible', requesterEmail: 'a@example.com' });
    await b.tickets.create.mutate({ title: 'other org', requesterEmail: 'm@example.com' });

    const listed = await a.tickets.list.query({});
    expect(listed.items).toEqual([created]);
    await expect(a.tickets.get.query({ ticketId: created.id })).resolves.toEqual(created);
    const hidden = await b.tickets.get.query({ ticketId: created.id }).catch((e: unknown) => e);
    expect(isCovenantError(hidden, 'TICKET_NOT_FOUND')).toBe(true);

    expect(listDbs).toHaveLength(1);
    expect((listDbs[0] as { db: unknown }).db).toBe(db);
    // Queries are not audited: nothing on the ledger for them.
    const entries = await ledgerEntries();
    expect(entries.filter((e) => e.action !== 'tickets.create')).toEqual([]);
  });

  it('without a configured database, reading ctx.db in a query throws a clear TypeError (500 on the wire); audited calls still get the ledger transaction', async () => {
    const lines: string[] = [];
    const bare = createCovenantRuntime({
      identity: verifier,
      authorization: createStaticAuthorization(GRANTS),
      audit,
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    const bareServer = createHttpServer(bare, createRouter(bare, handlers));
    const bareUrl = await listen(bareServer);
    try {
      const result = await rawCall(bareUrl, 'tickets.list', { token: await tokenFor(alice) });
      const requestId = expectWireError(result, 500, 'ERR_INTERNAL');
      expect(result.text).not.toContain('no database');
      expect(listDbs).toHaveLength(1);
      const failure = listDbs[0] as { error: unknown };
      expect(failure.error).toBeInstanceOf(TypeError);
      expect((failure.error as Error).message).toMatch(/ctx\.db: no database is configured/);
      expect(lines.some((line) => line.includes(requestId) && line.includes('no database is configured'))).toBe(true);

      // The audited create has no runtime database either, yet its writes go through the ledger's transaction.
      const created = await rawCall(bareUrl, 'tickets.create', {
        token: await tokenFor(alice),
        input: { title: 'no runtime database', requesterEmail: 'a@example.com' },
        method: 'POST',
      });
      expect(created.status).toBe(200);
      expect(seen).toEqual([{ requestId: expect.any(String), runtimeDb: false, ledgerTx: true }]);
      expect((await committedTickets()).map((r) => r.title)).toEqual(['no runtime database']);
      expectIntentThenOutcome(await entriesOf(seen[0]!.requestId), 'ok', null);
    } finally {
      await close(bareServer);
    }
  });
});

describe('group commit under load', () => {
  /** 50 rows, and for each call an intent followed by an ok outcome; returns the checkpoints the run added. */
  async function expectFiftyCommitted(run: () => Promise<ReadonlyArray<{ id: string }>>, label: string): Promise<number> {
    const checkpointsBefore = await checkpointCount();
    const entriesBefore = (await ledgerEntries()).length;

    const created = await run();
    expect(new Set(created.map((t) => t.id)).size).toBe(50);

    const rows = await committedTickets();
    expect(rows).toHaveLength(50);
    expect(seen).toHaveLength(50);
    const requestIds = new Set(seen.map((s) => s.requestId));
    expect(requestIds.size).toBe(50);
    expect(new Set(rows.map((r) => r.request_id))).toEqual(requestIds);

    const entries = (await ledgerEntries()).slice(entriesBefore);
    expect(entries).toHaveLength(100);
    expect(entries.filter((e) => e.kind === 'intent')).toHaveLength(50);
    expect(entries.filter((e) => e.kind === 'outcome' && e.outcome === 'ok')).toHaveLength(50);
    for (const requestId of requestIds) {
      expectIntentThenOutcome(
        entries.filter((e) => e.requestId === requestId),
        'ok',
        null,
      );
    }

    const checkpoints = (await checkpointCount()) - checkpointsBefore;
    console.log(`[ledger-pipeline] ${label}: 50 concurrent audited creates (100 entries) were sealed by ${checkpoints} checkpoint(s)`);
    expect(checkpoints).toBeGreaterThan(0);
    // One signed checkpoint per committed batch, never an empty one: at most one per entry.
    expect(checkpoints).toBeLessThanOrEqual(100);
    return checkpoints;
  }

  it('50 concurrent creates in one tick (server-side caller): all committed, sealed by far fewer than 100 checkpoints', async () => {
    const principal = await verifier.verify(await tokenFor(alice));
    const caller = runtime.createCaller(router, { principal });
    const checkpoints = await expectFiftyCommitted(
      () =>
        Promise.all(
          Array.from({ length: 50 }, (_, i) => caller.tickets.create({ title: `caller ${String(i).padStart(2, '0')}`, requesterEmail: 'a@example.com' })),
        ),
      'server-side caller',
    );
    // Every call reaches the ledger in the same tick: the 50 intents share a batch, and so do the 50 units.
    expect(checkpoints).toBeLessThan(100);
  });

  it('50 concurrent creates over HTTP (one request each): all committed, each intent before its ok outcome', async () => {
    // batch: false — the generated client's batching sends one HTTP request per tick, and the server
    // refuses batches of more than 20 calls.
    const client = await api(alice, { batch: false });
    await expectFiftyCommitted(
      () =>
        Promise.all(
          Array.from({ length: 50 }, (_, i) => client.tickets.create.mutate({ title: `http ${String(i).padStart(2, '0')}`, requesterEmail: 'a@example.com' })),
        ),
      'HTTP',
    );
  });
});

describe('audit receipts', () => {
  it('a server-side caller gets the receipt of each audited call (ok or failed) before the call returns: its entries and the signed checkpoint covering them', async () => {
    const receipts: Array<{ receipt: AuditReceipt; call: { requestId: string; path: string } }> = [];
    const caller = runtime.createCaller(router, { token: await tokenFor(alice) }, { onAuditReceipt: (receipt, call) => void receipts.push({ receipt, call }) });
    await caller.tickets.create({ title: 'receipt one', requesterEmail: 'a@example.com' });
    expect(receipts).toHaveLength(1);
    await expect(caller.tickets.create({ title: 'receipt one', requesterEmail: 'a@example.com' })).rejects.toMatchObject({ code: 'CONFLICT' });
    // An unaudited query has no receipt.
    await caller.tickets.list({});
    expect(receipts.map(({ call }) => call.path)).toEqual(['tickets.create', 'tickets.create']);
    for (const [{ receipt, call }, outcome] of [[receipts[0]!, 'ok'], [receipts[1]!, 'failed']] as const) {
      const [intent, result] = await entriesOf(call.requestId);
      expect([intent!.seq, result!.seq]).toEqual([receipt.intentSeq, receipt.outcomeSeq]);
      expect(result).toMatchObject({ kind: 'outcome', outcome });
      const opened = verifyCheckpoint(receipt.checkpoint.note, { name: SIGNER.name, publicKey: SIGNER.publicKey, origin: ORIGIN });
      expect(opened).toMatchObject({ ok: true, checkpoint: { size: receipt.checkpoint.size } });
      expect(receipt.checkpoint.size).toBeGreaterThan(receipt.outcomeSeq);
      // The log holds both entries under the receipt's head: each proves against the current head, which is
      // consistent with the receipt's.
      const head = (await ledger.latestCheckpoint())!;
      for (const seq of [receipt.intentSeq, receipt.outcomeSeq]) {
        expect(verifyBundle(await ledger.inclusionBundle(seq), { name: SIGNER.name, publicKey: SIGNER.publicKey }, (await ledger.readEntry(seq)).bytes).ok).toBe(true);
      }
      const proof = await ledger.consistencyProof(receipt.checkpoint.size, head.checkpoint.size);
      const root1 = new Uint8Array(Buffer.from(receipt.checkpoint.root, 'base64'));
      expect(verifyConsistency({ size1: receipt.checkpoint.size, size2: head.checkpoint.size, root1, root2: head.checkpoint.root, proof }).ok).toBe(true);
    }
  });

  it('a receipt sink that throws is logged; the committed call stands', async () => {
    const caller = runtime.createCaller(
      router,
      { token: await tokenFor(alice) },
      {
        onAuditReceipt: () => {
          throw new Error('sink down');
        },
      },
    );
    await expect(caller.tickets.create({ title: 'receipt sink', requesterEmail: 'a@example.com' })).resolves.toMatchObject({ title: 'receipt sink' });
    expect(logs.some((line) => line.includes('the audit receipt sink failed'))).toBe(true);
    expect((await committedTickets()).map((row) => row.title)).toContain('receipt sink');
    expect(() => runtime.createCaller(router, { token: 'x' }, { onAuditReceipt: 'no' as never })).toThrow(TypeError);
  });
});

describe('the whole log', () => {
  // Runs last (vitest runs a file's tests in order): everything the tests above appended must verify.
  it('verifies with the public key only, and every intent has an outcome', async () => {
    const client = await api(mallory);
    await client.tickets.create.mutate({ title: 'last one', requesterEmail: 'm@example.com' });
    const entries = await ledgerEntries();
    expect(entries.length).toBeGreaterThanOrEqual(2);
    const result = await verifyLedger(reader, { origin: ORIGIN, keyName: SIGNER.name, publicKey: SIGNER.publicKey });
    expect(result).toEqual({ ok: true, size: entries.length, checkpoints: await checkpointCount() });
    expect(await ledger.openIntents()).toEqual([]);
    const latest = await ledger.latestCheckpoint();
    expect(latest?.checkpoint.size).toBe(entries.length);
  });
});
