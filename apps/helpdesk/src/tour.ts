import { randomBytes } from 'node:crypto';
import { main as covenant } from '@covenant/cli';
import { isCovenantError, type CovenantClientError } from '@covenant/client';
import { verifyBundle, type LedgerEntry } from '@covenant/ledger';
import { inputDigestOf } from '@covenant/contract';
import { type Digester } from '@covenant/core';
import { tickets as ticketsContract } from '../../../contracts/helpdesk/tickets.contract.ts';
import { createClient, type Client } from './generated/client.ts';

/**
 * The scripted tour of the helpdesk (`npm run demo`, and tour.test.ts in-process): the generated typed
 * client against a running service, then the ledger checked with the `covenant` CLI and offline. Every
 * run uses its own subjects, emails and references, so it can run any number of times on one database.
 */

/** How to reach the audit ledger the service writes (the CLI reads the SQLite file directly). */
export interface TourLedger {
  readonly databaseFile: string;
  /** The log origin (`COVENANT_LEDGER_ORIGIN`, default `covenant.local/service`). */
  readonly origin: string;
  /** The checkpoint key's name (the service uses the origin). */
  readonly keyName: string;
  /** The Ed25519 public key the checkpoints are signed with (32 bytes). */
  readonly publicKey: Uint8Array;
  /**
   * The log's keyed digest (the checkpoint key's signer): finds this run's intent by its input. Without the
   * key an input's digest cannot be recomputed, which is the point (issue 12).
   */
  readonly digester: Digester;
}

export interface TourOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** A bearer token for a demo user (ann, sam, ada, gia, gus are used). */
  readonly token: (user: string) => Promise<string>;
  readonly ledger: TourLedger;
  /** Names this run's data (emails, references); random by default. */
  readonly runId?: string;
  /** The working directory the CLI resolves paths against (defaults to `process.cwd()`). */
  readonly cwd?: string;
}

export interface TourStep {
  readonly name: string;
  /** What the step demonstrates, in one sentence. */
  readonly proves: string;
  readonly ok: boolean;
  /** One short line: what happened (or why the step failed). */
  readonly detail: string;
  /** Verbatim output worth showing under the step (the CLI's inclusion bundle). */
  readonly output: ReadonlyArray<string>;
}

/** A refused call as the tour saw it. */
export interface Refusal {
  readonly httpStatus: number;
  readonly code: string;
  readonly requestId: string | null;
}

/** What the tour did, for a test to check independently of the tour's own verdicts. */
export interface TourFacts {
  readonly ticketId: string | null;
  readonly externalRef: string;
  /** The ledger index of the tour's first entry: the intent of its first audited call (the ticket's creation). */
  readonly firstSeq: number | null;
  readonly refusals: Readonly<Record<'noToken' | 'noCapability' | 'otherOrgRead' | 'otherOrgUpdate' | 'otherOrgComment' | 'orgIdInBody' | 'rollback', Refusal | null>>;
  /** The customer the refused ticket would have created (it must not exist). */
  readonly rolledBackEmail: string;
  /** The customer and subject of the raw request carrying `orgId` (neither must exist). */
  readonly orgIdProbe: { readonly email: string; readonly subject: string };
}

export interface TourResult {
  readonly runId: string;
  readonly ok: boolean;
  readonly steps: ReadonlyArray<TourStep>;
  readonly facts: TourFacts;
}

/** A step's own verdict that the service did not behave as it must. */
class TourCheckFailed extends Error {}

const check = (condition: boolean, message: string): void => {
  if (!condition) throw new TourCheckFailed(message);
};

type RefusalKey = keyof TourFacts['refusals'];

export async function runTour(options: TourOptions): Promise<TourResult> {
  const runId = options.runId ?? randomBytes(4).toString('hex');
  const externalRef = `TOUR-${runId}`;
  const email = (label: string): string => `${label}-${runId}@example.com`;
  const rolledBackEmail = email('rollback');
  const orgIdProbe = { email: email('orgid'), subject: `Tour ${runId}: sent with an orgId` };
  const ticketSubject = `Tour ${runId}: printer jams on page 2`;

  const clients = new Map<string, Client>();
  const as = async (user: string): Promise<Client> => {
    let client = clients.get(user);
    if (client === undefined) {
      const token = await options.token(user);
      client = createClient({ url: options.url, token: () => token, batch: false });
      clients.set(user, client);
    }
    return client;
  };

  const steps: TourStep[] = [];
  const refusals: Record<RefusalKey, Refusal | null> = {
    noToken: null,
    noCapability: null,
    otherOrgRead: null,
    otherOrgUpdate: null,
    otherOrgComment: null,
    orgIdInBody: null,
    rollback: null,
  };
  let ticketId: string | null = null;
  let firstSeq: number | null = null;

  const step = async (name: string, proves: string, body: () => Promise<string | { detail: string; output: string[] }>): Promise<void> => {
    try {
      const result = await body();
      steps.push(typeof result === 'string' ? { name, proves, ok: true, detail: result, output: [] } : { name, proves, ok: true, ...result });
    } catch (error) {
      steps.push({ name, proves, ok: false, detail: describeError(error), output: [] });
    }
  };
  const needTicket = (): string => {
    if (ticketId === null) throw new TourCheckFailed('not run: it needs the ticket of the first step');
    return ticketId;
  };
  /** Expects `call` to be refused with `status` (and `code`), records it, and returns it. */
  const refused = async (key: RefusalKey, call: () => Promise<unknown>, status: number, code?: string): Promise<Refusal> => {
    const refusal = await refusalOf(call);
    refusals[key] = refusal;
    check(refusal.httpStatus === status && (code === undefined || refusal.code === code), `expected ${status}${code ? ` ${code}` : ''}, got ${show(refusal)}`);
    return refusal;
  };

  const ann = await as('ann');
  const ada = await as('ada');

  await step('agent opens a ticket', 'an agent writes in its own workspace, through the generated typed client', async () => {
    const from = await ledgerSize(ada);
    const input = {
      customer: { new: { name: 'Tour Customer', email: email('tour'), phone: '+1 555 0199' } },
      subject: ticketSubject,
      body: 'The printer jams on the second page of every job.',
      priority: 'normal' as const,
      externalRef,
    };
    const ticket = await ann.tickets.create.mutate(input);
    ticketId = ticket.id;
    // The intent carries the digest of the redacted input, and this run's reference makes that digest unique.
    const digest = ticketCreateDigest(input, options.ledger.digester);
    const intent = await findEntry(ada, from, (e) => e.kind === 'intent' && e.action === 'tickets.create' && e.inputDigest === digest);
    check(intent !== null, `no intent for this call in the ledger after #${from}`);
    firstSeq = intent!.seq;
    check(intent!.actor?.subject === 'ann' && intent!.tenant?.org === 'acme' && intent!.tenant.workspace === 'support', 'the intent does not name ann in acme/support');
    return `ann opened ${ticket.id} (${ticket.status}, ref ${ticket.externalRef}); audited first as ledger entry #${firstSeq}`;
  });

  await step('agent lists tickets', 'the list shows the workspace’s tickets, the new one included', async () => {
    const id = needTicket();
    const all = await allTickets(ann);
    const mine = all.find((t) => t.id === id);
    check(mine !== undefined, `${id} is not among the ${all.length} tickets ann can list`);
    check(mine!.subject === ticketSubject && mine!.externalRef === externalRef, 'the listed ticket differs from the one created');
    return `ann sees ${short(id)} among ${all.length} tickets of acme/support`;
  });

  await step('no token → 401', 'a call without a bearer token never reaches a handler', async () => {
    const refusal = await refused('noToken', () => createClient({ url: options.url, batch: false }).tickets.list.query({}), 401);
    return `tickets.list without a token: ${show(refusal)}`;
  });

  await step('agent without the capability → 403', 'closing a ticket takes tickets.close, which agents lack; the denial is audited', async () => {
    const id = needTicket();
    const from = await ledgerSize(ada);
    const refusal = await refused('noCapability', () => ann.tickets.close.mutate({ ticketId: id, resolution: 'closing it myself' }), 403, 'ERR_AUTHZ_DENIED');
    const after = await ann.tickets.get.query({ ticketId: id });
    check(after.status === 'open', `the ticket is ${after.status} after a refused close`);
    const denial = await findEntry(ada, from, (e) => e.kind === 'denial' && e.requestId === refusal.requestId);
    check(denial !== null, `no denial entry for request ${refusal.requestId}`);
    return `ann → tickets.close: ${show(refusal)}; ticket still open; denial at #${denial!.seq}`;
  });

  await step('other org cannot read the ticket', 'a ticket id of another tenant is simply not found (its existence is not revealed)', async () => {
    const id = needTicket();
    const gus = await as('gus');
    const refusal = await refused('otherOrgRead', () => gus.tickets.get.query({ ticketId: id }), 404, 'TICKET_NOT_FOUND');
    return `gus (globex) → tickets.get ${short(id)}: ${show(refusal)}`;
  });

  await step('other org cannot modify the ticket', 'updates and comments from another tenant are refused and change nothing', async () => {
    const id = needTicket();
    const gus = await as('gus');
    const before = await ann.tickets.get.query({ ticketId: id });
    const commentsBefore = (await ann.comments.list.query({ ticketId: id })).comments.length;
    const update = await refused('otherOrgUpdate', () => gus.tickets.update.mutate({ ticketId: id, subject: 'taken over by globex', assignee: 'gus' }), 404, 'TICKET_NOT_FOUND');
    const comment = await refused('otherOrgComment', () => gus.comments.add.mutate({ ticketId: id, body: 'hello from globex' }), 404, 'TICKET_NOT_FOUND');
    const after = await ann.tickets.get.query({ ticketId: id });
    const commentsAfter = (await ann.comments.list.query({ ticketId: id })).comments.length;
    check(JSON.stringify(after) === JSON.stringify(before), 'the ticket changed');
    check(commentsAfter === commentsBefore, `the ticket has ${commentsAfter} comments, had ${commentsBefore}`);
    return `tickets.update: ${update.httpStatus} ${update.code}, comments.add: ${comment.httpStatus} ${comment.code}; ticket and its comments (${commentsAfter}) unchanged`;
  });

  await step('orgId in the body → 400', 'the tenant comes from the verified token, never from the input', async () => {
    // A raw request: the typed client has no way to send a key the contract does not declare.
    const response = await fetch(`${options.url}/tickets.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await options.token('ann')}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        customer: { new: { name: 'Smuggled Customer', email: orgIdProbe.email } },
        subject: orgIdProbe.subject,
        body: 'Filed into another org, I hope.',
        orgId: 'globex',
      }),
    });
    const refusal = await wireRefusal(response);
    refusals.orgIdInBody = refusal;
    check(refusal.httpStatus === 400 && refusal.code === 'ERR_TENANCY_KEY_IN_INPUT', `expected 400 ERR_TENANCY_KEY_IN_INPUT, got ${show(refusal)}`);
    const customers = await allCustomers(ann);
    check(!customers.some((c) => c.email === orgIdProbe.email), 'the customer of the refused request exists in acme/support');
    for (const user of ['ann', 'gia']) {
      const seen = await allTickets(await as(user));
      check(!seen.some((t) => t.subject === orgIdProbe.subject), `a ticket of the refused request is visible to ${user}`);
    }
    return `raw POST /tickets.create with "orgId": "globex": ${show(refusal)}; nothing created in acme or globex`;
  });

  await step('handler failure rolls back', 'a refused ticket takes the customer created in the same call with it; the ledger says failed', async () => {
    needTicket();
    const from = await ledgerSize(ada);
    const refusal = await refused(
      'rollback',
      () =>
        ann.tickets.create.mutate({
          customer: { new: { name: 'Rolled Back', email: rolledBackEmail } },
          subject: `Tour ${runId}: same reference again`,
          body: 'This reference is already taken.',
          externalRef,
        }),
      409,
      'DUPLICATE_REFERENCE',
    );
    const customers = await allCustomers(ann);
    check(!customers.some((c) => c.email === rolledBackEmail), `the customer ${rolledBackEmail} was kept`);
    const intent = await findEntry(ada, from, (e) => e.kind === 'intent' && e.requestId === refusal.requestId);
    check(intent !== null, `no intent entry for request ${refusal.requestId}`);
    const outcome = await findEntry(ada, intent!.seq + 1, (e) => e.kind === 'outcome' && e.requestId === refusal.requestId);
    check(outcome !== null, `no outcome entry for request ${refusal.requestId}`);
    const code = (outcome!.data as { code?: unknown } | null)?.code;
    check(outcome!.outcome === 'failed' && code === 'DUPLICATE_REFERENCE', `the outcome is ${outcome!.outcome} (${String(code)})`);
    return `${show(refusal)}; new customer not kept; ledger #${intent!.seq} intent → #${outcome!.seq} outcome failed (${code})`;
  });

  await step('supervisor closes the ticket', 'supervisors hold tickets.close in the same workspace', async () => {
    const id = needTicket();
    const sam = await as('sam');
    const closed = await sam.tickets.close.mutate({ ticketId: id, resolution: 'Replaced the pickup roller.' });
    check(closed.status === 'closed', `the ticket is ${closed.status}`);
    const seen = await ann.tickets.get.query({ ticketId: id });
    check(seen.status === 'closed' && seen.resolution === 'Replaced the pickup roller.', 'ann does not see the ticket closed');
    return `sam closed ${short(id)}: "${closed.resolution}"`;
  });

  await step('covenant ledger verify', 'the whole log, every leaf and every signed checkpoint, checks out with the public key alone', async () => {
    const { ledger } = options;
    const run = await cli(options, [
      'ledger', 'verify',
      '--database', ledger.databaseFile,
      '--origin', ledger.origin,
      '--key-name', ledger.keyName,
      '--public-key', Buffer.from(ledger.publicKey).toString('base64'),
    ]);
    check(run.code === 0, `exit ${run.code}: ${firstLine(run.stderr || run.stdout)}`);
    return firstLine(run.stdout).replace(/^covenant ledger verify: /, '');
  });

  await step('covenant ledger prove <first entry>', 'the tour’s first entry is in the signed log: its inclusion proof verifies offline', async () => {
    if (firstSeq === null) throw new TourCheckFailed('not run: the first step did not find its ledger entry');
    const seq = firstSeq;
    const { ledger } = options;
    const run = await cli(options, [
      'ledger', 'prove', String(seq),
      '--database', ledger.databaseFile,
      '--origin', ledger.origin,
      '--key-name', ledger.keyName,
      '--public-key', Buffer.from(ledger.publicKey).toString('base64'),
    ]);
    check(run.code === 0, `exit ${run.code}: ${firstLine(run.stderr || run.stdout)}`);
    const bundle = JSON.parse(run.stdout) as { leafIndex: number; treeSize: number; proof: string[] };
    check(bundle.leafIndex === seq, `the bundle is for entry #${bundle.leafIndex}`);
    // The entry's bytes come from the API; the bundle from the CLI: the leaf hash ties them together.
    const { entry } = await ada.ledger.prove.query({ seq });
    const verified = verifyBundle(bundle, { name: ledger.keyName, publicKey: ledger.publicKey, origin: ledger.origin }, new TextEncoder().encode(entry));
    check(verified.ok, verified.ok ? '' : `the bundle does not verify offline: ${verified.code}: ${verified.message}`);
    const decoded = JSON.parse(entry) as LedgerEntry;
    return {
      detail: `#${seq} (${decoded.kind} ${decoded.action} by ${decoded.actor?.subject}) is in the tree of ${bundle.treeSize}: ${bundle.proof.length} proof hashes, verified offline`,
      output: run.stdout.trimEnd().split('\n'),
    };
  });

  return {
    runId,
    ok: steps.every((s) => s.ok),
    steps,
    facts: { ticketId, externalRef, firstSeq, refusals, rolledBackEmail, orgIdProbe },
  };
}

/** The `inputDigest` the ledger records for a tickets.create input: the keyed digest of the canonical, redacted, parsed input. */
export function ticketCreateDigest(input: unknown, digester: Digester): string {
  return inputDigestOf(ticketsContract.create, ticketsContract.create['~covenant'].input.parse(input), digester);
}

async function ledgerSize(admin: Client): Promise<number> {
  try {
    return (await admin.ledger.checkpoint.query({})).size;
  } catch (error) {
    if (isCovenantError(error, 'LOG_EMPTY')) return 0;
    throw error;
  }
}

/** Entries appended after a call are found by walking the org's entries from the size before it. */
const MAX_SCAN = 2_000;

async function findEntry(admin: Client, from: number, match: (entry: LedgerEntry) => boolean): Promise<LedgerEntry | null> {
  const size = await ledgerSize(admin);
  for (let seq = from; seq < Math.min(size, from + MAX_SCAN); seq++) {
    let text: string;
    try {
      text = (await admin.ledger.prove.query({ seq })).entry;
    } catch (error) {
      // Another org's entry: not ours to read.
      if (isCovenantError(error, 'ENTRY_NOT_FOUND')) continue;
      throw error;
    }
    const entry = JSON.parse(text) as LedgerEntry;
    if (match(entry)) return entry;
  }
  return null;
}

async function allTickets(api: Client) {
  const all = [];
  let after: string | undefined;
  do {
    const page = await api.tickets.list.query({ limit: 100, ...(after !== undefined ? { after } : {}) });
    all.push(...page.tickets);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return all;
}

async function allCustomers(api: Client) {
  const all = [];
  let after: string | undefined;
  do {
    const page = await api.customers.list.query({ limit: 100, ...(after !== undefined ? { after } : {}) });
    all.push(...page.customers);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return all;
}

async function refusalOf(call: () => Promise<unknown>): Promise<Refusal> {
  try {
    await call();
  } catch (error) {
    if (isCovenantError(error) && error.code !== 'ERR_CLIENT_TRANSPORT') return refusalFrom(error);
    throw error;
  }
  throw new TourCheckFailed('the call succeeded: it must be refused');
}

const refusalFrom = (error: CovenantClientError): Refusal => ({ httpStatus: error.httpStatus, code: error.code, requestId: error.requestId });

/** A tRPC error response read off the wire: `{ error: { data: { code, httpStatus, requestId } } }`. */
async function wireRefusal(response: Response): Promise<Refusal> {
  const body = (await response.json().catch(() => null)) as { error?: { data?: { code?: unknown; requestId?: unknown } } } | null;
  const data = body?.error?.data;
  if (response.ok || typeof data?.code !== 'string') throw new TourCheckFailed(`expected a refusal, got HTTP ${response.status}`);
  return { httpStatus: response.status, code: data.code, requestId: typeof data.requestId === 'string' ? data.requestId : null };
}

async function cli(options: TourOptions, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await covenant(argv, {
    cwd: options.cwd ?? process.cwd(),
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: {},
  });
  return { code, stdout, stderr };
}

/** Ids are long: the first characters are enough to follow one through the report. */
const short = (id: string): string => (id.length > 16 ? `${id.slice(0, 12)}…` : id);

const show = (refusal: Refusal): string => `${refusal.httpStatus} ${refusal.code}`;

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';

function describeError(error: unknown): string {
  if (error instanceof TourCheckFailed) return error.message;
  if (isCovenantError(error)) {
    if (error.code === 'ERR_CLIENT_TRANSPORT') return `the service did not answer (${error.path ?? 'call'})`;
    return `unexpected ${error.httpStatus} ${error.code} from ${error.path ?? 'a call'}${error.requestId ? ` (request ${error.requestId})` : ''}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
