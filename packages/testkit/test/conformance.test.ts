import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callProcedure,
  conformanceChecks,
  conformanceSuite,
  tamperedToken,
  type ConformanceHarness,
  type ConformanceLedgerEntry,
  type ConformanceProcedure,
} from '../src/conformance.ts';

// A fake app speaking tRPC v11's HTTP shapes, with one switch per way an app can break a contract's
// promise. The conforming app must pass every check; each fault must fail the check that guards against it.

type Fault =
  | 'anonymous-served'
  | 'forged-token-accepted'
  | 'capability-ignored'
  | 'denial-not-recorded'
  | 'outcome-missing'
  | 'outcome-twice'
  | 'intent-for-unaudited'
  | 'cross-tenant-read'
  | 'list-leaks'
  | 'cross-tenant-500'
  | 'intent-filed-under-resource-owner';

const SIGNATURE = 'c2lnbmF0dXJlLW9mLXRoZS1mYWtlLWFwcA';
const CAPABILITIES = ['notes.read', 'notes.write'];

const PROCEDURES = {
  get: {
    path: 'notes.get',
    kind: 'query',
    requireAuth: true,
    capability: 'notes.read',
    anyPrincipal: false,
    resource: { type: 'note', id: 'noteId' },
    audit: false,
    notFound: ['NOTE_NOT_FOUND'],
  },
  add: { path: 'notes.add', kind: 'mutation', requireAuth: true, capability: 'notes.write', anyPrincipal: false, resource: null, audit: true, notFound: [] },
  list: { path: 'notes.list', kind: 'query', requireAuth: true, capability: 'notes.read', anyPrincipal: false, resource: null, audit: false, notFound: [] },
  me: { path: 'me', kind: 'query', requireAuth: true, capability: null, anyPrincipal: true, resource: null, audit: false, notFound: [] },
  status: { path: 'status', kind: 'query', requireAuth: false, capability: null, anyPrincipal: false, resource: null, audit: false, notFound: [] },
} as const satisfies Record<string, ConformanceProcedure>;

interface Principal {
  readonly sub: string;
  readonly org: string;
  readonly caps: ReadonlyArray<string>;
}

interface FakeApp extends ConformanceHarness {
  readonly faults: Set<Fault>;
}

function token(principal: Principal): string {
  return `eyJhbGciOiJmYWtlIn0.${Buffer.from(JSON.stringify(principal)).toString('base64url')}.${SIGNATURE}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

async function startFakeApp(): Promise<FakeApp> {
  const faults = new Set<Fault>();
  const notes = new Map<string, { id: string; org: string; text: string }>();
  const entries: ConformanceLedgerEntry[] = [];
  const append = (entry: Omit<ConformanceLedgerEntry, 'seq'>): void => void entries.push({ ...entry, seq: entries.length });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const fail = (status: number, code: string): void => reply(status, { error: { message: code, code: -32000, data: { code, httpStatus: status, requestId } } });
    const url = new URL(req.url ?? '/', 'http://fake');
    const procedure = Object.values(PROCEDURES).find((p) => p.path === url.pathname.slice(1));
    if (procedure === undefined) return fail(404, 'ERR_PROCEDURE_NOT_FOUND');
    const input = JSON.parse(procedure.kind === 'query' ? (url.searchParams.get('input') ?? '{}') : await readBody(req)) as Record<string, string>;

    const header = req.headers.authorization;
    let principal: Principal | null = null;
    if (header === undefined) {
      if (procedure.requireAuth && !faults.has('anonymous-served')) return fail(401, 'ERR_IDENTITY_TOKEN_MISSING');
    } else {
      const [, payload, signature] = header.replace(/^Bearer /, '').split('.');
      if (signature !== SIGNATURE && !faults.has('forged-token-accepted')) return fail(401, 'ERR_IDENTITY_TOKEN_INVALID');
      principal = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Principal;
    }
    const org = principal?.org ?? 'anonymous';
    if (procedure.capability !== null && !principal?.caps.includes(procedure.capability) && !faults.has('capability-ignored')) {
      if (!faults.has('denial-not-recorded')) append({ kind: 'denial', action: procedure.path, tenant: { org }, requestId, outcome: null });
      return fail(403, 'ERR_AUTHZ_DENIED');
    }

    let result: { status: number; code: string } | { data: unknown };
    switch (procedure.path) {
      case 'notes.get': {
        const note = notes.get(input['noteId']!);
        if (note !== undefined && note.org !== org && faults.has('cross-tenant-500')) result = { status: 500, code: 'ERR_INTERNAL' };
        else if (note === undefined || (note.org !== org && !faults.has('cross-tenant-read'))) result = { status: 404, code: 'NOTE_NOT_FOUND' };
        else result = { data: note };
        break;
      }
      case 'notes.add': {
        const note = { id: `note_${randomUUID()}`, org, text: input['text']! };
        notes.set(note.id, note);
        result = { data: note };
        break;
      }
      case 'notes.list':
        result = { data: [...notes.values()].filter((note) => faults.has('list-leaks') || note.org === org) };
        break;
      default:
        result = { data: { ok: true, org } };
    }

    if (procedure.audit || faults.has('intent-for-unaudited')) {
      const filedUnder = faults.has('intent-filed-under-resource-owner') ? 'acme' : org;
      append({ kind: 'intent', action: procedure.path, tenant: { org: filedUnder }, requestId, outcome: null });
      const outcome = 'data' in result ? 'ok' : 'failed';
      if (!faults.has('outcome-missing')) append({ kind: 'outcome', action: procedure.path, tenant: { org: filedUnder }, requestId, outcome });
      if (faults.has('outcome-twice')) append({ kind: 'outcome', action: procedure.path, tenant: { org: filedUnder }, requestId, outcome });
    }
    if ('data' in result) return reply(200, { result: { data: result.data } });
    return fail(result.status, result.code);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sides = { home: 'acme', other: 'globex' } as const;
  const noteIn = (org: string): string => {
    const note = { id: `note_${randomUUID()}`, org, text: `a note of ${org}` };
    notes.set(note.id, note);
    return note.id;
  };
  // Each org starts with data of its own, as a seeded app does.
  noteIn('acme');
  noteIn('globex');
  const allButOne = (procedure: ConformanceProcedure) => CAPABILITIES.filter((c) => c !== procedure.capability);
  return {
    faults,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    home: { org: 'acme', workspace: null },
    other: { org: 'globex', workspace: null },
    allowed: async (procedure) => token({ sub: 'alice', org: 'acme', caps: procedure.capability === null ? [] : [procedure.capability] }),
    lacking: async (procedure) => token({ sub: 'lacy', org: 'acme', caps: allButOne(procedure) }),
    otherTenant: async (procedure) => token({ sub: 'oscar', org: 'globex', caps: procedure.capability === null ? [] : [procedure.capability] }),
    input: async (procedure, side) =>
      procedure.path === 'notes.get' ? { noteId: noteIn(sides[side]) } : procedure.path === 'notes.add' ? { text: 'hello' } : {},
    homeMarkers: async () => [...notes.values()].filter((note) => note.org === 'acme').map((note) => note.id),
    ledgerSize: async () => entries.length,
    ledgerSince: async (size) => entries.slice(size),
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

// The suite as a generated file uses it: registered per procedure, run against the conforming app.
const suite = conformanceSuite(startFakeApp);

describe('conformanceSuite against a conforming app', () => {
  describe('notes.get', () => {
    const procedure = suite.procedure(PROCEDURES.get);
    procedure.refusesAnonymous();
    procedure.servesAllowed();
    procedure.refusesLackingCapability();
    procedure.isolatesTenants();
  });
  describe('notes.add', () => {
    const procedure = suite.procedure(PROCEDURES.add);
    procedure.refusesAnonymous();
    procedure.servesAllowed();
    procedure.refusesLackingCapability();
    procedure.isolatesTenants();
  });
  describe('notes.list', () => {
    const procedure = suite.procedure(PROCEDURES.list);
    procedure.refusesAnonymous();
    procedure.servesAllowed();
    procedure.isolatesTenants();
  });
  describe('me', () => {
    const procedure = suite.procedure(PROCEDURES.me);
    procedure.refusesAnonymous();
    procedure.servesAllowed();
  });
  describe('status', () => {
    suite.procedure(PROCEDURES.status).servesAnonymous();
  });

  it('refuses, when the file is collected, a check that does not apply to the procedure', () => {
    expect(() => suite.procedure(PROCEDURES.me).refusesLackingCapability()).toThrow(new TypeError('me: refusesLackingCapability applies to procedures that require a capability'));
    expect(() => suite.procedure(PROCEDURES.me).isolatesTenants()).toThrow(TypeError);
    expect(() => suite.procedure(PROCEDURES.status).servesAllowed()).toThrow(new TypeError('status: servesAllowed applies to authenticated procedures only'));
    expect(() => suite.procedure(PROCEDURES.get).servesAnonymous()).toThrow(new TypeError('notes.get: servesAnonymous applies to public procedures only'));
  });
});

describe('each check fails when the app breaks the promise it guards', () => {
  const apps: FakeApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  async function fakeApp(): Promise<FakeApp> {
    const app = await startFakeApp();
    apps.push(app);
    return app;
  }

  const CASES: ReadonlyArray<{
    fault: Fault;
    check: keyof typeof conformanceChecks;
    procedure: ConformanceProcedure;
    message: RegExp;
  }> = [
    { fault: 'anonymous-served', check: 'refusesAnonymous', procedure: PROCEDURES.add, message: /notes\.add without a token/ },
    { fault: 'forged-token-accepted', check: 'refusesAnonymous', procedure: PROCEDURES.get, message: /with a token that does not verify/ },
    { fault: 'forged-token-accepted', check: 'servesAnonymous', procedure: PROCEDURES.status, message: /with a token that does not verify/ },
    { fault: 'capability-ignored', check: 'refusesLackingCapability', procedure: PROCEDURES.add, message: /by a principal without notes\.write/ },
    { fault: 'denial-not-recorded', check: 'refusesLackingCapability', procedure: PROCEDURES.get, message: /one denial/ },
    { fault: 'outcome-missing', check: 'servesAllowed', procedure: PROCEDURES.add, message: /exactly one outcome/ },
    { fault: 'outcome-twice', check: 'servesAllowed', procedure: PROCEDURES.add, message: /exactly one outcome/ },
    { fault: 'intent-for-unaudited', check: 'servesAllowed', procedure: PROCEDURES.list, message: /not audited: the call writes no intent/ },
    { fault: 'cross-tenant-read', check: 'isolatesTenants', procedure: PROCEDURES.get, message: /expected a refusal/ },
    { fault: 'list-leaks', check: 'isolatesTenants', procedure: PROCEDURES.list, message: /call's response contains acme's data/ },
    { fault: 'cross-tenant-500', check: 'isolatesTenants', procedure: PROCEDURES.get, message: /expected 404 NOTE_NOT_FOUND or 403 ERR_AUTHZ_DENIED, got HTTP 500/ },
    { fault: 'intent-filed-under-resource-owner', check: 'isolatesTenants', procedure: PROCEDURES.add, message: /filed under globex/ },
  ];

  for (const { fault, check, procedure, message } of CASES) {
    it(`${check} on ${procedure.path} catches "${fault}"`, async () => {
      // The same check passes on the conforming app: the failure below is the fault's doing.
      const app = await fakeApp();
      await expect(conformanceChecks[check](app, procedure)).resolves.toBeUndefined();
      app.faults.add(fault);
      await expect(conformanceChecks[check](app, procedure)).rejects.toThrow(message);
    });
  }

  it('isolatesTenants needs the other tenant to be served its own data (a missing grant would prove nothing)', async () => {
    const app = await fakeApp();
    const withoutGrant = { ...app, otherTenant: async () => token({ sub: 'oscar', org: 'globex', caps: [] }) };
    await expect(conformanceChecks.isolatesTenants(withoutGrant, PROCEDURES.get)).rejects.toThrow(/on its own tenant's data: expected success, got HTTP 403/);
  });

  it('isolatesTenants needs markers: a harness that names no home data cannot show a leak', async () => {
    const app = await fakeApp();
    await expect(conformanceChecks.isolatesTenants({ ...app, homeMarkers: async () => [] }, PROCEDURES.list)).rejects.toThrow(/names the home tenant/);
  });
});

describe('callProcedure and tamperedToken', () => {
  it('reads status, wire code and request id of a refusal, and nulls for a success', async () => {
    const app = await startFakeApp();
    try {
      const refused = await callProcedure(app.url, PROCEDURES.get, { noteId: 'x' }, null);
      expect(refused).toMatchObject({ ok: false, status: 401, code: 'ERR_IDENTITY_TOKEN_MISSING' });
      expect(refused.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const served = await callProcedure(`${app.url}/`, PROCEDURES.add, { text: 'hi' }, await app.allowed(PROCEDURES.add));
      expect(served).toMatchObject({ ok: true, status: 200, code: null, requestId: null });
      expect(JSON.parse(served.text)).toMatchObject({ result: { data: { org: 'acme', text: 'hi' } } });
    } finally {
      await app.close();
    }
  });

  it('says which procedure answered with a body that is not JSON', async () => {
    const server = createServer((_req, res) => res.writeHead(502).end('<html>bad gateway</html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await expect(callProcedure(url, PROCEDURES.list, {}, null)).rejects.toThrow('notes.list: HTTP 502 with a body that is not JSON: <html>bad gateway</html>');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('changes exactly one character of the signature, keeping header and payload', () => {
    const original = token({ sub: 'alice', org: 'acme', caps: [] });
    const tampered = tamperedToken(original);
    const [h1, p1, s1] = original.split('.');
    const [h2, p2, s2] = tampered.split('.');
    expect([h2, p2]).toEqual([h1, p1]);
    expect(s2).toHaveLength(s1!.length);
    expect([...s1!].filter((c, i) => c !== s2![i])).toHaveLength(1);
    expect(() => tamperedToken('not-a-token')).toThrow(TypeError);
  });
});
