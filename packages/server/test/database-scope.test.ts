import type { Principal } from '@covenant/identity';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createCovenantRuntime } from '../src/index.ts';
import type { DatabaseScope, DatabaseScopeCall } from '@covenant/core';
import { CALL_STATE, type CallState } from '../src/pipeline/call-state.ts';
import type { PipelineDeps } from '../src/pipeline/deps.ts';
import { handleStep } from '../src/pipeline/handle.ts';

// The handle step with and without the runtime's `databaseScope`: the handler's ctx.db is the scope's
// handle, the scope is told the tenant, the path and whether the call is audited.

const procedure = { '~covenant': { errors: { NOPE: { status: 404, message: 'not found' } } } } as never;
const principal = { subject: 'ann', tenant: { org: 'acme', workspace: 'support' }, session: null } as unknown as Principal;

function deps(databaseScope?: DatabaseScope): PipelineDeps {
  return {
    identity: {} as never,
    authorization: {} as never,
    audit: {} as never,
    logger: pino({ level: 'silent' }),
    clock: { now: () => new Date(0) },
    requestId: () => 'r1',
    database: 'base-db',
    databaseScope,
  };
}

function call(state: Partial<CallState>) {
  const full: CallState = { requestId: 'r1', path: 'tickets.list', logger: pino({ level: 'silent' }), startedAt: new Date(0), principal, db: undefined, receipt: null, ...state };
  return { ctx: { [CALL_STATE]: full }, input: { q: 1 }, signal: undefined };
}

describe('the handle step with a databaseScope', () => {
  it('without one, ctx.db is the runtime database (unaudited) or the audit transaction (audited), as before', async () => {
    const seen: unknown[] = [];
    const handle = handleStep(deps(), procedure, (({ ctx }: { ctx: { db: unknown } }) => (seen.push(ctx.db), 'ok')) as never);
    await expect(handle(call({}))).resolves.toBe('ok');
    await expect(handle(call({ db: 'audit-tx' }))).resolves.toBe('ok');
    expect(seen).toEqual(['base-db', 'audit-tx']);
  });

  it('runs the handler inside the scope, with the scope handle as ctx.db, and tells it tenant, path and audited', async () => {
    const calls: DatabaseScopeCall[] = [];
    const events: string[] = [];
    const scope: DatabaseScope = async (c, work) => {
      calls.push(c);
      events.push('enter');
      try {
        return await work(`scoped(${String(c.db)})`);
      } finally {
        events.push('leave');
      }
    };
    const handle = handleStep(deps(scope), procedure, (async ({ ctx, input }: { ctx: { db: unknown; tenant: unknown }; input: unknown }) => {
      events.push(`handler ${String(ctx.db)}`);
      return { db: ctx.db, input };
    }) as never);
    await expect(handle(call({}))).resolves.toEqual({ db: 'scoped(base-db)', input: { q: 1 } });
    await expect(handle(call({ db: 'audit-tx', path: 'tickets.update' }))).resolves.toEqual({ db: 'scoped(audit-tx)', input: { q: 1 } });
    expect(calls).toEqual([
      { tenant: { org: 'acme', workspace: 'support' }, path: 'tickets.list', audited: false, db: 'base-db' },
      { tenant: { org: 'acme', workspace: 'support' }, path: 'tickets.update', audited: true, db: 'audit-tx' },
    ]);
    expect(events).toEqual(['enter', 'handler scoped(base-db)', 'leave', 'enter', 'handler scoped(audit-tx)', 'leave']);
  });

  it('passes a null tenant for an unauthenticated call', async () => {
    const calls: DatabaseScopeCall[] = [];
    const handle = handleStep(deps(async (c, work) => (calls.push(c), work(c.db))), procedure, (() => 'ok') as never);
    await handle(call({ principal: null }));
    expect(calls[0]?.tenant).toBeNull();
  });

  it('a declared error thrown inside the scope keeps its status; the scope sees it propagate', async () => {
    const seen: unknown[] = [];
    const scope: DatabaseScope = async (c, work) => {
      try {
        return await work(c.db);
      } catch (error) {
        seen.push(error);
        throw error;
      }
    };
    const handle = handleStep(deps(scope), procedure, (({ ctx }: { ctx: { fail(code: string): never } }) => ctx.fail('NOPE')) as never);
    await expect(handle(call({}))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(seen).toHaveLength(1);
  });

  it('an error of the scope itself is an internal error, and the handler never ran', async () => {
    let ran = false;
    const handle = handleStep(deps(async () => Promise.reject(new Error('cannot set the tenant'))), procedure, (() => {
      ran = true;
      return 'ok';
    }) as never);
    await expect(handle(call({}))).rejects.toMatchObject({ code: 'INTERNAL_SERVER_ERROR', cause: expect.objectContaining({ message: 'cannot set the tenant' }) });
    expect(ran).toBe(false);
  });

  it('the scope handle does not outlive the scope', async () => {
    let late: (() => unknown) | undefined;
    const handle = handleStep(deps(async (_call, work) => work('scoped')), procedure, (({ ctx }: { ctx: { db: unknown } }) => {
      late = () => ctx.db;
      return ctx.db;
    }) as never);
    await expect(handle(call({}))).resolves.toBe('scoped');
    expect(() => late!()).toThrow(/database scope ended/);
  });
});

describe('createCovenantRuntime databaseScope option', () => {
  it('must be a function when given', () => {
    const ports = {
      identity: { verify: () => undefined, verifyAuthorizationHeader: () => undefined, revalidate: () => undefined },
      authorization: { check: () => undefined },
      audit: { audited: () => undefined, recordDenial: () => undefined },
    } as never as Parameters<typeof createCovenantRuntime>[0];
    expect(() => createCovenantRuntime({ ...ports, databaseScope: 'yes' as never })).toThrow(/databaseScope/);
    expect(() => createCovenantRuntime({ ...ports, databaseScope: async (c, work) => work(c.db) })).not.toThrow();
  });
});
