import { createDatabase } from '@covenant/db';
import {
  OperationNodeTransformer,
  ValueNode,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { RbacTables } from '../src/index.ts';
import { allowed, check, openStore, user, type Fixture } from './support/rbac-fixture.ts';

// A check's statements (the epoch read, and the grant rows on a miss) are compiled once per store and
// executed with each check's values. These tests pin that down (a cached check builds nothing and runs one
// statement), and that the shortcut never changes a decision: where it cannot be applied safely (a plugin
// rewrote the statement's parameters) the store builds each statement as before.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ALICE = user('alice');

async function withReader(fixture: Fixture): Promise<{ bindingId: string }> {
  cleanups.push(() => fixture.db.destroy());
  await fixture.rbac.bootstrapTenant('ops', 'org_a', 'alice', 'first admin of org_a');
  const reader = await fixture.rbac.createRole(ALICE, 'org_a', { name: 'reader', capabilities: ['tickets.read'] }, 'readers');
  const binding = await fixture.rbac.grant(ALICE, 'org_a', { subject: 'bob', roleId: reader.id }, 'bob reads');
  return { bindingId: binding.id };
}

/** Inlines every value into the SQL text: a compiled statement then has no parameters to substitute. */
class InlineValues implements KyselyPlugin {
  readonly #transformer = new (class extends OperationNodeTransformer {
    protected override transformValue(node: ValueNode): ValueNode {
      return typeof node.value === 'string' || typeof node.value === 'number' ? ValueNode.createImmediate(node.value) : node;
    }
  })();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.#transformer.transformNode(args.node);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

describe('precompiled check statements', () => {
  it('a cached check executes one statement (the epoch) and builds none', async () => {
    const a = await openStore();
    await withReader(a);
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true); // loads and caches
    a.queries.count = 0;
    a.queries.compiled = 0;
    for (let i = 0; i < 5; i += 1) expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(a.queries.count).toBe(5);
    expect(a.queries.compiled).toBe(0);
  });

  it('a miss runs the epoch read, then the epoch and the grant rows in one transaction: all precompiled', async () => {
    const a = await openStore({ cacheSize: 0 });
    await withReader(a);
    await allowed(a.rbac, 'bob', 'org_a', 'tickets.read'); // the catalogue is loaded once, then cached
    a.queries.count = 0;
    a.queries.compiled = 0;
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true);
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read', null, 'w1')).toBe(true); // the workspace variant
    expect(a.queries.count).toBe(6);
    expect(a.queries.compiled).toBe(0);
  });

  it('every execution carries its own values: checks of many orgs and subjects interleaved decide as each would alone', async () => {
    const a = await openStore();
    await withReader(a);
    await a.rbac.bootstrapTenant('ops', 'org_b', 'carol', 'first admin of org_b');
    const checks = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const [subject, org] = ([['bob', 'org_a'], ['bob', 'org_b'], ['carol', 'org_b'], ['carol', 'org_a']] as const)[i % 4]!;
        return allowed(a.rbac, subject, org, 'tickets.read', null, i % 3 === 0 ? 'w1' : null).then((ok) => `${subject}@${org}:${ok}`);
      }),
    );
    expect(new Set(checks)).toEqual(new Set(['bob@org_a:true', 'bob@org_b:false', 'carol@org_b:true', 'carol@org_a:false']));
  });

  it('with a plugin that inlines values (no parameters to substitute) it builds each statement: same decisions, revokes still apply', async () => {
    const inline = new InlineValues();
    const a = await openStore({ db: createDatabase<RbacTables>({ url: ':memory:' }).withPlugin(inline) });
    const { bindingId } = await withReader(a);
    expect(await check(a.rbac, 'bob', 'org_a', 'tickets.read')).toMatchObject({ allowed: true, matched: bindingId });
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read')).toBe(true); // cached
    expect(await allowed(a.rbac, 'bob', 'org_a', 'tickets.read', null, 'w1')).toBe(true);
    expect(await allowed(a.rbac, 'carol', 'org_a', 'tickets.read')).toBe(false);
    a.queries.compiled = 0;
    await allowed(a.rbac, 'bob', 'org_a', 'tickets.read');
    expect(a.queries.compiled).toBe(1); // the epoch read, built for this check
    await a.rbac.revoke(ALICE, 'org_a', bindingId, 'bob left');
    expect(await check(a.rbac, 'bob', 'org_a', 'tickets.read')).toEqual({
      kind: 'authorization',
      allowed: false,
      code: 'authz.missing_capability',
      capability: 'tickets.read',
      resource: null,
    });
  });
});
