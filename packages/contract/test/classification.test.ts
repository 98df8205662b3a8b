import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { PII_CATEGORIES, defineContract, isPiiCategory, query, readMeta, walkSchema } from '../src/index.ts';
import { Ok, TicketId, definitionIssues } from './support/definition-issues.ts';

/** The classified fields by their display path (the segments are checked on their own below). */
const classifiedIn = (schema: z.ZodType, mode: 'input' | 'output' = 'output') =>
  walkSchema(schema, mode).classified.map(({ segments: _segments, ...field }) => field);

describe('classified fields are collected with their paths', () => {
  it('collects pii and secret fields of an object', () => {
    const schema = z.strictObject({
      name: z.string().meta({ pii: 'name' }),
      email: z.email().meta({ pii: 'contact' }),
      apiKey: z.string().meta({ secret: true }),
      title: z.string(),
    });
    expect(classifiedIn(schema)).toEqual([
      { path: 'apiKey', secret: true },
      { path: 'email', pii: 'contact' },
      { path: 'name', pii: 'name' },
    ]);
  });

  it('gives each field its place as segments: keys, tuple indices, null for any item or value; a key with a dot stays one key', () => {
    const schema = z
      .strictObject({
        customer: z.strictObject({ address: z.strictObject({ city: z.string().meta({ pii: 'location' }) }) }),
        'customer.address': z.strictObject({ city: z.string().meta({ pii: 'name' }) }),
        contacts: z.array(z.strictObject({ phone: z.string().meta({ pii: 'contact' }) })),
        notes: z.record(z.string(), z.string().meta({ pii: 'free-text' })),
        pair: z.tuple([z.string(), z.string().meta({ pii: 'identifier' })]),
        '*': z.string().meta({ pii: 'name' }),
      })
      .catchall(z.string().meta({ secret: true }));
    expect(walkSchema(schema, 'output').classified.map((f) => [f.path, f.segments])).toEqual([
      ['*', ['*']],
      ['*', [null]],
      ['contacts.*.phone', ['contacts', null, 'phone']],
      ['customer.address.city', ['customer', 'address', 'city']],
      ['customer.address.city', ['customer.address', 'city']],
      ['notes.*', ['notes', null]],
      ['pair.1', ['pair', '1']],
    ]);
  });

  it('joins nested object keys with dots', () => {
    const address = z.strictObject({ city: z.string().meta({ pii: 'location' }) });
    const schema = z.strictObject({ customer: z.strictObject({ address }) });
    expect(classifiedIn(schema)).toEqual([{ path: 'customer.address.city', pii: 'location' }]);
  });

  it('uses * for array items', () => {
    const schema = z.strictObject({ contacts: z.array(z.strictObject({ phone: z.string().meta({ pii: 'contact' }) })) });
    expect(classifiedIn(schema)).toEqual([{ path: 'contacts.*.phone', pii: 'contact' }]);
  });

  it('uses * for a classified array item itself', () => {
    const schema = z.strictObject({ emails: z.array(z.email().meta({ pii: 'contact' })) });
    expect(classifiedIn(schema)).toEqual([{ path: 'emails.*', pii: 'contact' }]);
  });

  it('uses * for record values', () => {
    const schema = z.strictObject({ notes: z.record(z.string(), z.string().meta({ pii: 'free-text' })) });
    expect(classifiedIn(schema)).toEqual([{ path: 'notes.*', pii: 'free-text' }]);
  });

  it('uses * for catchall values and the index for tuple items', () => {
    const schema = z
      .strictObject({ pair: z.tuple([z.string(), z.string().meta({ pii: 'identifier' })]) })
      .catchall(z.string().meta({ secret: true }));
    expect(classifiedIn(schema)).toEqual([
      { path: '*', secret: true },
      { path: 'pair.1', pii: 'identifier' },
    ]);
  });

  it('records a field that is both pii and secret once, with both', () => {
    const schema = z.strictObject({ ssn: z.string().meta({ pii: 'identifier', secret: true }) });
    expect(classifiedIn(schema)).toEqual([{ path: 'ssn', pii: 'identifier', secret: true }]);
  });

  it('reads classification through .optional(), .nullable() and .default()', () => {
    const schema = z.strictObject({
      a: z.string().meta({ pii: 'name' }).optional(),
      b: z.string().meta({ pii: 'health' }).nullable(),
      c: z.string().meta({ pii: 'financial' }).default('0'),
    });
    expect(classifiedIn(schema)).toEqual([
      { path: 'a', pii: 'name' },
      { path: 'b', pii: 'health' },
      { path: 'c', pii: 'financial' },
    ]);
  });

  it('reads classification set on the optional wrapper itself', () => {
    const schema = z.strictObject({ a: z.string().optional().meta({ pii: 'name' }) });
    expect(classifiedIn(schema)).toEqual([{ path: 'a', pii: 'name' }]);
  });

  it('keeps classification through calls chained after .meta()', () => {
    const schema = z.strictObject({
      name: z.string().meta({ pii: 'name' }).min(3).max(80).trim(),
      note: z.string().meta({ pii: 'free-text' }).describe('a note'),
    });
    expect(classifiedIn(schema)).toEqual([
      { path: 'name', pii: 'name' },
      { path: 'note', pii: 'free-text' },
    ]);
  });

  it('reports a shared schema at every path that uses it', () => {
    const Email = z.email().meta({ pii: 'contact' });
    const schema = z.strictObject({ from: Email, to: z.array(Email), cc: Email.optional() });
    expect(classifiedIn(schema)).toEqual([
      { path: 'cc', pii: 'contact' },
      { path: 'from', pii: 'contact' },
      { path: 'to.*', pii: 'contact' },
    ]);
  });

  it('classifies a whole object at its own path', () => {
    const schema = z.strictObject({ card: z.strictObject({ number: z.string() }).meta({ pii: 'financial' }) });
    expect(classifiedIn(schema)).toEqual([{ path: 'card', pii: 'financial' }]);
  });

  it('classifies in union members and in lazy schemas', () => {
    type Tree = { label: string; kids: Tree[] };
    const Tree: z.ZodType<Tree> = z.lazy(() => z.strictObject({ label: z.string().meta({ pii: 'name' }), kids: z.array(Tree) }));
    const schema = z.strictObject({
      who: z.union([z.strictObject({ email: z.email().meta({ pii: 'contact' }) }), z.string()]),
      tree: Tree,
    });
    expect(classifiedIn(schema)).toEqual([
      { path: 'tree.label', pii: 'name' },
      { path: 'who.email', pii: 'contact' },
    ]);
  });

  it('collects classification in inputs too', () => {
    const schema = z.strictObject({ email: z.email().meta({ pii: 'contact' }) });
    expect(classifiedIn(schema, 'input')).toEqual([{ path: 'email', pii: 'contact' }]);
  });

  it('ignores metadata that is not a classification', () => {
    const schema = z.strictObject({ title: z.string().meta({ description: 'a title', examples: ['x'] }) });
    expect(classifiedIn(schema)).toEqual([]);
  });

  it('accepts every declared category', () => {
    for (const pii of PII_CATEGORIES) {
      expect(classifiedIn(z.strictObject({ f: z.string().meta({ pii }) }))).toEqual([{ path: 'f', pii }]);
    }
  });
});

describe('invalid_classification', () => {
  const classification = (at: string) => ({ code: 'invalid_classification', procedure: 'c.p', at });

  it.each([
    ['an unknown pii category', { pii: 'email' }],
    ['a pii category in the wrong case', { pii: 'Contact' }],
    ['pii: true', { pii: true }],
    ['secret: false', { secret: false }],
    ['secret: "yes"', { secret: 'yes' }],
  ])('refuses %s in an input', (_label, meta) => {
    const input = z.strictObject({ field: z.string().meta(meta) });
    expect(definitionIssues(() => defineContract('c', { p: query({ input, output: Ok, capability: 'a.b' }) }))).toEqual([
      classification('input.field'),
    ]);
  });

  it('refuses an unknown category in an output, at its path', () => {
    const output = z.strictObject({ items: z.array(z.strictObject({ phone: z.string().meta({ pii: 'phone' }) })) });
    expect(definitionIssues(() => defineContract('c', { p: query({ input: TicketId, output, capability: 'a.b' }) }))).toEqual([
      classification('output.items.*.phone'),
    ]);
  });

  it('does not list a refused field as classified', () => {
    expect(classifiedIn(z.strictObject({ f: z.string().meta({ pii: 'email' }) }))).toEqual([]);
    expect(walkSchema(z.strictObject({ f: z.string().meta({ pii: 'email' }) }), 'output').findings).toEqual([
      { kind: 'invalid_classification', at: 'f', detail: 'pii: "email"' },
    ]);
  });

  it('isPiiCategory knows exactly the declared categories', () => {
    expect(PII_CATEGORIES).toEqual(['name', 'contact', 'identifier', 'financial', 'health', 'location', 'free-text']);
    expect(Object.isFrozen(PII_CATEGORIES)).toBe(true);
    expect(isPiiCategory('contact')).toBe(true);
    expect(isPiiCategory('email')).toBe(false);
    expect(isPiiCategory(undefined)).toBe(false);
    expect(isPiiCategory(['contact'])).toBe(false);
  });
});

describe('readMeta', () => {
  it('merges metadata along the clone chain, later calls winning', () => {
    const schema = z.string().meta({ pii: 'name', description: 'first' }).min(1).meta({ description: 'second' });
    expect(readMeta(schema)).toEqual({ pii: 'name', description: 'second' });
  });

  it('returns an empty object for a schema without metadata', () => {
    expect(readMeta(z.string())).toEqual({});
  });

  it('does not see metadata of a wrapped inner schema on the wrapper', () => {
    expect(readMeta(z.string().meta({ pii: 'name' }).optional())).toEqual({});
  });
});
