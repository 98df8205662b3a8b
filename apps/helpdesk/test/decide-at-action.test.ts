import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryRevocationList } from '@covenant/identity';
import type { AuditEvent } from '@covenant/testkit';
import { startFixtureServer, type FixtureServer } from './harness.ts';
import { holdRequest, until } from './held-request.ts';

/**
 * Issue 12 §1: the entry check runs when the headers arrive, and a caller can hold the body back. The
 * decision that lets the action run is taken once the body is there (the `authorizeAction` step): the
 * principal is re-checked at the current clock and the capability re-checked, so rights lost while the
 * body was held are not acted on. The fixture service over real HTTP, with a static grant table the test
 * changes and a recording audit port.
 */

const TICKET = { title: 'Printer on fire', requesterEmail: 'pat@example.com' };
let server: FixtureServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Sends the headers of `path` now; resolves once the entry check for it has been decided (allowed). */
async function heldPast(fixture: FixtureServer, path: string, token: string, body: unknown) {
  const decided = fixture.authorization.decisions.length;
  const held = await holdRequest(fixture.url, path, { token, body });
  await until(() => fixture.authorization.decisions.length > decided);
  expect(fixture.authorization.decisions.slice(decided).every((d) => d.allowed)).toBe(true);
  return held;
}

const intents = (events: ReadonlyArray<AuditEvent>) => events.filter((e) => e.type === 'intent');
const denials = (events: ReadonlyArray<AuditEvent>) => events.flatMap((e) => (e.type === 'denial' ? [e.denial] : []));

describe.each(['covenant', 'trpc'] as const)('the action is decided when the body has arrived (%s transport)', (transport) => {
  it('a capability revoked while the body is held: 403, the handler never runs, a denial and no intent', async () => {
    const fixture = (server = await startFixtureServer({ http: { transport } }));
    const token = await fixture.issuer.mint({ sub: 'alice', org: 'org_a' });
    const held = await heldPast(fixture, '/tickets.create', token, TICKET);

    fixture.grants['org_a/alice'] = ['tickets.read']; // tickets.write revoked meanwhile
    const answer = await held.send();

    expect(answer.status).toBe(403);
    expect(answer.body.error.data.code).toBe('ERR_AUTHZ_DENIED');
    expect(fixture.calls['create']).toBeUndefined();
    expect(fixture.store).toEqual([]);
    expect(intents(fixture.audit.events)).toEqual([]);
    expect(denials(fixture.audit.events)).toEqual([
      expect.objectContaining({
        procedure: 'tickets.create',
        actor: { subject: 'alice', session: null },
        decision: expect.objectContaining({ allowed: false, code: 'authz.missing_capability', capability: 'tickets.write' }),
      }),
    ]);
  });

  it('a token that expires while the body is held: 401 ERR_IDENTITY_TOKEN_EXPIRED, a denial, no intent', async () => {
    let now = new Date();
    const fixture = (server = await startFixtureServer({ http: { transport }, verifier: { clock: { now: () => now } } }));
    const token = await fixture.issuer.mint({ sub: 'alice', org: 'org_a' }, { expiresIn: 60 });
    const held = await heldPast(fixture, '/tickets.create', token, TICKET);

    now = new Date(now.getTime() + (60 + 30 + 10) * 1000); // past exp and the 30 s tolerance
    const answer = await held.send();

    expect(answer.status).toBe(401);
    expect(answer.body.error.data.code).toBe('ERR_IDENTITY_TOKEN_EXPIRED');
    expect(fixture.calls['create']).toBeUndefined();
    expect(intents(fixture.audit.events)).toEqual([]);
    expect(denials(fixture.audit.events)).toEqual([
      expect.objectContaining({ decision: expect.objectContaining({ code: 'ERR_IDENTITY_TOKEN_EXPIRED', capability: 'tickets.write' }) }),
    ]);
  });

  it('a session revoked while the body is held: 401 ERR_IDENTITY_TOKEN_REVOKED, a denial, no intent', async () => {
    const revocations = createMemoryRevocationList();
    const fixture = (server = await startFixtureServer({ http: { transport }, verifier: { revocation: revocations } }));
    const token = await fixture.issuer.mint({ sub: 'alice', org: 'org_a', sid: 'sid_1' });
    const held = await heldPast(fixture, '/tickets.create', token, TICKET);

    revocations.revokeSession('sid_1');
    const answer = await held.send();

    expect(answer.status).toBe(401);
    expect(answer.body.error.data.code).toBe('ERR_IDENTITY_TOKEN_REVOKED');
    expect(fixture.calls['create']).toBeUndefined();
    expect(intents(fixture.audit.events)).toEqual([]);
    expect(denials(fixture.audit.events)).toEqual([
      expect.objectContaining({ actor: { subject: 'alice', session: 'sid_1' }, decision: expect.objectContaining({ code: 'ERR_IDENTITY_TOKEN_REVOKED' }) }),
    ]);
  });

  it('a batch: every call of it is decided at the action', async () => {
    const fixture = (server = await startFixtureServer({ http: { transport } }));
    const token = await fixture.issuer.mint({ sub: 'alice', org: 'org_a' });
    const body = { 0: TICKET, 1: { ...TICKET, title: 'Second' } };
    const decided = fixture.authorization.decisions.length;
    const held = await holdRequest(fixture.url, '/tickets.create,tickets.create?batch=1', { token, body });
    await until(() => fixture.authorization.decisions.length >= decided + 2);

    fixture.grants['org_a/alice'] = [];
    const answer = await held.send();

    expect(answer.status).toBe(403);
    expect((answer.body as Array<{ error: { data: { code: string } } }>).map((r) => r.error.data.code)).toEqual([
      'ERR_AUTHZ_DENIED',
      'ERR_AUTHZ_DENIED',
    ]);
    expect(fixture.calls['create']).toBeUndefined();
    expect(intents(fixture.audit.events)).toEqual([]);
    expect(denials(fixture.audit.events)).toHaveLength(2);
  });

  it('a body that does not arrive in time is refused with 408; the handler never runs; the next request is served', async () => {
    const fixture = (server = await startFixtureServer({ http: { transport, bodyTimeoutMs: 200 } }));
    const token = await fixture.issuer.mint({ sub: 'alice', org: 'org_a' });
    const held = await holdRequest(fixture.url, '/tickets.create', { token, body: TICKET });

    const answer = await held.answer; // the body is never sent

    expect(answer.status).toBe(408);
    expect(fixture.calls['create']).toBeUndefined();
    expect(intents(fixture.audit.events)).toEqual([]);
    const next = await fixture.client(token).tickets.create.mutate(TICKET);
    expect(next).toMatchObject({ title: TICKET.title });
  });
});

describe('createHttpServer request limits', () => {
  it('refuses limits that are not positive integers, naming the option', async () => {
    const fixture = (server = await startFixtureServer());
    const { createHttpServer } = await import('@covenant/server');
    for (const option of ['maxBodyBytes', 'bodyTimeoutMs', 'maxBatchSize'] as const) {
      for (const value of [0, -1, 1.5, Number.NaN, '5' as unknown as number]) {
        expect(() => createHttpServer(fixture.runtime, fixture.router, { [option]: value })).toThrow(new RegExp(`"${option}"`));
      }
    }
  });
});
