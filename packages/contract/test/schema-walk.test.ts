import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { walkSchema } from '../src/index.ts';
import { schemaAtPath } from '../src/schema-walk.ts';

describe('walkSchema', () => {
  it('reports tenancy keys and non-strict objects as data, with dotted paths', () => {
    const schema = z.strictObject({ owner: z.object({ orgId: z.string() }) });
    expect(walkSchema(schema, 'input').findings).toEqual([
      { kind: 'tenancy_key', at: 'owner.orgId', detail: 'orgId' },
      { kind: 'non_strict_object', at: 'owner', detail: '' },
    ]);
  });

  it('reports nothing about tenancy keys or strictness in output mode', () => {
    const schema = z.object({ orgId: z.string(), limits: z.record(z.enum(['tenantId']), z.number()) });
    expect(walkSchema(schema, 'output').findings).toEqual([]);
  });

  it('reports a shared schema with a tenancy key at every path that uses it', () => {
    const Owner = z.strictObject({ orgId: z.string() });
    expect(walkSchema(z.strictObject({ a: Owner, b: Owner }), 'input').findings).toEqual([
      { kind: 'tenancy_key', at: 'a.orgId', detail: 'orgId' },
      { kind: 'tenancy_key', at: 'b.orgId', detail: 'orgId' },
    ]);
  });

  it('walks both sides of a pipe', () => {
    const inSide = z.strictObject({ orgId: z.string() }).pipe(z.any());
    const outSide = z.any().pipe(z.strictObject({ tenantId: z.string() }));
    expect(walkSchema(inSide, 'input').findings).toEqual([{ kind: 'tenancy_key', at: 'orgId', detail: 'orgId' }]);
    expect(walkSchema(outSide, 'input').findings).toEqual([{ kind: 'tenancy_key', at: 'tenantId', detail: 'tenantId' }]);
  });

  it('walks set items', () => {
    const schema = z.strictObject({ s: z.set(z.strictObject({ orgId: z.string() })) });
    expect(walkSchema(schema, 'input').findings).toEqual([{ kind: 'tenancy_key', at: 's.*.orgId', detail: 'orgId' }]);
  });

  it('terminates on mutually recursive lazy schemas', () => {
    type A = { b?: B | undefined; orgId: string };
    type B = { a?: A | undefined };
    const A: z.ZodType<A> = z.lazy(() => z.strictObject({ b: B.optional(), orgId: z.string() }));
    const B: z.ZodType<B> = z.lazy(() => z.strictObject({ a: A.optional() }));
    expect(walkSchema(A, 'input').findings).toEqual([{ kind: 'tenancy_key', at: 'orgId', detail: 'orgId' }]);
    expect(walkSchema(B, 'input').findings).toEqual([{ kind: 'tenancy_key', at: 'a.orgId', detail: 'orgId' }]);
  });

  it('does not look into a record whose keys are any string', () => {
    // The key set is open, so there is nothing to refuse at definition: request-time refuseTenancyKeys covers it.
    expect(walkSchema(z.strictObject({ m: z.record(z.string(), z.string()) }), 'input').findings).toEqual([]);
  });

  it('sorts classified fields by path', () => {
    const schema = z.strictObject({
      z: z.string().meta({ pii: 'name' }),
      a: z.string().meta({ pii: 'name' }),
      m: z.strictObject({ b: z.string().meta({ secret: true }) }),
    });
    expect(walkSchema(schema, 'output').classified.map((field) => field.path)).toEqual(['a', 'm.b', 'z']);
  });
});

describe('schemaAtPath', () => {
  const Input = z.strictObject({
    ticketId: z.string(),
    maybe: z.string().optional(),
    parent: z.strictObject({ id: z.number() }).optional(),
    tags: z.array(z.string()),
  });

  it('returns the field schema as declared', () => {
    expect(schemaAtPath(Input, ['ticketId'])).toBe(Input.shape.ticketId);
    expect(schemaAtPath(Input, ['maybe'])).toBe(Input.shape.maybe);
  });

  it('does not go through an optional object: the field could then be absent', () => {
    expect(schemaAtPath(Input, ['parent', 'id'])).toBeUndefined();
  });

  it('returns undefined for a path that names no field', () => {
    expect(schemaAtPath(Input, ['nope'])).toBeUndefined();
    expect(schemaAtPath(Input, ['tags', '0'])).toBeUndefined();
    expect(schemaAtPath(Input, ['constructor'])).toBeUndefined();
    expect(schemaAtPath(z.string(), ['x'])).toBeUndefined();
  });

  it('returns the schema itself for an empty path', () => {
    expect(schemaAtPath(Input, [])).toBe(Input);
  });
});
