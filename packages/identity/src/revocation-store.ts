import { isClock, systemClock, type Clock } from '@covenant/core';
import { randomUUID } from 'node:crypto';
import type { CompiledQuery, Kysely } from 'kysely';
import { isTenantId, isTokenId } from './identifiers.ts';
import type { RevocationCheck, RevocationSubject } from './revocation.ts';

/** The table of migration 0003-revocations (@covenant/db), as kysely sees it. */
export interface RevocationTables {
  identity_revocations: {
    id: string;
    org: string;
    workspace: string | null;
    kind: 'session' | 'token';
    value: string;
    expires_at: string | null;
    revoked_at: string;
    revoked_by: string;
    reason: string;
    request_id: string | null;
  };
}

/**
 * One recorded revocation. It applies to the tokens of its tenant only: of `org`, and when `workspace` is
 * set, of that workspace only (a workspace-limited administrator revokes nothing beyond it).
 */
export interface Revocation {
  readonly id: string;
  /** `session`: every token carrying the `sid` `value`; `token`: the one token whose `jti` is `value`. */
  readonly kind: 'session' | 'token';
  readonly org: string;
  readonly workspace: string | null;
  readonly value: string;
  /** A token revocation: the token's expiry (ISO), until which it must be kept. `null` for a session. */
  readonly expiresAt: string | null;
  readonly revokedAt: string;
  /** Who revoked: `user:<subject>` (through the API) or `operator:<name>` (the CLI). */
  readonly revokedBy: string;
  /** Why, as the revoker wrote it. Free text: kept here (an erasable table), never on the ledger. */
  readonly reason: string;
  /** The request that made it, for the audit trail. */
  readonly requestId: string | null;
}

/** What every revocation names: the revoker's tenant, who, why. */
interface RevocationRequest {
  /** The revoker's org: the revocation applies to tokens of this org only. */
  readonly org: string;
  /** The revoker's workspace when its session is limited to one: then only that workspace's tokens. */
  readonly workspace?: string | null;
  /** `user:<subject>` or `operator:<name>`. */
  readonly revokedBy: string;
  /** 3 to 500 characters. */
  readonly reason: string;
  readonly requestId?: string | null;
}

export interface RevokeSessionRequest extends RevocationRequest {
  /** The `sid` whose tokens are refused from now on. */
  readonly session: string;
}

export interface RevokeTokenRequest extends RevocationRequest {
  /** The `jti` of the token refused from now on. */
  readonly tokenId: string;
  /** The token's `exp`: the revocation is kept at least until then (it is never dropped earlier). */
  readonly expiresAt: Date;
}

/**
 * The persistent implementation of the {@link RevocationCheck} port: revocations by session (`sid`) and by
 * token (`jti`), in the database, so every process on it refuses a revoked token on its very next check,
 * cached or not. Writes go through the handle the store is bound to, so a revocation can commit with the
 * audited call (or the ledger transaction) that makes it.
 *
 * @example
 * ```ts
 * const revocations = createRevocationStore({ db, onRevoke: recordRevocationsOn(ledger) });
 * const verifier = createTokenVerifier({ ...options, revocation: revocations });
 * await ledger.transact((tx) =>
 *   revocations.bind(tx.db).revokeSession({ org: 'acme', session: 'sid-1', revokedBy: 'operator:ana', reason: 'laptop stolen' }),
 * );
 * ```
 */
export interface RevocationStore extends RevocationCheck {
  /**
   * Whether the token is revoked in its own tenant: a revocation of its `sid` or its `jti` made in its org,
   * org-wide or in its workspace. One indexed query; a token without `sid` and `jti` asks nothing.
   */
  isRevoked(token: RevocationSubject): Promise<boolean>;
  /** Revokes every token carrying `session` in the revoker's tenant, for good. */
  revokeSession(request: RevokeSessionRequest): Promise<Revocation>;
  /** Revokes the token `tokenId` in the revoker's tenant. */
  revokeToken(request: RevokeTokenRequest): Promise<Revocation>;
  /** Revocations of an org, newest first (at most `limit`, default 100). */
  list(org: string, options?: { readonly limit?: number }): Promise<ReadonlyArray<Revocation>>;
  /**
   * The same store writing through `db`, another handle on the same database: a ledger transaction's
   * `tx.db`, or an audited handler's `ctx.db`, so the revocation commits (or rolls back) with it.
   */
  bind(db: Kysely<any>): RevocationStore;
}

export interface RevocationStoreOptions {
  /** A kysely instance on a database migrated to 0003-revocations. The store does not close it. */
  readonly db: Kysely<any>;
  /** Injected time for `revokedAt`. Default: the system clock. */
  readonly clock?: Clock;
  /** Revocation ids. Default: random UUIDs. */
  readonly ids?: () => string;
  /**
   * Called with each revocation inside its transaction, on the handle it was written through; throwing
   * rolls the revocation back. `recordRevocationsOn(ledger)` puts each one on the audit ledger.
   */
  readonly onRevoke?: (revocation: Revocation, db: Kysely<any>) => void | Promise<void>;
}

const MIN_REASON = 3;
const MAX_REASON = 500;
const MAX_ACTOR = 300;
const MAX_LIST = 1_000;

/**
 * Creates the revocation store over `db` (migration 0003-revocations). Options are checked here.
 *
 * @example
 * ```ts
 * const revocations = createRevocationStore({ db });
 * await revocations.isRevoked(subject); // false until something is revoked
 * ```
 */
export function createRevocationStore(options: RevocationStoreOptions): RevocationStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('createRevocationStore: options must be an object');
  const { db, onRevoke } = options;
  if (typeof db !== 'object' || db === null || typeof (db as { selectFrom?: unknown }).selectFrom !== 'function') {
    throw new TypeError('createRevocationStore: "db" must be a kysely instance');
  }
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? randomUUID;
  if (!isClock(clock)) throw new TypeError('createRevocationStore: "clock" must be a Clock (an object with a now() method returning a Date)');
  if (typeof ids !== 'function') throw new TypeError('createRevocationStore: "ids" must be a function returning a string');
  if (onRevoke !== undefined && typeof onRevoke !== 'function') throw new TypeError('createRevocationStore: "onRevoke" must be a function');

  const makeStore = (handle: Kysely<RevocationTables>, bound: boolean): RevocationStore => {
    const lookup = compiledLookups(handle);
    const record = async (row: RevocationTables['identity_revocations']): Promise<Revocation> => {
      const revocation = fromRow(row);
      const write = async (conn: Kysely<RevocationTables>): Promise<void> => {
        await conn.insertInto('identity_revocations').values(row).execute();
        await onRevoke?.(revocation, conn);
      };
      // Bound: inside the caller's transaction. Otherwise a transaction of its own, so that a hook that
      // refuses (no ledger transaction) leaves no row behind.
      if (bound) await write(handle);
      else await handle.transaction().execute(write);
      return revocation;
    };

    const base = (method: string, request: RevocationRequest) => {
      if (typeof request !== 'object' || request === null) fail(method, 'the request must be an object');
      if (!isTenantId(request.org)) fail(method, '"org" must be a tenant identifier');
      const workspace = request.workspace ?? null;
      if (workspace !== null && !isTenantId(workspace)) fail(method, '"workspace" must be a tenant identifier or null');
      if (!isText(request.revokedBy, 1, MAX_ACTOR)) fail(method, `"revokedBy" must be 1 to ${MAX_ACTOR} printable characters`);
      const reason = request.reason;
      if (typeof reason !== 'string' || !isText(reason.trim(), MIN_REASON, MAX_REASON)) {
        fail(method, `"reason" must be ${MIN_REASON} to ${MAX_REASON} characters`);
      }
      const requestId = request.requestId ?? null;
      if (requestId !== null && !isText(requestId, 1, 255)) fail(method, '"requestId" must be 1 to 255 printable characters or null');
      const at = clock.now();
      if (!(at instanceof Date) || Number.isNaN(at.getTime())) fail(method, 'the clock must return a valid Date');
      const id = ids();
      if (!isText(id, 1, 255)) fail(method, 'the id source must return a non-empty string');
      return { id, org: request.org, workspace, revoked_at: at.toISOString(), revoked_by: request.revokedBy, reason: reason.trim(), request_id: requestId };
    };

    return Object.freeze({
      async isRevoked(token: RevocationSubject): Promise<boolean> {
        const { session, tokenId } = token;
        if (session === null && tokenId === null) return false;
        const { rows } = await handle.executeQuery(lookup(token.tenant.org, session, tokenId, token.tenant.workspace));
        return rows.length > 0;
      },
      async revokeSession(request: RevokeSessionRequest): Promise<Revocation> {
        const row = base('revokeSession', request);
        if (!isTokenId(request.session)) fail('revokeSession', '"session" must be a sid: 1 to 255 characters, no control characters');
        return record({ ...row, kind: 'session', value: request.session, expires_at: null });
      },
      async revokeToken(request: RevokeTokenRequest): Promise<Revocation> {
        const row = base('revokeToken', request);
        if (!isTokenId(request.tokenId)) fail('revokeToken', '"tokenId" must be a jti: 1 to 255 characters, no control characters');
        const expiresAt = request.expiresAt;
        if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) fail('revokeToken', '"expiresAt" must be a valid Date');
        return record({ ...row, kind: 'token', value: request.tokenId, expires_at: expiresAt.toISOString() });
      },
      async list(org: string, listOptions: { readonly limit?: number } = {}): Promise<ReadonlyArray<Revocation>> {
        if (!isTenantId(org)) fail('list', '"org" must be a tenant identifier');
        const limit = listOptions.limit ?? 100;
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) fail('list', `"limit" must be an integer from 1 to ${MAX_LIST}`);
        const rows = await handle
          .selectFrom('identity_revocations')
          .selectAll()
          .where('org', '=', org)
          .orderBy('revoked_at', 'desc')
          .orderBy('id', 'desc')
          .limit(limit)
          .execute();
        return rows.map(fromRow);
      },
      bind: (other: Kysely<any>): RevocationStore => makeStore(other as Kysely<RevocationTables>, true),
    });
  };

  return makeStore(db as Kysely<RevocationTables>, false);
}

/**
 * The revocation lookup of a token: `value in (…)` on the (org, value) index, one probe per id, then the
 * kind and the workspace filter what it found (an org-wide revocation applies in every workspace, a
 * workspace's in that workspace only). At most one row.
 */
function lookupQuery(db: Kysely<RevocationTables>, org: string, session: string | null, tokenId: string | null, workspace: string | null) {
  const values = [session, tokenId].filter((value): value is string => value !== null);
  return db
    .selectFrom('identity_revocations')
    .select('id')
    .where('org', '=', org)
    .where('value', 'in', values)
    .where((eb) =>
      eb.or([
        ...(session === null ? [] : [eb.and([eb('kind', '=', 'session'), eb('value', '=', session)])]),
        ...(tokenId === null ? [] : [eb.and([eb('kind', '=', 'token'), eb('value', '=', tokenId)])]),
      ]),
    )
    .where((eb) => (workspace === null ? eb('workspace', 'is', null) : eb.or([eb('workspace', 'is', null), eb('workspace', '=', workspace)])))
    .limit(1);
}

/** Stand-ins the lookup is compiled with, replaced by each call's values (never valid ids: NUL). */
const ORG = '\u0000org\u0000';
const SID = '\u0000sid\u0000';
const JTI = '\u0000jti\u0000';
const WORKSPACE = '\u0000workspace\u0000';

/**
 * The lookup compiled once per shape (sid, jti or both; with or without a workspace) and executed with
 * each call's values: kysely's build and compile were a third of a check, and every call asks. A shape
 * whose compiled parameters do not hold each stand-in (a plugin rewrote them) is built per call instead.
 */
function compiledLookups(db: Kysely<RevocationTables>) {
  const shapes = new Map<number, CompiledQuery | null>();
  return (org: string, session: string | null, tokenId: string | null, workspace: string | null): CompiledQuery => {
    const shape = (session === null ? 0 : 1) | (tokenId === null ? 0 : 2) | (workspace === null ? 0 : 4);
    let compiled = shapes.get(shape);
    if (compiled === undefined) {
      const template = lookupQuery(db, ORG, session === null ? null : SID, tokenId === null ? null : JTI, workspace === null ? null : WORKSPACE).compile();
      const expected = [ORG, ...(session === null ? [] : [SID]), ...(tokenId === null ? [] : [JTI]), ...(workspace === null ? [] : [WORKSPACE])];
      compiled = expected.every((standIn) => template.parameters.includes(standIn)) ? template : null;
      shapes.set(shape, compiled);
    }
    if (compiled === null) return lookupQuery(db, org, session, tokenId, workspace).compile();
    const parameters = compiled.parameters.map((value) =>
      value === ORG ? org : value === SID ? session : value === JTI ? tokenId : value === WORKSPACE ? workspace : value,
    );
    return { ...compiled, parameters };
  };
}

function fromRow(row: RevocationTables['identity_revocations']): Revocation {
  return Object.freeze({
    id: row.id,
    kind: row.kind,
    org: row.org,
    workspace: row.workspace,
    value: row.value,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    reason: row.reason,
    requestId: row.request_id,
  });
}

/** Text without control characters, of `min` to `max` UTF-16 code units. */
function isText(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && !/[\u0000-\u001f\u007f]/.test(value);
}

function fail(method: string, message: string): never {
  throw new TypeError(`RevocationStore.${method}: ${message}`);
}

/**
 * The audit-ledger entry of a revocation, in `@covenant/ledger`'s `NewEntry` shape (spelled out here:
 * the ledger depends on the server, which depends on this package). `sessions.revoke`, by whom, in which
 * tenant, which session or token; the free-text reason stays in the revocations table, which can be
 * erased, and is not copied into a log that cannot.
 */
export interface RevocationLedgerEntry {
  readonly kind: 'event';
  readonly action: 'sessions.revoke';
  readonly actor: { readonly subject: string; readonly session: null };
  readonly tenant: { readonly org: string; readonly workspace: string | null };
  readonly resource: { readonly type: 'session' | 'token'; readonly id: string };
  readonly requestId: string | null;
  readonly outcome: null;
  readonly inputDigest: null;
  readonly data: { readonly revocation: string; readonly tokenExpiresAt: string | null };
}

/** What {@link recordRevocationsOn} needs of a ledger store (`LedgerStore` of `@covenant/ledger` has it). */
export interface RevocationLedger {
  transactionOf(db: unknown): { append(entries: ReadonlyArray<RevocationLedgerEntry>): unknown } | null;
}

/**
 * The ledger entry of one revocation.
 *
 * @example
 * ```ts
 * tx.append([revocationEntry(revocation)]);
 * ```
 */
export function revocationEntry(revocation: Revocation): RevocationLedgerEntry {
  return {
    kind: 'event',
    action: 'sessions.revoke',
    actor: { subject: revocation.revokedBy, session: null },
    tenant: { org: revocation.org, workspace: revocation.workspace },
    resource: { type: revocation.kind, id: revocation.value },
    requestId: revocation.requestId,
    outcome: null,
    inputDigest: null,
    data: { revocation: revocation.id, tokenExpiresAt: revocation.expiresAt },
  };
}

/**
 * The `onRevoke` of a revocation store whose every revocation is a ledger entry, appended in the
 * transaction that records it, as RBAC changes are (`recordChangesOn`): the revocation and its entry
 * commit together. A revocation made outside a ledger transaction (`ledger.transact`, or an audited
 * handler's `ctx.db`) is refused, so none can miss the ledger.
 *
 * @example
 * ```ts
 * const revocations = createRevocationStore({ db, onRevoke: recordRevocationsOn(ledger) });
 * await ledger.transact((tx) => revocations.bind(tx.db).revokeSession({ org, session, revokedBy: 'operator:ana', reason }));
 * ```
 */
export function recordRevocationsOn(ledger: RevocationLedger): NonNullable<RevocationStoreOptions['onRevoke']> {
  return (revocation, db) => {
    const tx = ledger.transactionOf(db);
    if (tx === null) {
      throw new Error('revocations are made inside a ledger transaction (an audited procedure, or ledger.transact): this one would miss the ledger');
    }
    tx.append([revocationEntry(revocation)]);
  };
}
