import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, verifyLedger } from '@covenant/ledger';
import { createClient } from '../src/generated/client.ts';
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';
import { expectRefused } from './refusals.ts';

// Revocation wired into the service (issue 12 §3): the helpdesk as `npm start` assembles it (createService,
// the development identity, the demo orgs), over real HTTP. A session revoked through the sessions.revoke
// contract, or by `covenant sessions revoke` in another process on the service's database file, is refused
// on the very next call — also when the verifier already had the token in its cache — and only in the
// revoker's tenant.

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(REPO, 'packages/cli/bin/covenant.mjs');
const run = promisify(execFile);

let helpdesk: Helpdesk;
let keyFile: string;

beforeAll(async () => {
  helpdesk = await startHelpdesk();
  // The service's checkpoint key as a key file, for the CLI (one line, base64 of the 32-byte seed, mode 600).
  keyFile = join(dirname(helpdesk.databaseFile), 'ledger.key');
  writeFileSync(keyFile, `${Buffer.from(new Uint8Array(32).fill(11)).toString('base64')}\n`, { mode: 0o600 });
});
afterAll(() => helpdesk.close());

let sessions = 0;
const freshSession = (): string => `sid-revocation-test-${(sessions += 1)}`;

/** The typed client with a token minted once (so every call presents the very same token text). */
async function holder(subject: string, org: string, workspace: string | null, session: string) {
  const token = await helpdesk.identity.mint({ subject, org, workspace, session });
  return createClient({ url: helpdesk.url, token: () => token });
}

const entriesFor = async (requestId: string) => {
  await helpdesk.service.ledger.flush();
  const rows = await helpdesk.service.db.selectFrom('ledger_entries').select('body').where('request_id', '=', requestId).orderBy('seq').execute();
  return rows.map((row) => ({ entry: decodeEntry(new Uint8Array(row.body)), text: new TextDecoder().decode(row.body) }));
};

describe('sessions.revoke over HTTP', () => {
  it("refuses the revoked session's next call with 401 ERR_IDENTITY_TOKEN_REVOKED, though its token was cached; another org's same sid is not affected", async () => {
    const sid = freshSession();
    const ann = await holder('ann', 'acme', 'support', sid);
    const annOtherSession = await holder('ann', 'acme', 'support', freshSession());
    const gus = await holder('gus', 'globex', 'support', sid); // the same sid, in another org
    // Verified, then served from the verifier's token cache.
    await ann.tickets.list.query({});
    await ann.tickets.list.query({});
    await gus.tickets.list.query({});

    const ada = await helpdesk.as('ada');
    const revoked = await ada.sessions.revoke.mutate({ session: sid, reason: 'laptop stolen, ticket SEC-41' });
    expect(revoked).toMatchObject({ session: sid, workspace: null });

    await expectRefused(ann.tickets.list.query({}), 401, 'ERR_IDENTITY_TOKEN_REVOKED');
    await expectRefused(ann.platform.whoami.query({}), 401, 'ERR_IDENTITY_TOKEN_REVOKED');
    await expect(gus.tickets.list.query({})).resolves.toBeDefined();
    await expect(annOtherSession.tickets.list.query({})).resolves.toBeDefined();
  });

  it('commits the revocation with the call: intent, its sessions.revoke event and one ok outcome on the ledger, no reason text', async () => {
    const sid = freshSession();
    const ada = await helpdesk.as('ada');
    const before = await helpdesk.service.ledger.size();
    await ada.sessions.revoke.mutate({ session: sid, reason: 'contractor left, ticket HR-9' });
    const [revocation] = await helpdesk.service.revocations.list('acme', { limit: 1 });
    expect(revocation).toMatchObject({ value: sid, org: 'acme', workspace: null, revokedBy: 'user:ada', reason: 'contractor left, ticket HR-9' });
    const entries = await entriesFor(revocation!.requestId!);
    expect(entries.map(({ entry }) => [entry.kind, entry.action, entry.outcome])).toEqual([
      ['intent', 'sessions.revoke', null],
      ['event', 'sessions.revoke', null],
      ['outcome', 'sessions.revoke', 'ok'],
    ]);
    expect(entries[1]!.entry).toMatchObject({ actor: { subject: 'user:ada' }, tenant: { org: 'acme', workspace: null }, resource: { type: 'session', id: sid } });
    for (const { text } of entries) expect(text).not.toContain('HR-9');
    expect(await helpdesk.service.ledger.size()).toBe(before + 3);
  });

  it("a workspace-limited revoker's revocation applies in its workspace only: not to org-wide tokens, not to another workspace's", async () => {
    const ada = await helpdesk.as('ada');
    const role = await ada.rbac.roles.create.mutate({ name: 'session-admin', capabilities: ['sessions.revoke'], reason: 'support leads revoke support sessions' });
    await ada.rbac.bindings.grant.mutate({ subject: 'sam', roleId: role.id, inWorkspace: 'support', reason: 'support lead' });
    const sid = freshSession();
    const inSupport = await holder('ann', 'acme', 'support', sid);
    const inBilling = await holder('bob', 'acme', 'billing', sid);
    const orgWide = await holder('ada', 'acme', null, sid);
    for (const client of [inSupport, inBilling]) await client.tickets.list.query({});
    await orgWide.platform.whoami.query({});

    const sam = await helpdesk.as('sam');
    expect(await sam.sessions.revoke.mutate({ session: sid, reason: 'shared device in support' })).toMatchObject({ workspace: 'support' });
    await expectRefused(inSupport.tickets.list.query({}), 401, 'ERR_IDENTITY_TOKEN_REVOKED');
    await expect(inBilling.tickets.list.query({})).resolves.toBeDefined();
    await expect(orgWide.platform.whoami.query({})).resolves.toMatchObject({ session: sid });
  });

  it('refuses a caller without sessions.revoke (403) and revokes nothing', async () => {
    const sid = freshSession();
    const ann = await holder('ann', 'acme', 'support', sid);
    await expectRefused(ann.sessions.revoke.mutate({ session: sid, reason: 'trying my luck' }), 403, 'ERR_AUTHZ_DENIED');
    await expect(ann.tickets.list.query({})).resolves.toBeDefined();
  });
});

describe('covenant sessions revoke (another process) on the running service’s database', () => {
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, 'sessions', 'revoke', '--database', helpdesk.databaseFile, '--operator', 'jane', '--ledger-key', keyFile, '--origin', helpdesk.signer.name, ...args], {
      cwd: REPO,
    });

  it('a revoked session is refused on its very next call, though cached; the same sid in another org is not', async () => {
    const sid = freshSession();
    const ann = await holder('ann', 'acme', 'support', sid);
    const gus = await holder('gus', 'globex', 'support', sid);
    await ann.tickets.list.query({});
    await ann.tickets.list.query({});
    await gus.tickets.list.query({});

    const { stdout } = await cli('--org', 'acme', '--session', sid, '--reason', 'phone lost, ticket SEC-77');
    expect(stdout).toContain(`acme: session ${sid} revoked`);

    await expectRefused(ann.tickets.list.query({}), 401, 'ERR_IDENTITY_TOKEN_REVOKED');
    await expect(gus.tickets.list.query({})).resolves.toBeDefined();
  });

  it('a revoked token (jti) is refused on its very next call; another token of its session is not; the shared ledger verifies', async () => {
    const sid = freshSession();
    const token = await helpdesk.identity.mint({ subject: 'ann', org: 'acme', workspace: 'support', session: sid });
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).jti as string;
    const revokedClient = createClient({ url: helpdesk.url, token: () => token });
    const sibling = await holder('ann', 'acme', 'support', sid);
    await revokedClient.tickets.list.query({});

    const until = new Date(Date.now() + 3_600_000).toISOString();
    await cli('--org', 'acme', '--token-id', jti, '--until', until, '--reason', 'pasted into a ticket');
    await expectRefused(revokedClient.tickets.list.query({}), 401, 'ERR_IDENTITY_TOKEN_REVOKED');
    await expect(sibling.tickets.list.query({})).resolves.toBeDefined();

    // The service goes on appending after the CLI's entries, and the one log verifies.
    const ada = await helpdesk.as('ada');
    await ada.rbac.roles.create.mutate({ name: `after-cli-${sessions}`, capabilities: [], reason: 'the service appends after the CLI' });
    await helpdesk.service.ledger.flush();
    expect(await verifyLedger(helpdesk.service.db, { origin: helpdesk.signer.name, keyName: helpdesk.signer.name, publicKey: helpdesk.signer.publicKey })).toMatchObject({ ok: true });
  });
});
