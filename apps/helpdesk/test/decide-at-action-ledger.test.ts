import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeEntry, type LedgerEntry } from '@covenant/ledger';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { holdRequest, until } from './held-request.ts';

/**
 * Issue 12 §1 on the real service (RBAC store, audit ledger, SQLite): a caller sends the headers, loses
 * its rights while it holds the body back, then sends it. Measured before the fix: the action ran 3 s,
 * 120 s and 310 s after the revoke, and a removed admin's held `rbac.bindings.revoke` deleted another
 * user's binding. Now it is refused at the action: 403, nothing written, a denial on the ledger and no
 * intent.
 */

let helpdesk: Helpdesk;
beforeAll(async () => {
  helpdesk = await startHelpdesk();
});
afterAll(async () => {
  await helpdesk?.close();
});

async function entries(): Promise<LedgerEntry[]> {
  await helpdesk.service.ledger.flush();
  const rows = await helpdesk.service.db.selectFrom('ledger_entries').select(['body']).orderBy('seq').execute();
  return rows.map((row) => decodeEntry(new Uint8Array(row.body)));
}

/** Holds `path`'s body until the RBAC store has answered the entry checks of its `calls` calls (allowed). */
async function heldPastEntry(path: string, user: string, body: unknown, calls = 1) {
  const check = vi.spyOn(helpdesk.service.rbac, 'check');
  try {
    const held = await holdRequest(helpdesk.url, path, { token: await helpdesk.token(user), body });
    await until(() => check.mock.settledResults.length >= calls);
    for (const result of check.mock.settledResults) expect(result).toMatchObject({ type: 'fulfilled', value: { allowed: true } });
    return held;
  } finally {
    check.mockRestore();
  }
}

/** ada (acme's admin) removes every binding of `subject`; returns them. */
async function removeBindings(subject: string) {
  const ada = await helpdesk.as('ada');
  const { bindings } = await ada.rbac.bindings.list.query({ subject });
  for (const binding of bindings) await ada.rbac.bindings.revoke.mutate({ bindingId: binding.id, reason: `test: ${subject} leaves` });
  return bindings;
}

/** What the ledger holds for one request id: no intent, no outcome, and the denials of the action. */
async function recorded(requestId: string) {
  return (await entries()).filter((entry) => entry.requestId === requestId).map((entry) => ({ kind: entry.kind, action: entry.action, actor: entry.actor?.subject, data: entry.data }));
}

describe('the action is decided when the body has arrived, on the real service', () => {
  it('a resource-less mutation (tickets.create): its role revoked while the body is held → 403, no ticket, a denial, no intent', async () => {
    const subject = `held ${randomUUID()}`;
    const ada = await helpdesk.as('ada');
    // ann's own binding is left alone; dee is an agent made for this test.
    const { roles } = await ada.rbac.roles.list.query({});
    const agent = roles.find((role) => role.name === 'agent')!;
    await ada.rbac.bindings.grant.mutate({ subject: 'dee', roleId: agent.id, inWorkspace: 'support', reason: 'test: a new agent' });
    const dee = { subject: 'dee', org: 'acme', workspace: 'support' };
    const body = { customer: { new: { name: 'Pat', email: `pat-${randomUUID()}@example.com` } }, subject, body: 'held back' };

    const held = await heldPastEntry('/tickets.create', dee as never, body);
    await removeBindings('dee');
    const answer = await held.send();

    expect(answer.status).toBe(403);
    expect(answer.body.error.data.code).toBe('ERR_AUTHZ_DENIED');
    const sam = await helpdesk.as('sam');
    expect((await sam.tickets.list.query({})).tickets.map((t) => t.subject)).not.toContain(subject);
    expect(await recorded(answer.body.error.data.requestId)).toEqual([
      { kind: 'denial', action: 'tickets.create', actor: 'dee', data: expect.objectContaining({ code: 'authz.missing_capability', capability: 'tickets.write' }) },
    ]);
  });

  it("an RBAC mutation: a removed admin's held rbac.bindings.revoke → 403, the binding it named is still there, a denial, no intent", async () => {
    const ada = await helpdesk.as('ada');
    const { roles } = await ada.rbac.roles.list.query({});
    const admin = roles.find((role) => role.name === 'admin')!;
    await ada.rbac.bindings.grant.mutate({ subject: 'eve', roleId: admin.id, reason: 'test: a second admin' });
    const [annBinding] = (await ada.rbac.bindings.list.query({ subject: 'ann' })).bindings;
    const eve = { subject: 'eve', org: 'acme', workspace: null };

    const held = await heldPastEntry('/rbac.bindings.revoke', eve as never, { bindingId: annBinding!.id, reason: 'eve removes ann' });
    await removeBindings('eve');
    const answer = await held.send();

    expect(answer.status).toBe(403);
    expect((await ada.rbac.bindings.list.query({ subject: 'ann' })).bindings).toEqual([annBinding]);
    expect(await recorded(answer.body.error.data.requestId)).toEqual([
      { kind: 'denial', action: 'rbac.bindings.revoke', actor: 'eve', data: expect.objectContaining({ capability: 'rbac.bindings.manage' }) },
    ]);
  });

  it('a batch (tickets.create and customers.create): every call refused at the action, nothing written, a denial each', async () => {
    const ada = await helpdesk.as('ada');
    const { roles } = await ada.rbac.roles.list.query({});
    const agent = roles.find((role) => role.name === 'agent')!;
    await ada.rbac.bindings.grant.mutate({ subject: 'fay', roleId: agent.id, inWorkspace: 'support', reason: 'test: a new agent' });
    const fay = { subject: 'fay', org: 'acme', workspace: 'support' };
    const email = `batch-${randomUUID()}@example.com`;
    const body = {
      0: { customer: { new: { name: 'Batch', email: `t-${email}` } }, subject: `batch ${email}`, body: 'held back' },
      1: { name: 'Batch Customer', email },
    };

    const held = await heldPastEntry('/tickets.create,customers.create?batch=1', fay as never, body, 2);
    await removeBindings('fay');
    const answer = await held.send();

    expect(answer.status).toBe(403);
    const results = answer.body as Array<{ error: { data: { code: string; requestId: string } } }>;
    expect(results.map((r) => r.error.data.code)).toEqual(['ERR_AUTHZ_DENIED', 'ERR_AUTHZ_DENIED']);
    const sam = await helpdesk.as('sam');
    expect((await sam.customers.list.query({})).customers.map((c) => c.email)).not.toContain(email);
    expect(await recorded(results[0]!.error.data.requestId)).toEqual([expect.objectContaining({ kind: 'denial', action: 'tickets.create', actor: 'fay' })]);
    expect(await recorded(results[1]!.error.data.requestId)).toEqual([expect.objectContaining({ kind: 'denial', action: 'customers.create', actor: 'fay' })]);
  });
});
