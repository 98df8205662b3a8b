import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, verifyBundle, verifyCheckpoint, verifyConsistency } from '@covenant/ledger';
import { RECEIPTS_HEADER, type WireAuditReceipt } from '@covenant/server';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

/**
 * Issue 12 §4: every audited call returns a receipt — where its intent and outcome are and the signed
 * checkpoint that covers them — so a client can hold the log to it. Over real HTTP, on both transports: the
 * receipts header, checked with nothing but the ledger's public key and the `ledger.prove` contract.
 */

function receiptsOf(response: Response): WireAuditReceipt[] | null {
  const header = response.headers.get(RECEIPTS_HEADER);
  return header === null ? null : (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as WireAuditReceipt[]);
}

describe.each(['covenant', 'trpc'] as const)('audit receipts on the wire (%s transport)', (transport) => {
  let helpdesk: Helpdesk;
  beforeAll(async () => {
    helpdesk = await startHelpdesk({ transport });
  });
  afterAll(async () => {
    await helpdesk?.close();
  });
  const key = () => ({ name: helpdesk.signer.name, publicKey: helpdesk.signer.publicKey, origin: helpdesk.signer.name });

  const post = async (path: string, user: string, body: unknown): Promise<Response> =>
    fetch(`${helpdesk.url}/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await helpdesk.token(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('an audited call carries its receipt: a checkpoint signed with the log key that covers both entries, each provable', async () => {
    const response = await post('customers.create', 'ann', { name: 'Receipt Holder', email: `receipt-${transport}@example.com` });
    expect(response.status).toBe(200);
    const receipts = receiptsOf(response);
    expect(receipts).toHaveLength(1);
    const [receipt] = receipts!;
    expect(receipt).toMatchObject({ call: 0, path: 'customers.create', requestId: expect.any(String) });
    const checked = verifyCheckpoint(receipt!.checkpoint.note, key());
    expect(checked).toMatchObject({ ok: true, checkpoint: { size: receipt!.checkpoint.size } });
    expect(receipt!.intentSeq).toBeLessThan(receipt!.outcomeSeq);
    expect(receipt!.outcomeSeq).toBeLessThan(receipt!.checkpoint.size);
    expect(Buffer.from(checked.ok ? checked.checkpoint.root : new Uint8Array()).toString('base64')).toBe(receipt!.checkpoint.root);

    // The entries it names are the call's: proved by the ledger API, offline-verified, requestId and kinds as received.
    const ada = await helpdesk.as('ada');
    for (const [seq, kind] of [
      [receipt!.intentSeq, 'intent'],
      [receipt!.outcomeSeq, 'outcome'],
    ] as const) {
      const { entry, bundle } = await ada.ledger.prove.query({ seq });
      const bytes = new TextEncoder().encode(entry);
      expect(verifyBundle(bundle, key(), bytes)).toMatchObject({ ok: true, leafIndex: seq });
      expect(bundle.treeSize).toBeGreaterThanOrEqual(receipt!.checkpoint.size);
      expect(decodeEntry(bytes)).toMatchObject({ kind, requestId: receipt!.requestId, action: 'customers.create' });
    }
  });

  it("holds the log to a receipt: today's head is consistent with the receipt's checkpoint (RFC 9162 consistency proof)", async () => {
    const first = receiptsOf(await post('customers.create', 'ann', { name: 'Earlier', email: `earlier-${transport}@example.com` }))![0]!;
    // More of the log is written meanwhile.
    for (let i = 0; i < 3; i += 1) await post('customers.create', 'ann', { name: `Later ${i}`, email: `later-${i}-${transport}@example.com` });
    const ada = await helpdesk.as('ada');
    const { fromSize, toSize, note, proof } = await ada.ledger.consistency.query({ fromSize: first.checkpoint.size });
    const head = verifyCheckpoint(note, key());
    expect(head).toMatchObject({ ok: true, checkpoint: { size: toSize } });
    expect(toSize).toBeGreaterThan(fromSize);
    const check = (root1: Uint8Array) =>
      verifyConsistency({
        size1: fromSize,
        size2: toSize,
        root1,
        root2: head.ok ? head.checkpoint.root : new Uint8Array(32),
        proof: proof.map((hash) => new Uint8Array(Buffer.from(hash, 'base64'))),
      });
    expect(check(new Uint8Array(Buffer.from(first.checkpoint.root, 'base64')))).toMatchObject({ ok: true });
    // A receipt of another history (another root at that size) is not consistent with today's log.
    const forged = new Uint8Array(Buffer.from(first.checkpoint.root, 'base64'));
    forged[0]! ^= 1;
    expect(check(forged).ok).toBe(false);
    await expect(ada.ledger.consistency.query({ fromSize: toSize + 1_000 })).rejects.toMatchObject({ code: 'SIZE_NOT_FOUND' });
  });

  it('a batch carries one receipt per audited call, by its index; an unaudited query carries none', async () => {
    const token = await helpdesk.token('ann');
    const response = await fetch(`${helpdesk.url}/customers.create,customers.create?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ 0: { name: 'A', email: `a-${transport}@example.com` }, 1: { name: 'B', email: `b-${transport}@example.com` } }),
    });
    expect(response.status).toBe(200);
    const receipts = receiptsOf(response)!;
    expect(receipts.map((r) => [r.call, r.path])).toEqual([
      [0, 'customers.create'],
      [1, 'customers.create'],
    ]);
    expect(new Set(receipts.map((r) => r.requestId)).size).toBe(2);
    for (const receipt of receipts) expect(verifyCheckpoint(receipt.checkpoint.note, key()).ok).toBe(true);

    const query = await fetch(`${helpdesk.url}/tickets.list?input=%7B%7D`, { headers: { authorization: `Bearer ${token}` } });
    expect(query.status).toBe(200);
    expect(receiptsOf(query)).toBeNull();
  });

  it('a streamed batch (trpc-accept: application/jsonl) carries no receipts — its headers go out before its calls settle — but its calls are audited and provable', async () => {
    const token = await helpdesk.token('ann');
    const response = await fetch(`${helpdesk.url}/customers.create?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'trpc-accept': 'application/jsonl' },
      body: JSON.stringify({ 0: { name: 'Streamed', email: `streamed-${transport}@example.com` } }),
    });
    expect(response.status).toBe(200);
    const streamed = await response.text();
    expect(streamed).toContain(`streamed-${transport}@example.com`);
    expect(receiptsOf(response)).toBeNull();
    // Nothing else writes meanwhile: the log's last two entries are the call's intent and ok outcome.
    const ada = await helpdesk.as('ada');
    const { toSize } = await ada.ledger.consistency.query({ fromSize: 1 });
    const [intent, outcome] = await Promise.all([toSize - 2, toSize - 1].map(async (seq) => decodeEntry(new TextEncoder().encode((await ada.ledger.prove.query({ seq })).entry))));
    expect(intent).toMatchObject({ kind: 'intent', action: 'customers.create', actor: { subject: 'ann' } });
    expect(outcome).toMatchObject({ kind: 'outcome', outcome: 'ok', requestId: intent!.requestId });
  });

  it('a refused call carries no receipt: nothing of it was acted on', async () => {
    const response = await post('customers.create', 'ann', { name: 'x', email: 'not an email' });
    expect(response.status).toBe(400);
    expect(receiptsOf(response)).toBeNull();
  });
});
