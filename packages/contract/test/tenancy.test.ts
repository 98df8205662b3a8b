import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { TENANCY_KEY_NAMES, defineContract, findTenancyKey, isContract, isTenancyKey, query } from '../src/index.ts';
import { Ok, TicketId, issuesOrNone } from './support/definition-issues.ts';

describe('isTenancyKey', () => {
  it.each([
    'orgId',
    'OrgID',
    'ORG_ID',
    'org-id',
    'org_id',
    'orgid',
    'ORGID',
    'workspaceId',
    'workspace_id',
    'WORKSPACE-ID',
    'tenantId',
    'TenantId',
    'tenant_id',
    'TENANT-ID',
    'org__id',
    'o-r-g-i-d',
    '_orgId_',
  ])('recognises %o', (key) => {
    expect(isTenancyKey(key)).toBe(true);
  });

  it.each([
    'org',
    'tenant',
    'workspace',
    'organization',
    'organizationId',
    'orgIdentifier',
    'orgIds',
    'myOrgId',
    'orgId2',
    'org id',
    'org.id',
    'orgId ',
    'id',
    '',
    'ticketId',
  ])('does not treat %o as a tenancy key', (key) => {
    expect(isTenancyKey(key)).toBe(false);
  });

  it('recognises each canonical name', () => {
    expect(TENANCY_KEY_NAMES).toEqual(['orgId', 'workspaceId', 'tenantId']);
    expect(Object.isFrozen(TENANCY_KEY_NAMES)).toBe(true);
    for (const name of TENANCY_KEY_NAMES) expect(isTenancyKey(name)).toBe(true);
  });
});

describe('findTenancyKey on raw values', () => {
  it('returns the path of a tenancy key in a nested object', () => {
    expect(findTenancyKey({ ticket: { orgId: 'org_2' } })).toEqual(['ticket', 'orgId']);
  });

  it('returns a top-level key', () => {
    expect(findTenancyKey({ title: 'x', ORG_ID: 'org_2' })).toEqual(['ORG_ID']);
  });

  it('uses array indexes in the path', () => {
    expect(findTenancyKey({ items: [{ id: 1 }, { meta: [{}, { 'tenant-id': 't' }] }] })).toEqual([
      'items',
      1,
      'meta',
      1,
      'tenant-id',
    ]);
  });

  it('finds a key at the top of an array body', () => {
    expect(findTenancyKey([{ workspace_id: 'w' }])).toEqual([0, 'workspace_id']);
  });

  it('finds a key whose value is undefined or null: the key itself is the smuggling attempt', () => {
    expect(findTenancyKey({ orgId: undefined })).toEqual(['orgId']);
    expect(findTenancyKey({ a: { tenantId: null } })).toEqual(['a', 'tenantId']);
  });

  it('finds a key under a JSON "__proto__" member', () => {
    const body: unknown = JSON.parse('{"__proto__": {"orgId": "org_2"}}');
    expect(findTenancyKey(body)).toEqual(['__proto__', 'orgId']);
  });

  it('returns undefined when there is none', () => {
    expect(findTenancyKey({ ticket: { id: 't1', org: 'acme', tags: ['orgId'] } })).toBeUndefined();
    expect(findTenancyKey([])).toBeUndefined();
    expect(findTenancyKey({})).toBeUndefined();
  });

  it.each([[null], [undefined], ['orgId'], [42], [true]])('returns undefined for the scalar %o', (value) => {
    expect(findTenancyKey(value)).toBeUndefined();
  });

  it('does not read a tenancy key in a string value as a key', () => {
    expect(findTenancyKey({ note: '{"orgId":"org_2"}' })).toBeUndefined();
  });

  it('finds a key 10 000 objects deep without overflowing the stack', () => {
    let body: Record<string, unknown> = { orgId: 'org_2' };
    for (let i = 0; i < 10_000; i += 1) body = { next: body };
    const path = findTenancyKey(body);
    expect(path).toHaveLength(10_001);
    expect(path?.at(-1)).toBe('orgId');
    expect(path?.slice(0, -1).every((segment) => segment === 'next')).toBe(true);
  });

  it('finds a key 10 000 arrays deep without overflowing the stack', () => {
    let body: unknown = { tenantId: 't' };
    for (let i = 0; i < 10_000; i += 1) body = [body];
    const path = findTenancyKey(body);
    expect(path).toHaveLength(10_001);
    expect(path?.at(-1)).toBe('tenantId');
  });

  it('returns undefined for a clean body 10 000 levels deep', () => {
    let body: unknown = { id: 'x' };
    for (let i = 0; i < 10_000; i += 1) body = i % 2 === 0 ? [body] : { next: body };
    expect(findTenancyKey(body)).toBeUndefined();
  });
});

/** The issues of a one-procedure contract whose input is `input`; `[]` when it is accepted. */
function inputIssues(input: z.ZodType) {
  return issuesOrNone(() => defineContract('c', { p: query({ input, output: Ok, capability: 'tickets.read' }) }));
}

const tenancyIssue = (at: string) => ({ code: 'tenancy_key_in_input', procedure: 'c.p', at: `input.${at}` });

describe('tenancy keys in input schemas are refused at any depth', () => {
  it.each(['orgId', 'OrgID', 'ORG_ID', 'org-id', 'workspace_id', 'TenantId'])('refuses the top-level key %o', (key) => {
    expect(inputIssues(z.strictObject({ title: z.string(), [key]: z.string() }))).toEqual([tenancyIssue(key)]);
  });

  it('refuses a key in a nested object', () => {
    const input = z.strictObject({ customer: z.strictObject({ profile: z.strictObject({ orgId: z.string() }) }) });
    expect(inputIssues(input)).toEqual([tenancyIssue('customer.profile.orgId')]);
  });

  it('refuses a key in the objects of an array', () => {
    const input = z.strictObject({ items: z.array(z.strictObject({ workspace_id: z.string() })) });
    expect(inputIssues(input)).toEqual([tenancyIssue('items.*.workspace_id')]);
  });

  it('refuses a key in a tuple item and in a tuple rest', () => {
    const input = z.strictObject({
      pair: z.tuple([z.string(), z.strictObject({ TenantId: z.string() })], z.strictObject({ org_id: z.string() })),
    });
    expect(inputIssues(input)).toEqual([tenancyIssue('pair.1.TenantId'), tenancyIssue('pair.*.org_id')]);
  });

  it('refuses a key in one member of a union', () => {
    const input = z.strictObject({
      target: z.union([z.string(), z.strictObject({ name: z.string() }), z.strictObject({ orgId: z.string() })]),
    });
    expect(inputIssues(input)).toEqual([tenancyIssue('target.orgId')]);
  });

  it('refuses a key in one branch of a discriminated union', () => {
    const input = z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('user'), userId: z.string() }),
      z.strictObject({ kind: z.literal('org'), OrgID: z.string() }),
    ]);
    expect(inputIssues(input)).toEqual([tenancyIssue('OrgID')]);
  });

  it('refuses a key on either side of an intersection', () => {
    const left = z.intersection(z.strictObject({ orgId: z.string() }), z.strictObject({ title: z.string() }));
    const right = z.intersection(z.strictObject({ title: z.string() }), z.strictObject({ tenantId: z.string() }));
    expect(inputIssues(z.strictObject({ x: left }))).toEqual([tenancyIssue('x.orgId')]);
    expect(inputIssues(z.strictObject({ x: right }))).toEqual([tenancyIssue('x.tenantId')]);
  });

  it.each([
    ['optional', z.string().optional()],
    ['nullable', z.string().nullable()],
    ['default', z.string().default('org_1')],
    ['nullish', z.string().nullish()],
    ['readonly', z.string().readonly()],
    ['catch', z.string().catch('org_1')],
  ])('refuses a key whose field is %s', (_label, field) => {
    expect(inputIssues(z.strictObject({ orgId: field }))).toEqual([tenancyIssue('orgId')]);
  });

  it.each([
    ['optional', (s: z.ZodType) => s.optional()],
    ['nullable', (s: z.ZodType) => s.nullable()],
    ['default', (s: z.ZodType) => s.default({ orgId: 'org_1' })],
    ['readonly', (s: z.ZodType) => s.readonly()],
    ['piped', (s: z.ZodType) => s.pipe(z.any())],
  ])('refuses a key inside an object wrapped as %s', (_label, wrap) => {
    const input = z.strictObject({ owner: wrap(z.strictObject({ orgId: z.string() })) });
    expect(inputIssues(input)).toEqual([tenancyIssue('owner.orgId')]);
  });

  it('refuses a record whose key enum admits a tenancy key', () => {
    const input = z.strictObject({ limits: z.record(z.enum(['seats', 'orgId']), z.number()) });
    expect(inputIssues(input)).toEqual([tenancyIssue('limits.orgId')]);
  });

  it('refuses a record whose key literal admits a tenancy key', () => {
    const input = z.strictObject({ limits: z.record(z.literal('tenant_id'), z.number()) });
    expect(inputIssues(input)).toEqual([tenancyIssue('limits.tenant_id')]);
  });

  it('refuses a record whose key union of literals admits a tenancy key', () => {
    const input = z.strictObject({ limits: z.partialRecord(z.union([z.literal('a'), z.literal('WorkspaceId')]), z.number()) });
    expect(inputIssues(input)).toEqual([tenancyIssue('limits.WorkspaceId')]);
  });

  it('accepts a record whose key enum admits none', () => {
    expect(inputIssues(z.strictObject({ limits: z.record(z.enum(['seats', 'org']), z.number()) }))).toEqual([]);
  });

  it('refuses a key inside record values', () => {
    const input = z.strictObject({ byId: z.record(z.string(), z.strictObject({ orgId: z.string() })) });
    expect(inputIssues(input)).toEqual([tenancyIssue('byId.*.orgId')]);
  });

  it('refuses a key inside the catchall schema', () => {
    const input = z.strictObject({ title: z.string() }).catchall(z.strictObject({ 'org-id': z.string() }));
    expect(inputIssues(input)).toEqual([tenancyIssue('*.org-id')]);
  });

  it('refuses a key in a lazy recursive schema, and terminates', () => {
    type Node = { name: string; orgId: string; children: Node[] };
    const Node: z.ZodType<Node> = z.lazy(() =>
      z.strictObject({ name: z.string(), orgId: z.string(), children: z.array(Node) }),
    );
    expect(inputIssues(z.strictObject({ root: Node }))).toEqual([tenancyIssue('root.orgId')]);
  });

  it('refuses a key in a getter-based recursive schema, and terminates', () => {
    const Category = z.strictObject({
      name: z.string(),
      tenantId: z.string(),
      get children() {
        return z.array(Category);
      },
    });
    expect(inputIssues(Category)).toEqual([tenancyIssue('tenantId')]);
  });

  it('refuses every tenancy key it finds, not only the first', () => {
    const input = z.strictObject({ orgId: z.string(), nested: z.strictObject({ tenant_id: z.string() }) });
    expect(inputIssues(input)).toEqual([tenancyIssue('orgId'), tenancyIssue('nested.tenant_id')]);
  });

  it('accepts the same structure without a tenancy key', () => {
    const input = z.strictObject({
      customer: z.strictObject({ org: z.string(), organization: z.string(), orgIdentifier: z.string() }),
      items: z.array(z.strictObject({ id: z.string() })),
    });
    expect(inputIssues(input)).toEqual([]);
  });
});

describe('tenancy keys in output schemas are allowed', () => {
  it('accepts tenancy keys at any depth of an output', () => {
    const output = z.strictObject({
      orgId: z.string(),
      items: z.array(z.strictObject({ workspace_id: z.string() })),
      byKey: z.record(z.enum(['tenantId']), z.string()),
    });
    const contract = defineContract('c', { p: query({ input: TicketId, output, capability: 'tickets.read' }) });
    expect(isContract(contract)).toBe(true);
  });
});

describe('input objects must refuse unknown keys', () => {
  const strictness = (at: string) => ({ code: 'non_strict_input_object', procedure: 'c.p', at });

  it('refuses a z.object input', () => {
    expect(inputIssues(z.object({ title: z.string() }))).toEqual([strictness('input')]);
  });

  it('refuses a z.object nested in a strict input, at its path', () => {
    const input = z.strictObject({ items: z.array(z.object({ title: z.string() })) });
    expect(inputIssues(input)).toEqual([strictness('input.items.*')]);
  });

  it('refuses a z.object hidden in an optional union member', () => {
    const input = z.strictObject({ x: z.union([z.string(), z.object({ a: z.string() })]).optional() });
    expect(inputIssues(input)).toEqual([strictness('input.x')]);
  });

  it('accepts z.strictObject', () => {
    expect(inputIssues(z.strictObject({ title: z.string() }))).toEqual([]);
  });

  it('accepts z.object(...).strict()', () => {
    expect(inputIssues(z.object({ title: z.string() }).strict())).toEqual([]);
  });

  it('accepts an object with a catchall that says what extra keys hold', () => {
    expect(inputIssues(z.object({ title: z.string() }).catchall(z.string()))).toEqual([]);
  });

  it('accepts a z.object in an output', () => {
    const contract = defineContract('c', {
      p: query({ input: TicketId, output: z.object({ ok: z.boolean() }), capability: 'tickets.read' }),
    });
    expect(isContract(contract)).toBe(true);
  });
});
