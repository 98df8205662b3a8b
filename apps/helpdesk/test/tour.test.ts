import { createDatabase } from '@covenant/db';
import { decodeEntry, verifyLedger, type LedgerEntry, type LedgerTables } from '@covenant/ledger';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceTables } from '../src/database.ts';
import { formatReport, shouldColor } from '../src/report.ts';
import { runTour, type TourOptions, type TourResult } from '../src/tour.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

/** The `npm run demo` tour, run in-process against the app as `npm start` assembles it (real HTTP). */
let helpdesk: Helpdesk;
let options: TourOptions;
let first: TourResult;
/** The log size before the tour: nothing else writes meanwhile, so the tour's first entry has this index. */
let sizeBefore: number;

beforeAll(async () => {
  helpdesk = await startHelpdesk();
  options = {
    url: helpdesk.url,
    token: (user) => helpdesk.token(user),
    ledger: {
      databaseFile: helpdesk.databaseFile,
      origin: helpdesk.signer.name,
      keyName: helpdesk.signer.name,
      publicKey: helpdesk.signer.publicKey,
      digester: helpdesk.signer,
    },
  };
  await helpdesk.service.ledger.flush();
  sizeBefore = (await helpdesk.service.ledger.latestCheckpoint())!.checkpoint.size;
  first = await runTour(options);
});
afterAll(() => helpdesk?.close());

const db = (): Kysely<ServiceTables> => helpdesk.service.db;

async function entriesOf(requestId: string): Promise<LedgerEntry[]> {
  await helpdesk.service.ledger.flush();
  const rows = await db().selectFrom('ledger_entries').select('body').where('request_id', '=', requestId).orderBy('seq').execute();
  return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
}

describe('the tour', () => {
  it('passes every step, in the order the issue lists them', () => {
    expect(first.steps.filter((s) => !s.ok)).toEqual([]);
    expect(first.ok).toBe(true);
    expect(first.steps.map((s) => s.name)).toEqual([
      'agent opens a ticket',
      'agent lists tickets',
      'no token → 401',
      'agent without the capability → 403',
      'other org cannot read the ticket',
      'other org cannot modify the ticket',
      'orgId in the body → 400',
      'handler failure rolls back',
      'supervisor closes the ticket',
      'covenant ledger verify',
      'covenant ledger prove <first entry>',
    ]);
  });

  it('was refused with the codes the contracts and the pipeline promise', () => {
    const codes = Object.fromEntries(Object.entries(first.facts.refusals).map(([key, r]) => [key, r && `${r.httpStatus} ${r.code}`]));
    expect(codes).toEqual({
      noToken: '401 ERR_IDENTITY_TOKEN_MISSING',
      noCapability: '403 ERR_AUTHZ_DENIED',
      otherOrgRead: '404 TICKET_NOT_FOUND',
      otherOrgUpdate: '404 TICKET_NOT_FOUND',
      otherOrgComment: '404 TICKET_NOT_FOUND',
      orgIdInBody: '400 ERR_TENANCY_KEY_IN_INPUT',
      rollback: '409 DUPLICATE_REFERENCE',
    });
  });

  it('left the ticket as the tour says: in acme/support, closed by sam, untouched by globex', async () => {
    const row = await db().selectFrom('helpdesk_tickets').selectAll().where('id', '=', first.facts.ticketId!).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ org: 'acme', workspace: 'support', status: 'closed', external_ref: first.facts.externalRef, assignee: null, created_by: 'ann' });
    expect(row.subject).not.toContain('globex');
    const comments = await db().selectFrom('helpdesk_comments').select(['author', 'org']).where('ticket_id', '=', row.id).execute();
    expect(comments).toEqual([{ author: 'ann', org: 'acme' }]);
    // Independently of the tour: gus still cannot see it.
    const gus = await helpdesk.as('gus');
    await expect(gus.tickets.get.query({ ticketId: row.id })).rejects.toMatchObject({ httpStatus: 404, code: 'TICKET_NOT_FOUND' });
  });

  it('created nothing for the request carrying orgId, in either org', async () => {
    const { email, subject } = first.facts.orgIdProbe;
    expect(await db().selectFrom('helpdesk_customers').select('id').where('email', '=', email).execute()).toEqual([]);
    expect(await db().selectFrom('helpdesk_tickets').select('id').where('subject', '=', subject).execute()).toEqual([]);
    // Refused before validation and before audit: no intent, no outcome.
    expect(await entriesOf(first.facts.refusals.orgIdInBody!.requestId!)).toEqual([]);
  });

  it('rolled the new customer back with the refused ticket, and the ledger records the failure', async () => {
    expect(await db().selectFrom('helpdesk_customers').select('id').where('email', '=', first.facts.rolledBackEmail).execute()).toEqual([]);
    const entries = await entriesOf(first.facts.refusals.rollback!.requestId!);
    expect(entries.map((e) => [e.kind, e.action, e.outcome, e.data])).toEqual([
      ['intent', 'tickets.create', null, { call: 'mutation' }],
      ['outcome', 'tickets.create', 'failed', { code: 'DUPLICATE_REFERENCE' }],
    ]);
  });

  it('recorded the 403 as a denial, and no intent', async () => {
    const entries = await entriesOf(first.facts.refusals.noCapability!.requestId!);
    expect(entries.map((e) => [e.kind, e.action, e.actor?.subject])).toEqual([['denial', 'tickets.close', 'ann']]);
  });

  it('found its first entry: the intent of ann’s tickets.create, and the log verifies with the public key', async () => {
    const seq = first.facts.firstSeq!;
    expect(seq).toBe(sizeBefore);
    const row = await db().selectFrom('ledger_entries').select('body').where('seq', '=', seq).executeTakeFirstOrThrow();
    const entry = decodeEntry(new Uint8Array(row.body));
    expect(entry).toMatchObject({ kind: 'intent', action: 'tickets.create', actor: { subject: 'ann' }, tenant: { org: 'acme', workspace: 'support' } });
    // Its outcome is ok: this is the call that created the ticket.
    expect((await entriesOf(entry.requestId!)).map((e) => e.outcome)).toEqual([null, 'ok']);

    const reader = createDatabase<LedgerTables>({ url: helpdesk.databaseFile });
    try {
      const verified = await verifyLedger(reader, { origin: helpdesk.signer.name, keyName: helpdesk.signer.name, publicKey: helpdesk.signer.publicKey });
      expect(verified).toMatchObject({ ok: true });
      expect(verified.ok && verified.size).toBeGreaterThan(seq);
    } finally {
      await reader.destroy();
    }
    const prove = first.steps.at(-1)!;
    expect(JSON.parse(prove.output.join('\n'))).toMatchObject({ version: 1, leafIndex: seq, origin: helpdesk.signer.name });
  });

  it('runs again on the same database: every run has its own data', async () => {
    const second = await runTour(options);
    expect(second.steps.filter((s) => !s.ok)).toEqual([]);
    expect(second.runId).not.toBe(first.runId);
    expect(second.facts.ticketId).not.toBe(first.facts.ticketId);
    expect(second.facts.firstSeq!).toBeGreaterThan(first.facts.firstSeq!);
  });

  it('fails the ledger steps when the public key is not the service’s', async () => {
    const wrongKey = await runTour({ ...options, ledger: { ...options.ledger, publicKey: new Uint8Array(32).fill(7) } });
    const verdicts = Object.fromEntries(wrongKey.steps.map((s) => [s.name, s.ok]));
    expect(wrongKey.ok).toBe(false);
    expect(verdicts['covenant ledger verify']).toBe(false);
    expect(verdicts['covenant ledger prove <first entry>']).toBe(false);
    expect(verdicts['agent opens a ticket']).toBe(true);
    expect(wrongKey.steps.find((s) => s.name === 'covenant ledger verify')!.detail).toMatch(/^exit 1: covenant ledger verify: FAILED/);
  });
});

describe('the report', () => {
  const sample: TourResult = {
    runId: 'abc123',
    ok: false,
    steps: [
      { name: 'short', proves: 'a', ok: true, detail: 'first detail', output: [] },
      { name: 'a much longer name', proves: 'b', ok: false, detail: 'second detail', output: ['{', '  "x": 1', '}'] },
    ],
    facts: {
      ticketId: null,
      externalRef: 'TOUR-abc123',
      firstSeq: null,
      refusals: { noToken: null, noCapability: null, otherOrgRead: null, otherOrgUpdate: null, otherOrgComment: null, orgIdInBody: null, rollback: null },
      rolledBackEmail: 'rollback-abc123@example.com',
      orgIdProbe: { email: 'orgid-abc123@example.com', subject: 'probe' },
    },
  };

  it('has no escape codes without colour, and aligns the detail column', () => {
    const text = formatReport(sample, { color: false });
    expect(text).not.toContain('\u001b');
    const lines = text.split('\n');
    const firstLine = lines.find((l) => l.includes('first detail'))!;
    const secondLine = lines.find((l) => l.includes('second detail'))!;
    expect(firstLine.indexOf('first detail')).toBe(secondLine.indexOf('second detail'));
    expect(firstLine.trimStart().startsWith('✓')).toBe(true);
    expect(secondLine.trimStart().startsWith('✗')).toBe(true);
    // What a step proves and its output sit under its detail.
    expect(lines.find((l) => l.trim() === 'a')!.indexOf('a')).toBe(firstLine.indexOf('first detail'));
    expect(lines.find((l) => l.trim() === '"x": 1')!.indexOf('"x"')).toBe(secondLine.indexOf('second detail') + 4);
    expect(text).toContain('1 of 2 steps failed (run abc123).');
  });

  it('colours marks and the verdict when asked', () => {
    const text = formatReport({ ...sample, ok: true, steps: [sample.steps[0]!] }, { color: true });
    expect(text).toContain('\u001b[32m✓\u001b[0m');
    expect(text).toContain('\u001b[32mAll 1 steps passed (run abc123).\u001b[0m');
  });

  it('colours only a terminal, and never with NO_COLOR', () => {
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor({ isTTY: false }, {})).toBe(false);
    expect(shouldColor({}, {})).toBe(false);
  });
});
