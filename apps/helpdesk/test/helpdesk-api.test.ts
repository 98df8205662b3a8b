import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, leafHash, verifyBundle, verifyCheckpoint, type LedgerEntry } from '@covenant/ledger';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { expectRefused } from './refusals.ts';

// The helpdesk as `npm start` assembles it (createService, the development identity, the demo seed), on a
// temp SQLite file over real HTTP, driven through the generated typed client as the demo users:
// ann (agent acme/support), sam (supervisor acme/support), bob (agent acme/billing), ada (admin acme,
// org-wide), gia (admin globex, org-wide), gus (agent globex/support).

let helpdesk: Helpdesk;
beforeAll(async () => {
  helpdesk = await startHelpdesk();
});
afterAll(() => helpdesk.close());

type Api = Awaited<ReturnType<Helpdesk['as']>>;
type Ticket = Awaited<ReturnType<Api['tickets']['get']['query']>>;
type Customer = Awaited<ReturnType<Api['customers']['get']['query']>>;

/** A short unique tag, so that tests sharing one database never collide on emails or references. */
const tag = (): string => randomUUID().slice(0, 8);

/** Every ledger entry, raw and decoded, after every queued append has committed. */
async function ledgerRows(): Promise<Array<{ seq: number; text: string; entry: LedgerEntry }>> {
  await helpdesk.service.ledger.flush();
  const rows = await helpdesk.service.db.selectFrom('ledger_entries').select(['seq', 'body']).orderBy('seq').execute();
  return rows.map((row) => {
    const bytes = new Uint8Array(row.body);
    return { seq: row.seq, text: new TextDecoder().decode(bytes), entry: decodeEntry(bytes) };
  });
}

async function ledgerSize(): Promise<number> {
  await helpdesk.service.ledger.flush();
  return helpdesk.service.ledger.size();
}

/** The entries appended since `size`. */
async function entriesSince(size: number): Promise<LedgerEntry[]> {
  return (await ledgerRows()).filter((row) => row.seq >= size).map((row) => row.entry);
}

async function entriesOf(requestId: string): Promise<LedgerEntry[]> {
  return (await ledgerRows()).filter((row) => row.entry.requestId === requestId).map((row) => row.entry);
}

/** What a tenant's helpdesk tables hold, straight from the database. */
async function rowsOf(org: string, workspace?: string) {
  const db = helpdesk.service.db;
  const scope = { org, ...(workspace !== undefined ? { workspace } : {}) };
  const customers = await db
    .selectFrom('helpdesk_customers')
    .selectAll()
    .where('org', '=', scope.org)
    .$if(scope.workspace !== undefined, (qb) => qb.where('workspace', '=', scope.workspace!))
    .orderBy('seq')
    .execute();
  const tickets = await db
    .selectFrom('helpdesk_tickets')
    .selectAll()
    .where('org', '=', scope.org)
    .$if(scope.workspace !== undefined, (qb) => qb.where('workspace', '=', scope.workspace!))
    .orderBy('seq')
    .execute();
  const comments = await db
    .selectFrom('helpdesk_comments')
    .selectAll()
    .where('org', '=', scope.org)
    .$if(scope.workspace !== undefined, (qb) => qb.where('workspace', '=', scope.workspace!))
    .orderBy('seq')
    .execute();
  return { customers, tickets, comments };
}

/** A subject bound (by ada, through the API) to the demo `agent` or `supervisor` role in one acme workspace. */
async function staff(role: 'agent' | 'supervisor', workspace: string): Promise<Api> {
  const ada = await helpdesk.as('ada');
  const { roles } = await ada.rbac.roles.list.query({});
  const found = roles.find((r) => r.name === role);
  if (found === undefined) throw new Error(`the seed has no ${role} role`);
  const subject = `${role}-${tag()}`;
  await ada.rbac.bindings.grant.mutate({ subject, roleId: found.id, inWorkspace: workspace, reason: `test: ${role} in ${workspace}` });
  return helpdesk.as({ subject, org: 'acme', workspace });
}

async function newCustomer(api: Api, label = 'Customer'): Promise<Customer> {
  const t = tag();
  return api.customers.create.mutate({ name: `${label} ${t}`, email: `${label.toLowerCase().replace(/\W/g, '')}-${t}@example.com` });
}

async function newTicket(api: Api, subject = `Ticket ${tag()}`): Promise<Ticket> {
  const t = tag();
  return api.tickets.create.mutate({
    customer: { new: { name: `Requester ${t}`, email: `requester-${t}@example.com` } },
    subject,
    body: 'It does not work.',
  });
}

/** Every page of a list, following `next` with `limit`. */
async function allPages<T>(fetchPage: (after: string | undefined) => Promise<{ items: T[]; next: string | null }>): Promise<T[][]> {
  const pages: T[][] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i += 1) {
    const { items, next } = await fetchPage(after);
    pages.push(items);
    if (next === null) return pages;
    after = next;
  }
  throw new Error('pagination did not end');
}

describe('customers', () => {
  it('creates a customer (email stored lower-case) and reads it back by id', async () => {
    const ann = await helpdesk.as('ann');
    const t = tag();
    const created = await ann.customers.create.mutate({ name: `  Hedy Lamarr ${t}  `, email: `Hedy.${t}@Example.COM`, phone: '+1 (555) 010-2030' });
    expect(created).toEqual({
      id: expect.stringMatching(/^cus_[A-Za-z0-9-]+$/),
      name: `Hedy Lamarr ${t}`,
      email: `hedy.${t}@example.com`,
      phone: '+1 (555) 010-2030',
      createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    await expect(ann.customers.get.query({ customerId: created.id })).resolves.toEqual(created);
    const withoutPhone = await ann.customers.create.mutate({ name: `No Phone ${t}`, email: `nophone-${t}@example.com` });
    expect(withoutPhone.phone).toBeNull();
    // The same workspace's supervisor sees the agent's customers.
    await expect((await helpdesk.as('sam')).customers.get.query({ customerId: created.id })).resolves.toEqual(created);
  });

  it('refuses a second customer with the same email, compared case-insensitively (409 EMAIL_TAKEN), and keeps one row', async () => {
    const ann = await helpdesk.as('ann');
    const t = tag();
    const first = await ann.customers.create.mutate({ name: 'First', email: `dup-${t}@example.com` });
    for (const email of [`dup-${t}@example.com`, `DUP-${t}@EXAMPLE.com`, `Dup-${t}@Example.Com`]) {
      await expectRefused(ann.customers.create.mutate({ name: 'Second', email }), 409, 'EMAIL_TAKEN');
    }
    const rows = (await rowsOf('acme', 'support')).customers.filter((c) => c.email === `dup-${t}@example.com`);
    expect(rows.map((r) => r.id)).toEqual([first.id]);
    // Emails are unique per workspace: billing may have a customer with the same address.
    const bob = await helpdesk.as('bob');
    const other = await bob.customers.create.mutate({ name: 'Elsewhere', email: `DUP-${t}@example.com` });
    expect(other.id).not.toBe(first.id);
  });

  it('lists the workspace’s customers oldest first, in pages of `limit`, with `after` as the cursor and `next` null at the end', async () => {
    const agent = await staff('agent', `pages-${tag()}`);
    await expect(agent.customers.list.query({})).resolves.toEqual({ customers: [], next: null });
    const created: Customer[] = [];
    for (let i = 0; i < 5; i += 1) created.push(await newCustomer(agent, `Paged${i}`));
    const ids = created.map((c) => c.id);

    const all = await agent.customers.list.query({});
    expect(all).toEqual({ customers: created, next: null });

    const first = await agent.customers.list.query({ limit: 2 });
    expect(first).toEqual({ customers: created.slice(0, 2), next: ids[1] });
    const second = await agent.customers.list.query({ limit: 2, after: first.next! });
    expect(second).toEqual({ customers: created.slice(2, 4), next: ids[3] });
    const third = await agent.customers.list.query({ limit: 2, after: second.next! });
    expect(third).toEqual({ customers: created.slice(4), next: null });
    // A page that ends exactly at the last row has no next page.
    await expect(agent.customers.list.query({ limit: 5 })).resolves.toEqual({ customers: created, next: null });
    await expect(agent.customers.list.query({ after: ids[4]! })).resolves.toEqual({ customers: [], next: null });

    const pages = await allPages(async (after) => {
      const page = await agent.customers.list.query({ limit: 3, ...(after !== undefined ? { after } : {}) });
      return { items: page.customers.map((c) => c.id), next: page.next };
    });
    expect(pages).toEqual([ids.slice(0, 3), ids.slice(3)]);
  });

  it('refuses an org-wide token (ada) creating customers or tickets: 400 WORKSPACE_REQUIRED, nothing written', async () => {
    const ada = await helpdesk.as('ada');
    const before = await rowsOf('acme');
    const t = tag();
    await expectRefused(ada.customers.create.mutate({ name: 'Org Wide', email: `orgwide-${t}@example.com` }), 400, 'WORKSPACE_REQUIRED');
    await expectRefused(
      ada.tickets.create.mutate({ customer: { new: { name: 'Org Wide', email: `orgwide-${t}@example.com` } }, subject: 'x', body: 'y' }),
      400,
      'WORKSPACE_REQUIRED',
    );
    const existing = before.customers[0]!;
    await expectRefused(ada.tickets.create.mutate({ customer: { id: existing.id }, subject: 'x', body: 'y' }), 400, 'WORKSPACE_REQUIRED');
    expect(await rowsOf('acme')).toEqual(before);
  });

  it('audits reads of customers (intent, then an ok outcome), and neither the ledger nor the logs ever hold the name, email or phone', async () => {
    const ann = await helpdesk.as('ann');
    const t = tag();
    const pii = { name: `Ximena Quarrel ${t}`, email: `ximena.quarrel.${t}@pii.example.org`, phone: `+44 20 7946 ${String(Math.abs(Number.parseInt(t, 16)) % 10_000).padStart(4, '0')}` };
    const size = await ledgerSize();
    const customer = await ann.customers.create.mutate(pii);
    await ann.customers.get.query({ customerId: customer.id });
    await ann.customers.list.query({ limit: 100 });
    const ticket = await ann.tickets.create.mutate({ customer: { id: customer.id }, subject: `Call ${pii.name}`, body: `Reach me at ${pii.email} or ${pii.phone}` });
    await ann.comments.add.mutate({ ticketId: ticket.id, body: `Spoke to ${pii.name} on ${pii.phone}` });
    // Refused calls too: the declared error and the input-validation path.
    await expectRefused(ann.customers.create.mutate(pii), 409, 'EMAIL_TAKEN');
    await expectRefused(ann.customers.create.mutate({ ...pii, email: `${pii.name}` }), 400, 'ERR_INPUT_INVALID');

    const entries = await entriesSince(size);
    const reads = entries.filter((e) => e.action === 'customers.get' || e.action === 'customers.list');
    expect(reads.map((e) => [e.action, e.kind, e.outcome])).toEqual([
      ['customers.get', 'intent', null],
      ['customers.get', 'outcome', 'ok'],
      ['customers.list', 'intent', null],
      ['customers.list', 'outcome', 'ok'],
    ]);
    expect(reads[0]).toMatchObject({
      actor: { subject: 'ann' },
      tenant: { org: 'acme', workspace: 'support' },
      resource: { type: 'customer', id: customer.id },
      inputDigest: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/),
      data: { call: 'query' },
    });
    expect(reads[1]!.requestId).toBe(reads[0]!.requestId);
    expect(reads[3]!.requestId).toBe(reads[2]!.requestId);
    expect(reads[2]).toMatchObject({ actor: { subject: 'ann' }, tenant: { org: 'acme', workspace: 'support' }, resource: null });

    const needles = [pii.name, pii.email, pii.email.toLowerCase(), pii.phone, `Ximena`, `quarrel.${t}`, pii.phone.replace(/\s/g, '')];
    const ledgerText = (await ledgerRows()).map((row) => row.text).join('\n');
    const logText = helpdesk.logs.join('\n');
    expect(logText.length).toBeGreaterThan(0);
    for (const needle of needles) {
      expect(ledgerText).not.toContain(needle);
      expect(logText).not.toContain(needle);
    }
  });
});

describe('tickets', () => {
  it('opens a ticket for an existing customer: open, normal priority, unassigned, the body as its first comment', async () => {
    const ann = await helpdesk.as('ann');
    const customer = await newCustomer(ann);
    const ticket = await ann.tickets.create.mutate({ customer: { id: customer.id }, subject: '  Screen flickers  ', body: 'Since Monday.' });
    expect(ticket).toEqual({
      id: expect.stringMatching(/^tkt_[A-Za-z0-9-]+$/),
      customerId: customer.id,
      subject: 'Screen flickers',
      status: 'open',
      priority: 'normal',
      assignee: null,
      externalRef: null,
      resolution: null,
      createdAt: expect.any(String),
      updatedAt: ticket.createdAt,
    });
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(ticket);
    const { comments } = await ann.comments.list.query({ ticketId: ticket.id });
    expect(comments).toEqual([
      { id: expect.stringMatching(/^cmt_/), ticketId: ticket.id, author: 'ann', body: 'Since Monday.', internal: false, createdAt: ticket.createdAt },
    ]);
  });

  it('opens a ticket for a new customer created in the same call', async () => {
    const ann = await helpdesk.as('ann');
    const t = tag();
    const before = (await ann.customers.list.query({ limit: 100 })).customers.length;
    const ticket = await ann.tickets.create.mutate({
      customer: { new: { name: `Katherine Johnson ${t}`, email: `KJ-${t}@example.com`, phone: '+1 555 0142' } },
      subject: 'Orbit maths',
      body: 'Please double-check.',
      priority: 'urgent',
      externalRef: `NASA-${t}`,
    });
    expect(ticket).toMatchObject({ status: 'open', priority: 'urgent', externalRef: `NASA-${t}` });
    const customer = await ann.customers.get.query({ customerId: ticket.customerId });
    expect(customer).toMatchObject({ name: `Katherine Johnson ${t}`, email: `kj-${t}@example.com`, phone: '+1 555 0142' });
    expect((await ann.customers.list.query({ limit: 100 })).customers.length).toBe(before + 1);
  });

  it('refuses a new customer whose email is taken (409 EMAIL_TAKEN): neither the ticket nor a customer is written', async () => {
    const ann = await helpdesk.as('ann');
    const existing = await newCustomer(ann);
    const before = await rowsOf('acme', 'support');
    await expectRefused(
      ann.tickets.create.mutate({ customer: { new: { name: 'Again', email: existing.email.toUpperCase() } }, subject: 'x', body: 'y' }),
      409,
      'EMAIL_TAKEN',
    );
    expect(await rowsOf('acme', 'support')).toEqual(before);
  });

  it('lists tickets oldest first, filtered by status, in pages', async () => {
    const workspace = `tickets-${tag()}`;
    const lead = await staff('supervisor', workspace);
    const made: Ticket[] = [];
    for (let i = 0; i < 5; i += 1) made.push(await newTicket(lead, `Paged ticket ${i}`));
    const closed = [made[1]!, made[3]!];
    for (const t of closed) await lead.tickets.close.mutate({ ticketId: t.id, resolution: 'Done' });
    const open = [made[0]!, made[2]!, made[4]!];

    const ids = (list: { tickets: Ticket[] }) => list.tickets.map((t) => t.id);
    expect(ids(await lead.tickets.list.query({}))).toEqual(made.map((t) => t.id));
    expect(ids(await lead.tickets.list.query({ status: 'open' }))).toEqual(open.map((t) => t.id));
    const closedList = await lead.tickets.list.query({ status: 'closed' });
    expect(closedList.tickets.map((t) => [t.id, t.status, t.resolution])).toEqual(closed.map((t) => [t.id, 'closed', 'Done']));
    expect(closedList.next).toBeNull();

    const first = await lead.tickets.list.query({ status: 'open', limit: 2 });
    expect(ids(first)).toEqual([open[0]!.id, open[1]!.id]);
    expect(first.next).toBe(open[1]!.id);
    const second = await lead.tickets.list.query({ status: 'open', limit: 2, after: first.next! });
    expect(second).toMatchObject({ next: null });
    expect(ids(second)).toEqual([open[2]!.id]);

    const pages = await allPages(async (after) => {
      const page = await lead.tickets.list.query({ limit: 2, ...(after !== undefined ? { after } : {}) });
      return { items: page.tickets.map((t) => t.id), next: page.next };
    });
    expect(pages).toEqual([
      [made[0]!.id, made[1]!.id],
      [made[2]!.id, made[3]!.id],
      [made[4]!.id],
    ]);
  });

  it('updates subject, priority and assignee (null unassigns); after close an update is 409 TICKET_CLOSED and changes nothing', async () => {
    const ann = await helpdesk.as('ann');
    const sam = await helpdesk.as('sam');
    const ticket = await newTicket(ann);
    const renamed = await ann.tickets.update.mutate({ ticketId: ticket.id, subject: ' Renamed ' });
    expect(renamed).toMatchObject({ id: ticket.id, subject: 'Renamed', priority: 'normal', assignee: null });
    const reprioritised = await ann.tickets.update.mutate({ ticketId: ticket.id, priority: 'high', assignee: 'sam' });
    expect(reprioritised).toMatchObject({ subject: 'Renamed', priority: 'high', assignee: 'sam' });
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(reprioritised);
    const unassigned = await ann.tickets.update.mutate({ ticketId: ticket.id, assignee: null });
    expect(unassigned).toMatchObject({ subject: 'Renamed', priority: 'high', assignee: null, status: 'open' });
    // An update with nothing to change keeps every field.
    const untouched = await ann.tickets.update.mutate({ ticketId: ticket.id });
    expect({ ...untouched, updatedAt: '' }).toEqual({ ...unassigned, updatedAt: '' });

    const closed = await sam.tickets.close.mutate({ ticketId: ticket.id, resolution: 'Fixed the cable' });
    await expectRefused(ann.tickets.update.mutate({ ticketId: ticket.id, subject: 'Reopened?' }), 409, 'TICKET_CLOSED');
    await expectRefused(sam.tickets.update.mutate({ ticketId: ticket.id, priority: 'low' }), 409, 'TICKET_CLOSED');
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(closed);
  });

  it('closing takes tickets.close: agent ann gets 403 ERR_AUTHZ_DENIED, supervisor sam closes it; closing twice is 409', async () => {
    const ann = await helpdesk.as('ann');
    const sam = await helpdesk.as('sam');
    const ticket = await newTicket(ann);
    await expectRefused(ann.tickets.close.mutate({ ticketId: ticket.id, resolution: 'I would like to' }), 403, 'ERR_AUTHZ_DENIED');
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(ticket);
    const closed = await sam.tickets.close.mutate({ ticketId: ticket.id, resolution: '  Replaced toner  ' });
    expect(closed).toMatchObject({ id: ticket.id, status: 'closed', resolution: 'Replaced toner', subject: ticket.subject });
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(closed);
    await expectRefused(sam.tickets.close.mutate({ ticketId: ticket.id, resolution: 'Again' }), 409, 'TICKET_CLOSED');
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(closed);
  });

  it('DUPLICATE_REFERENCE (409) rolls back the customer created in the same call, and the ledger records the failed outcome', async () => {
    const ann = await helpdesk.as('ann');
    const ref = `INC-${tag()}`;
    const original = await ann.tickets.create.mutate({ customer: { id: (await newCustomer(ann)).id }, subject: 'First', body: 'x', externalRef: ref });
    expect(original.externalRef).toBe(ref);
    const customersBefore = await ann.customers.list.query({ limit: 100 });
    const rowsBefore = await rowsOf('acme');
    const email = `rolled-back-${tag()}@example.com`;

    const error = await expectRefused(
      ann.tickets.create.mutate({ customer: { new: { name: 'Rolled Back', email } }, subject: 'Second', body: 'y', externalRef: ref }),
      409,
      'DUPLICATE_REFERENCE',
    );
    expect(await ann.customers.list.query({ limit: 100 })).toEqual(customersBefore);
    expect(await rowsOf('acme')).toEqual(rowsBefore);
    expect((await helpdesk.service.db.selectFrom('helpdesk_customers').select('id').where('email', '=', email).execute())).toEqual([]);
    // The email is free again: the customer really was not kept.
    await expect(ann.customers.create.mutate({ name: 'Rolled Back', email })).resolves.toMatchObject({ email });

    const entries = await entriesOf(error.requestId!);
    expect(entries.map((e) => [e.kind, e.action, e.outcome, e.data])).toEqual([
      ['intent', 'tickets.create', null, { call: 'mutation' }],
      ['outcome', 'tickets.create', 'failed', { code: 'DUPLICATE_REFERENCE' }],
    ]);
    expect(entries[1]).toMatchObject({ actor: { subject: 'ann' }, tenant: { org: 'acme', workspace: 'support' } });

    // The reference is unique in the org, across its workspaces.
    const bob = await helpdesk.as('bob');
    await expectRefused(bob.tickets.create.mutate({ customer: { id: (await newCustomer(bob)).id }, subject: 'x', body: 'y', externalRef: ref }), 409, 'DUPLICATE_REFERENCE');
    // …but another org may use it.
    const gus = await helpdesk.as('gus');
    await expect(gus.tickets.create.mutate({ customer: { id: (await newCustomer(gus)).id }, subject: 'x', body: 'y', externalRef: ref })).resolves.toMatchObject({ externalRef: ref });
  });

  it('CUSTOMER_NOT_FOUND (404) for a customer id of another org or another workspace, or one that does not exist', async () => {
    const ann = await helpdesk.as('ann');
    const globexCustomer = await newCustomer(await helpdesk.as('gus'));
    const billingCustomer = await newCustomer(await helpdesk.as('bob'));
    const before = await rowsOf('acme');
    const beforeGlobex = await rowsOf('globex');
    for (const id of [globexCustomer.id, billingCustomer.id, 'cus_does-not-exist']) {
      await expectRefused(ann.tickets.create.mutate({ customer: { id }, subject: 'x', body: 'y' }), 404, 'CUSTOMER_NOT_FOUND');
    }
    expect(await rowsOf('acme')).toEqual(before);
    expect(await rowsOf('globex')).toEqual(beforeGlobex);
  });
});

describe('comments', () => {
  it('adds replies and internal notes, listed oldest first', async () => {
    const ann = await helpdesk.as('ann');
    const sam = await helpdesk.as('sam');
    const ticket = await newTicket(ann);
    const reply = await ann.comments.add.mutate({ ticketId: ticket.id, body: '  We are on it.  ' });
    expect(reply).toEqual({ id: expect.stringMatching(/^cmt_/), ticketId: ticket.id, author: 'ann', body: 'We are on it.', internal: false, createdAt: expect.any(String) });
    const note = await sam.comments.add.mutate({ ticketId: ticket.id, body: 'Customer is a VIP', internal: true });
    expect(note).toMatchObject({ author: 'sam', internal: true });
    const explicit = await ann.comments.add.mutate({ ticketId: ticket.id, body: 'Public again', internal: false });
    expect(explicit.internal).toBe(false);

    const { comments } = await sam.comments.list.query({ ticketId: ticket.id });
    expect(comments.map((c) => [c.author, c.body, c.internal])).toEqual([
      ['ann', 'It does not work.', false],
      ['ann', 'We are on it.', false],
      ['sam', 'Customer is a VIP', true],
      ['ann', 'Public again', false],
    ]);
    expect(comments.slice(1)).toEqual([reply, note, explicit]);
    // Adding a comment touches the ticket.
    expect((await ann.tickets.get.query({ ticketId: ticket.id })).updatedAt).toBe(explicit.createdAt);
  });

  it('refuses a comment on a closed ticket (409 TICKET_CLOSED); the conversation stays readable and unchanged', async () => {
    const ann = await helpdesk.as('ann');
    const ticket = await newTicket(ann);
    await (await helpdesk.as('sam')).tickets.close.mutate({ ticketId: ticket.id, resolution: 'Solved' });
    const before = await ann.comments.list.query({ ticketId: ticket.id });
    await expectRefused(ann.comments.add.mutate({ ticketId: ticket.id, body: 'One more thing' }), 409, 'TICKET_CLOSED');
    await expectRefused(ann.comments.add.mutate({ ticketId: ticket.id, body: 'Note', internal: true }), 409, 'TICKET_CLOSED');
    await expect(ann.comments.list.query({ ticketId: ticket.id })).resolves.toEqual(before);
    expect(before.comments).toHaveLength(1);
  });

  it('TICKET_NOT_FOUND (404) for a ticket that does not exist', async () => {
    const ann = await helpdesk.as('ann');
    await expectRefused(ann.comments.add.mutate({ ticketId: 'tkt_nope', body: 'Hello' }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(ann.comments.list.query({ ticketId: 'tkt_nope' }), 404, 'TICKET_NOT_FOUND');
  });
});

describe('tenancy', () => {
  /** Every by-id procedure, as `intruder`, on `victim`'s ticket and customer: the declared not-found code each time. */
  async function probeById(intruder: Api, closer: Api, ticket: Ticket, customer: Customer): Promise<void> {
    await expectRefused(intruder.tickets.get.query({ ticketId: ticket.id }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(intruder.tickets.update.mutate({ ticketId: ticket.id, subject: 'Hijacked', priority: 'low', assignee: 'mallory' }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(intruder.comments.add.mutate({ ticketId: ticket.id, body: 'Hijacked' }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(intruder.comments.add.mutate({ ticketId: ticket.id, body: 'Hijacked', internal: true }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(intruder.comments.list.query({ ticketId: ticket.id }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(closer.tickets.close.mutate({ ticketId: ticket.id, resolution: 'Hijacked' }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(intruder.customers.get.query({ customerId: customer.id }), 404, 'CUSTOMER_NOT_FOUND');
    await expectRefused(intruder.customers.get.query({ customerId: ticket.customerId }), 404, 'CUSTOMER_NOT_FOUND');
  }

  it('across orgs: globex (gus, and gia for close) gets the declared not-found code for every by-id call on acme’s rows, and nothing changes', async () => {
    const ann = await helpdesk.as('ann');
    const opened = await newTicket(ann);
    await ann.comments.add.mutate({ ticketId: opened.id, body: 'Acme only' });
    const ticket = await ann.tickets.get.query({ ticketId: opened.id });
    const customer = await newCustomer(ann);
    const before = { acme: await rowsOf('acme'), globex: await rowsOf('globex') };
    const gus = await helpdesk.as('gus');
    await probeById(gus, await helpdesk.as('gia'), ticket, customer);
    await probeById(await helpdesk.as('gia'), await helpdesk.as('gia'), ticket, customer);
    await expectRefused(gus.tickets.create.mutate({ customer: { id: customer.id }, subject: 'x', body: 'y' }), 404, 'CUSTOMER_NOT_FOUND');
    // gus may not close anything: the same 403 for acme's ticket as for a ticket that does not exist.
    const denied = await expectRefused(gus.tickets.close.mutate({ ticketId: ticket.id, resolution: 'x' }), 403, 'ERR_AUTHZ_DENIED');
    const deniedMissing = await expectRefused(gus.tickets.close.mutate({ ticketId: 'tkt_missing', resolution: 'x' }), 403, 'ERR_AUTHZ_DENIED');
    expect(denied.message).toBe(deniedMissing.message);
    expect({ acme: await rowsOf('acme'), globex: await rowsOf('globex') }).toEqual(before);
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(ticket);
  });

  it('across workspaces: bob (acme/billing, and a billing supervisor for close) gets the declared not-found code on ann’s acme/support rows', async () => {
    const ann = await helpdesk.as('ann');
    const ticket = await newTicket(ann);
    const customer = await newCustomer(ann);
    const before = await rowsOf('acme');
    const bob = await helpdesk.as('bob');
    await probeById(bob, await staff('supervisor', 'billing'), ticket, customer);
    await expectRefused(bob.tickets.create.mutate({ customer: { id: customer.id }, subject: 'x', body: 'y' }), 404, 'CUSTOMER_NOT_FOUND');
    await expectRefused(bob.tickets.close.mutate({ ticketId: ticket.id, resolution: 'x' }), 403, 'ERR_AUTHZ_DENIED');
    expect(await rowsOf('acme')).toEqual(before);
    await expect(ann.tickets.get.query({ ticketId: ticket.id })).resolves.toEqual(ticket);
    await expect(ann.customers.get.query({ customerId: customer.id })).resolves.toEqual(customer);
  });

  it('lists never contain another tenant’s rows', async () => {
    const users = ['ann', 'sam', 'bob', 'gus'] as const;
    const made: Record<string, { ticket: Ticket; customer: Customer }> = {};
    for (const user of users) {
      const api = await helpdesk.as(user);
      made[user] = { ticket: await newTicket(api), customer: await newCustomer(api) };
    }
    const home: Record<(typeof users)[number], { org: string; workspace: string }> = {
      ann: { org: 'acme', workspace: 'support' },
      sam: { org: 'acme', workspace: 'support' },
      bob: { org: 'acme', workspace: 'billing' },
      gus: { org: 'globex', workspace: 'support' },
    };
    for (const user of users) {
      const api = await helpdesk.as(user);
      const tickets = (await allPages(async (after) => {
        const page = await api.tickets.list.query({ limit: 100, ...(after !== undefined ? { after } : {}) });
        return { items: page.tickets.map((t) => t.id), next: page.next };
      })).flat();
      const customers = (await allPages(async (after) => {
        const page = await api.customers.list.query({ limit: 100, ...(after !== undefined ? { after } : {}) });
        return { items: page.customers.map((c) => c.id), next: page.next };
      })).flat();
      const mine = await rowsOf(home[user].org, home[user].workspace);
      // Exactly the rows of the caller's own org and workspace, as the database holds them.
      expect(tickets).toEqual(mine.tickets.map((t) => t.id));
      expect(customers).toEqual(mine.customers.map((c) => c.id));
      for (const other of users) {
        const same = home[other].org === home[user].org && home[other].workspace === home[user].workspace;
        expect(tickets.includes(made[other]!.ticket.id)).toBe(same);
        expect(customers.includes(made[other]!.customer.id)).toBe(same);
      }
    }
  });

  it('an org-wide admin token (ada) reads tickets of every workspace of acme, and none of globex', async () => {
    const support = await newTicket(await helpdesk.as('ann'));
    const billing = await newTicket(await helpdesk.as('bob'));
    const globex = await newTicket(await helpdesk.as('gus'));
    const ada = await helpdesk.as('ada');
    const listed = (await allPages(async (after) => {
      const page = await ada.tickets.list.query({ limit: 100, ...(after !== undefined ? { after } : {}) });
      return { items: page.tickets, next: page.next };
    })).flat();
    expect(listed.map((t) => t.id)).toEqual((await rowsOf('acme')).tickets.map((t) => t.id));
    expect(listed.map((t) => t.id)).toEqual(expect.arrayContaining([support.id, billing.id]));
    expect(listed.map((t) => t.id)).not.toContain(globex.id);
    await expect(ada.tickets.get.query({ ticketId: support.id })).resolves.toEqual(support);
    await expect(ada.tickets.get.query({ ticketId: billing.id })).resolves.toEqual(billing);
    await expect(ada.comments.list.query({ ticketId: billing.id })).resolves.toMatchObject({ comments: [{ author: 'bob' }] });
    await expect(ada.customers.get.query({ customerId: billing.customerId })).resolves.toMatchObject({ id: billing.customerId });
    await expectRefused(ada.tickets.get.query({ ticketId: globex.id }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(ada.comments.list.query({ ticketId: globex.id }), 404, 'TICKET_NOT_FOUND');
    await expectRefused(ada.customers.get.query({ customerId: globex.customerId }), 404, 'CUSTOMER_NOT_FOUND');
    // And the same the other way round for globex's admin.
    const gia = await helpdesk.as('gia');
    const giaList = (await gia.tickets.list.query({ limit: 100 })).tickets.map((t) => t.id);
    expect(giaList).toContain(globex.id);
    expect(giaList).not.toContain(support.id);
    expect(giaList).not.toContain(billing.id);
  });

  it('a pagination cursor of another tenant matches nothing', async () => {
    const ann = await helpdesk.as('ann');
    // Rows of other tenants made after ann's: a cursor lookup across tenants would page into ann's newer rows.
    const foreignFirst = { gus: await newTicket(await helpdesk.as('gus')), bob: await newTicket(await helpdesk.as('bob')) };
    const foreignCustomers = { gus: await newCustomer(await helpdesk.as('gus')), bob: await newCustomer(await helpdesk.as('bob')) };
    await newTicket(ann);
    await newCustomer(ann);
    for (const ticket of Object.values(foreignFirst)) {
      await expect(ann.tickets.list.query({ after: ticket.id })).resolves.toEqual({ tickets: [], next: null });
      await expect(ann.tickets.list.query({ after: ticket.id, status: 'open', limit: 1 })).resolves.toEqual({ tickets: [], next: null });
    }
    for (const customer of Object.values(foreignCustomers)) {
      await expect(ann.customers.list.query({ after: customer.id })).resolves.toEqual({ customers: [], next: null });
    }
    // An acme/support cursor used by gus matches nothing either.
    const gus = await helpdesk.as('gus');
    const annFirst = (await ann.tickets.list.query({ limit: 1 })).tickets[0]!;
    await expect(gus.tickets.list.query({ after: annFirst.id })).resolves.toEqual({ tickets: [], next: null });
  });
});

describe('the ledger platform contract', () => {
  const key = () => ({ name: helpdesk.signer.name, publicKey: helpdesk.signer.publicKey, origin: helpdesk.signer.name });

  it('a session limited to a workspace reads that workspace only: other workspaces’ entries are not found, their bindings and changes not listed', async () => {
    const ada = await helpdesk.as('ada');
    const auditor = await ada.rbac.roles.create.mutate({
      name: `ws-auditor-${tag()}`,
      capabilities: ['ledger.read', 'rbac.bindings.read', 'rbac.changes.read'],
      reason: 'auditors of one workspace',
    });
    const auditorOf = `aud-${tag()}`;
    await ada.rbac.bindings.grant.mutate({ subject: auditorOf, roleId: auditor.id, inWorkspace: 'support', reason: 'an auditor of support' });
    const annInSupport = await helpdesk.as({ subject: auditorOf, org: 'acme', workspace: 'support' });
    const from = await ledgerSize();
    await newTicket(await helpdesk.as('bob')); // acme/billing
    await newTicket(await helpdesk.as('ann')); // acme/support
    const written = await entriesSince(from);
    const billing = written.find((e) => e.kind === 'intent' && e.tenant?.workspace === 'billing')!;
    const support = written.find((e) => e.kind === 'intent' && e.tenant?.workspace === 'support')!;
    await expect(annInSupport.ledger.prove.query({ seq: billing.seq })).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
    await expect(annInSupport.ledger.prove.query({ seq: support.seq })).resolves.toMatchObject({ bundle: { leafIndex: support.seq } });
    // ada (org-wide) still proves both.
    await expect(ada.ledger.prove.query({ seq: billing.seq })).resolves.toMatchObject({ bundle: { leafIndex: billing.seq } });

    const { bindings } = await annInSupport.rbac.bindings.list.query({});
    expect(bindings.length).toBeGreaterThan(0);
    expect(new Set(bindings.map((b) => b.workspace))).toEqual(new Set(['support']));
    expect((await ada.rbac.bindings.list.query({})).bindings.some((b) => b.workspace !== 'support')).toBe(true);
    const { changes } = await annInSupport.rbac.changes.list.query({ limit: 200 });
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) expect(JSON.stringify([change.before, change.after])).not.toMatch(/"workspace":"billing"|"workspace":null/);
  });

  it('ledger.checkpoint returns a signed note that verifies with the public key alone', async () => {
    const ada = await helpdesk.as('ada');
    const size = await ledgerSize();
    const { size: reported, note } = await ada.ledger.checkpoint.query({});
    expect(reported).toBeGreaterThanOrEqual(size);
    const verified = verifyCheckpoint(note, key());
    expect(verified).toMatchObject({ ok: true, checkpoint: { origin: helpdesk.signer.name, size: reported } });
    // A note altered in transit does not verify.
    expect(verifyCheckpoint(note.replace(`\n${reported}\n`, `\n${reported + 1}\n`), key()).ok).toBe(false);
  });

  it('ledger.prove returns an entry of the caller’s org and a bundle that verifies offline; the entry hashes to the leaf', async () => {
    const ada = await helpdesk.as('ada');
    await newTicket(await helpdesk.as('ann'));
    const acme = (await ledgerRows()).filter((row) => row.entry.tenant?.org === 'acme');
    expect(acme.length).toBeGreaterThan(2);
    for (const row of [acme[0]!, acme[acme.length - 1]!]) {
      const { entry, bundle } = await ada.ledger.prove.query({ seq: row.seq });
      expect(entry).toBe(row.text);
      const bytes = new TextEncoder().encode(entry);
      expect(verifyBundle(bundle, key(), bytes)).toMatchObject({ ok: true, leafIndex: row.seq });
      expect(bundle.leafIndex).toBe(row.seq);
      expect(bundle.leafHash).toBe(Buffer.from(leafHash(bytes)).toString('base64'));
      expect(decodeEntry(bytes)).toMatchObject({ seq: row.seq, tenant: { org: 'acme' } });
      // Another entry's bytes do not match the proven leaf.
      const other = new TextEncoder().encode((await ledgerRows()).find((r) => r.seq !== row.seq)!.text);
      expect(verifyBundle(bundle, key(), other).ok).toBe(false);
    }
    // The same for globex's admin and a globex entry.
    const globex = (await ledgerRows()).filter((row) => row.entry.tenant?.org === 'globex');
    const proof = await (await helpdesk.as('gia')).ledger.prove.query({ seq: globex[0]!.seq });
    expect(verifyBundle(proof.bundle, key(), new TextEncoder().encode(proof.entry))).toMatchObject({ ok: true });
  });

  it('ledger.prove of a globex entry as an acme user, or of an entry that does not exist, is 404 ENTRY_NOT_FOUND', async () => {
    const ada = await helpdesk.as('ada');
    const rows = await ledgerRows();
    const globex = rows.filter((row) => row.entry.tenant?.org === 'globex');
    expect(globex.length).toBeGreaterThan(0);
    const notFound = await expectRefused(ada.ledger.prove.query({ seq: globex[0]!.seq }), 404, 'ENTRY_NOT_FOUND');
    const size = await ledgerSize();
    for (const seq of [size, size + 1, size + 1_000_000, Number.MAX_SAFE_INTEGER]) {
      const missing = await expectRefused(ada.ledger.prove.query({ seq }), 404, 'ENTRY_NOT_FOUND');
      // Another org's entry and a missing one look alike.
      expect(missing.message).toBe(notFound.message);
    }
    await expectRefused((await helpdesk.as('gia')).ledger.prove.query({ seq: rows.find((row) => row.entry.tenant?.org === 'acme')!.seq }), 404, 'ENTRY_NOT_FOUND');
  });

  it('a user without ledger.read (ann, sam) gets 403', async () => {
    for (const user of ['ann', 'sam'] as const) {
      const api = await helpdesk.as(user);
      await expectRefused(api.ledger.checkpoint.query({}), 403, 'ERR_AUTHZ_DENIED');
      await expectRefused(api.ledger.prove.query({ seq: 0 }), 403, 'ERR_AUTHZ_DENIED');
    }
  });
});
