import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * Conformance tests: what each procedure's contract promises about authentication, authorization, tenancy
 * and audit, checked against the running app over HTTP. `covenant gen` writes one `describe(path, …)` per
 * procedure that calls the checks below; the app provides a {@link ConformanceHarness} (principals, valid
 * inputs, its ledger).
 *
 * @example
 * ```ts
 * const suite = conformanceSuite(createConformanceHarness);
 * describe('tickets.get', () => {
 *   const procedure = suite.procedure({ path: 'tickets.get', kind: 'query', requireAuth: true, capability: 'tickets.read',
 *     anyPrincipal: false, resource: { type: 'ticket', id: 'ticketId' }, audit: false, notFound: ['TICKET_NOT_FOUND'] });
 *   procedure.refusesAnonymous();
 *   procedure.servesAllowed();
 * });
 * ```
 */

/** One procedure as the generated file spells it out: its contract's security metadata. */
export interface ConformanceProcedure {
  readonly path: string;
  readonly kind: 'query' | 'mutation';
  readonly requireAuth: boolean;
  readonly capability: string | null;
  readonly anyPrincipal: boolean;
  readonly resource: { readonly type: string; readonly id: string } | null;
  readonly audit: boolean;
  /** The declared errors with status 404: how "that is not yours" must look for this procedure. */
  readonly notFound: ReadonlyArray<string>;
}

export interface ConformanceTenant {
  readonly org: string;
  readonly workspace: string | null;
}

/** The members of a ledger entry the checks read (a decoded `@covenant/ledger` entry has them all). */
export interface ConformanceLedgerEntry {
  readonly seq: number;
  readonly kind: 'intent' | 'outcome' | 'denial' | 'event';
  readonly action: string;
  readonly tenant: { readonly org: string } | null;
  readonly requestId: string | null;
  readonly outcome: 'ok' | 'failed' | 'aborted' | null;
}

/** Whose resources an input refers to: the home tenant's, or the other tenant's. */
export type TenantSide = 'home' | 'other';

/**
 * What an app implements for its conformance tests. One harness serves one test file; tests run one after
 * another, so the ledger entries appended between two `ledgerSize()` readings belong to the calls made in
 * between.
 */
export interface ConformanceHarness {
  /** Where the app serves its router over HTTP (tRPC v11: GET for queries, POST for mutations). */
  readonly url: string;
  /** The tenant whose resources the inputs of `input(procedure, 'home')` refer to. */
  readonly home: ConformanceTenant;
  /** Another org, with resources of its own. */
  readonly other: ConformanceTenant;
  /** A token of a principal of the home tenant holding the procedure's capability (any principal when it has none). */
  allowed(procedure: ConformanceProcedure): Promise<string>;
  /** A token of a principal of the home tenant holding every capability except the procedure's. */
  lacking(procedure: ConformanceProcedure): Promise<string>;
  /** A token of a principal of the other tenant holding the procedure's capability there. */
  otherTenant(procedure: ConformanceProcedure): Promise<string>;
  /**
   * A valid input, fresh on every call: the resources it names exist (the harness creates them, e.g. an open
   * ticket for each `tickets.close`) and belong to the `side` tenant. Unique values (names, emails) are new
   * each time, so a repeated call does not conflict with an earlier one.
   */
  input(procedure: ConformanceProcedure, side: TenantSide): Promise<unknown>;
  /**
   * Strings only the home tenant's data contains (the ids of its resources, unique emails, request ids of
   * its ledger entries): no response to the other tenant may contain any of them.
   */
  homeMarkers(): Promise<ReadonlyArray<string>>;
  /** The number of ledger entries, after every pending append has settled. */
  ledgerSize(): Promise<number>;
  /** The decoded entries from `seq` = `size` on. */
  ledgerSince(size: number): Promise<ReadonlyArray<ConformanceLedgerEntry>>;
  close(): Promise<void>;
}

/** The result of one HTTP call, as any client sees it. */
export interface CallResult {
  readonly ok: boolean;
  readonly status: number;
  /** The wire error's stable code (`ERR_…` or a declared one); `null` on success. */
  readonly code: string | null;
  /** The error's request id; `null` on success (successful responses carry none). */
  readonly requestId: string | null;
  /** The response body as received: what leak checks search. */
  readonly text: string;
}

/**
 * Calls one procedure over HTTP as tRPC v11 serves it, without a client library, so the status line and
 * body are exactly what any caller gets. `token: null` sends no Authorization header.
 */
export async function callProcedure(
  url: string,
  procedure: Pick<ConformanceProcedure, 'path' | 'kind'>,
  input: unknown,
  token: string | null,
): Promise<CallResult> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const body = JSON.stringify(input ?? {});
  const base = url.replace(/\/+$/, '');
  const response =
    procedure.kind === 'query'
      ? await fetch(`${base}/${procedure.path}?input=${encodeURIComponent(body)}`, { headers })
      : await fetch(`${base}/${procedure.path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${procedure.path}: HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const data = (parsed as { error?: { data?: { code?: unknown; requestId?: unknown } } }).error?.data;
  return {
    ok: response.ok,
    status: response.status,
    code: typeof data?.code === 'string' ? data.code : null,
    requestId: typeof data?.requestId === 'string' ? data.requestId : null,
    text,
  };
}

/** The same token with one character of its signature changed: well-formed, but it does not verify. */
export function tamperedToken(token: string): string {
  const parts = token.split('.');
  const signature = parts[2];
  if (parts.length !== 3 || signature === undefined || signature.length < 8) throw new TypeError('tamperedToken: not a compact JWS');
  const at = Math.floor(signature.length / 2);
  const swapped = signature[at] === 'A' ? 'B' : 'A';
  return `${parts[0]}.${parts[1]}.${signature.slice(0, at)}${swapped}${signature.slice(at + 1)}`;
}

function show(result: CallResult): string {
  return `HTTP ${result.status} ${result.code ?? ''} ${result.text.slice(0, 300)}`;
}

function expectRefused(result: CallResult, status: number, code: string, what: string): void {
  expect({ status: result.status, code: result.code }, `${what}: ${show(result)}`).toEqual({ status, code });
  expect(result.requestId, `${what}: the error carries a request id`).toMatch(/\S/);
}

function expectServed(result: CallResult, what: string): void {
  expect(result.ok, `${what}: expected success, got ${show(result)}`).toBe(true);
}

/** How a refusal of "not yours" must look: a declared not-found code, else 403. */
function expectNotYours(procedure: ConformanceProcedure, result: CallResult, what: string): void {
  expect(result.ok, `${what}: expected a refusal, got ${show(result)}`).toBe(false);
  if (procedure.notFound.length > 0 && result.status === 404) {
    expect(procedure.notFound, `${what}: 404 with an undeclared code: ${show(result)}`).toContain(result.code);
  } else {
    const expected = procedure.notFound.length > 0 ? `404 ${procedure.notFound.join('|')} or 403 ERR_AUTHZ_DENIED` : '403 ERR_AUTHZ_DENIED';
    expect({ status: result.status, code: result.code }, `${what}: expected ${expected}, got ${show(result)}`).toEqual({
      status: 403,
      code: 'ERR_AUTHZ_DENIED',
    });
  }
}

function intentsOf(entries: ReadonlyArray<ConformanceLedgerEntry>, path: string): ConformanceLedgerEntry[] {
  return entries.filter((entry) => entry.kind === 'intent' && entry.action === path);
}

function requireAuthenticated(procedure: ConformanceProcedure, check: string): void {
  if (!procedure.requireAuth) throw new TypeError(`${procedure.path}: ${check} applies to authenticated procedures only`);
}

function requireCapability(procedure: ConformanceProcedure, check: string): string {
  if (procedure.capability === null) throw new TypeError(`${procedure.path}: ${check} applies to procedures that require a capability`);
  return procedure.capability;
}

/**
 * Each check as a plain async function: it fails (a vitest assertion error) when the app does not keep the
 * procedure's promise. `conformanceSuite` registers them as tests; they can also be called directly.
 */
export const conformanceChecks = {
  /** No token → 401 ERR_IDENTITY_TOKEN_MISSING; a token that does not verify → 401 ERR_IDENTITY_TOKEN_INVALID; neither reaches the ledger. */
  async refusesAnonymous(harness: ConformanceHarness, procedure: ConformanceProcedure): Promise<void> {
    const input = await harness.input(procedure, 'home');
    const forgedToken = tamperedToken(await harness.allowed(procedure));
    const mark = await harness.ledgerSize();
    const anonymous = await callProcedure(harness.url, procedure, input, null);
    expectRefused(anonymous, 401, 'ERR_IDENTITY_TOKEN_MISSING', `${procedure.path} without a token`);
    const forged = await callProcedure(harness.url, procedure, input, forgedToken);
    expectRefused(forged, 401, 'ERR_IDENTITY_TOKEN_INVALID', `${procedure.path} with a token that does not verify`);
    const entries = await harness.ledgerSince(mark);
    const ids = new Set([anonymous.requestId, forged.requestId]);
    expect(entries.filter((entry) => ids.has(entry.requestId)), 'an unauthenticated call writes nothing to the ledger').toEqual([]);
    expect(intentsOf(entries, procedure.path), 'no intent for an unauthenticated call').toEqual([]);
  },

  /** A sanctioned public procedure: served without a token; a token that is present must still verify. */
  async servesAnonymous(harness: ConformanceHarness, procedure: ConformanceProcedure): Promise<void> {
    if (procedure.requireAuth) throw new TypeError(`${procedure.path}: servesAnonymous applies to public procedures only`);
    const input = await harness.input(procedure, 'home');
    expectServed(await callProcedure(harness.url, procedure, input, null), `${procedure.path} without a token`);
    const forged = await callProcedure(harness.url, procedure, input, tamperedToken(await harness.allowed(procedure)));
    expectRefused(forged, 401, 'ERR_IDENTITY_TOKEN_INVALID', `${procedure.path} with a token that does not verify`);
  },

  /**
   * A principal of the home tenant holding the capability (any principal for `anyPrincipal`) is served. An
   * audited procedure leaves exactly one intent in the home tenant and exactly one `ok` outcome after it with
   * the same request id; a procedure that is not audited leaves no intent.
   */
  async servesAllowed(harness: ConformanceHarness, procedure: ConformanceProcedure): Promise<void> {
    requireAuthenticated(procedure, 'servesAllowed');
    const token = await harness.allowed(procedure);
    const input = await harness.input(procedure, 'home');
    const mark = await harness.ledgerSize();
    expectServed(await callProcedure(harness.url, procedure, input, token), `${procedure.path} by a holder of ${procedure.capability ?? 'a session'}`);
    const entries = await harness.ledgerSince(mark);
    const intents = intentsOf(entries, procedure.path);
    if (!procedure.audit) {
      expect(intents, `${procedure.path} is not audited: the call writes no intent`).toEqual([]);
      return;
    }
    expect(intents, `${procedure.path} is audited: exactly one intent for the call`).toHaveLength(1);
    const intent = intents[0]!;
    expect(intent.requestId, 'the intent carries a request id').toMatch(/\S/);
    expect(intent.tenant?.org, 'the intent is filed under the caller’s org').toBe(harness.home.org);
    const outcomes = entries.filter((entry) => entry.kind === 'outcome' && entry.requestId === intent.requestId);
    expect(
      outcomes.map((entry) => ({ outcome: entry.outcome, afterIntent: entry.seq > intent.seq })),
      'exactly one outcome with the intent’s request id, ok, after the intent',
    ).toEqual([{ outcome: 'ok', afterIntent: true }]);
  },

  /** Every capability but the procedure's, in the home tenant: 403 ERR_AUTHZ_DENIED, one denial entry, no intent. */
  async refusesLackingCapability(harness: ConformanceHarness, procedure: ConformanceProcedure): Promise<void> {
    const capability = requireCapability(procedure, 'refusesLackingCapability');
    const token = await harness.lacking(procedure);
    const input = await harness.input(procedure, 'home');
    const mark = await harness.ledgerSize();
    const result = await callProcedure(harness.url, procedure, input, token);
    expectRefused(result, 403, 'ERR_AUTHZ_DENIED', `${procedure.path} by a principal without ${capability}`);
    const entries = await harness.ledgerSince(mark);
    expect(
      entries.filter((entry) => entry.requestId === result.requestId).map((entry) => ({ kind: entry.kind, action: entry.action, org: entry.tenant?.org })),
      'the refusal is on the ledger as one denial, and nothing ran (no intent)',
    ).toEqual([{ kind: 'denial', action: procedure.path, org: harness.home.org }]);
    expect(intentsOf(entries, procedure.path), 'no intent for a refused call').toEqual([]);
  },

  /**
   * A principal of another org holding the capability there is served its own tenant's resources (so a
   * refusal below is about the tenant, not a missing grant). With the home tenant's input, a procedure on a
   * resource is refused as "not found" (a declared 404) or 403; any other procedure is refused that way or
   * answers from the caller's own tenant. No response contains anything of the home tenant's, and whatever
   * the calls wrote to the ledger is filed under the caller's org.
   */
  async isolatesTenants(harness: ConformanceHarness, procedure: ConformanceProcedure): Promise<void> {
    const capability = requireCapability(procedure, 'isolatesTenants');
    const token = await harness.otherTenant(procedure);
    const ownInput = await harness.input(procedure, 'other');
    const homeInput = await harness.input(procedure, 'home');
    const mark = await harness.ledgerSize();
    const own = await callProcedure(harness.url, procedure, ownInput, token);
    expectServed(own, `${procedure.path} by a holder of ${capability} in ${harness.other.org}, on its own tenant's data`);
    const cross = await callProcedure(harness.url, procedure, homeInput, token);
    const what = `${procedure.path} by a holder of ${capability} in ${harness.other.org}, on ${harness.home.org}'s data`;
    if (procedure.resource !== null || !cross.ok) expectNotYours(procedure, cross, what);
    const markers = await harness.homeMarkers();
    expect(markers.length, 'the harness names the home tenant’s data').toBeGreaterThan(0);
    for (const [name, result] of [['own', own], ['cross-tenant', cross]] as const) {
      expect(markers.filter((marker) => result.text.includes(marker)), `the ${name} call's response contains ${harness.home.org}'s data`).toEqual([]);
    }
    const written = (await harness.ledgerSince(mark)).filter((entry) => entry.action === procedure.path);
    expect(
      written.filter((entry) => entry.tenant?.org !== harness.other.org),
      `entries for ${harness.other.org}'s calls are filed under ${harness.other.org}`,
    ).toEqual([]);
  },
} as const;

export type ConformanceCheck = keyof typeof conformanceChecks;

/** The tests of one procedure; each method registers one vitest test in the enclosing `describe`. */
export interface ProcedureConformance {
  readonly procedure: ConformanceProcedure;
  refusesAnonymous(): void;
  servesAnonymous(): void;
  servesAllowed(): void;
  refusesLackingCapability(): void;
  isolatesTenants(): void;
}

export interface ConformanceSuite {
  /** Registers nothing by itself: call the checks that apply on what it returns. */
  procedure(procedure: ConformanceProcedure): ProcedureConformance;
}

/**
 * Starts the harness before the file's tests (`beforeAll`) and closes it after them; returns the factory of
 * per-procedure test registrations. Call it once, at the top level of a test file.
 */
export function conformanceSuite(createHarness: () => Promise<ConformanceHarness>): ConformanceSuite {
  let harness: ConformanceHarness | null = null;
  beforeAll(async () => {
    harness = await createHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });
  const current = (): ConformanceHarness => {
    if (harness === null) throw new Error('the conformance harness did not start (see the beforeAll error)');
    return harness;
  };

  return {
    procedure(procedure) {
      const capability = procedure.capability ?? 'a session';
      const register = (check: ConformanceCheck, name: string): void => {
        // Misuse is refused when the file is collected, not when the test runs.
        if (check === 'servesAnonymous' && procedure.requireAuth) throw new TypeError(`${procedure.path}: servesAnonymous applies to public procedures only`);
        if (check === 'servesAllowed') requireAuthenticated(procedure, check);
        if (check === 'refusesLackingCapability' || check === 'isolatesTenants') requireCapability(procedure, check);
        it(name, () => conformanceChecks[check](current(), procedure));
      };
      const notYours = procedure.notFound.length > 0 ? `404 ${procedure.notFound.join('|')} or 403` : '403';
      return {
        procedure,
        refusesAnonymous: () =>
          register('refusesAnonymous', 'no token or a token that does not verify → 401, and nothing on the ledger'),
        servesAnonymous: () =>
          register('servesAnonymous', 'sanctioned public: served without a token; a token that does not verify → 401'),
        servesAllowed: () =>
          register(
            'servesAllowed',
            procedure.audit
              ? `a holder of ${capability} is served, with one intent and exactly one ok outcome on the ledger`
              : `a holder of ${capability} is served, and no intent is written (not audited)`,
          ),
        refusesLackingCapability: () =>
          register('refusesLackingCapability', `every capability but ${capability} → 403 ERR_AUTHZ_DENIED, a denial entry, no intent`),
        isolatesTenants: () =>
          register(
            'isolatesTenants',
            procedure.resource !== null
              ? `another org's holder of ${capability} gets its own ${procedure.resource.type}, and ${notYours} for the home tenant's`
              : `another org's holder of ${capability} is served from its own tenant only, never the home tenant's data`,
          ),
      };
    },
  };
}
