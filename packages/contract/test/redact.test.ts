import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mutation, walkSchema } from '@covenant/contract';
import * as z from 'zod';
import { createHmac } from 'node:crypto';
import { inputDigestOf, redactClassified } from '../src/redact.ts';

/** A keyed digester as the ledger's signer is one (its key here a test constant). */
const DIGESTER = { digest: (text: string) => `hmac-sha256:${createHmac('sha256', 'test key').update(text).digest('hex')}` };

describe('redactClassified', () => {
  it('replaces classified fields at their paths, array items and record values included', () => {
    const value = {
      email: 'a@example.com',
      contacts: [{ phone: '+1 555', note: 'keep' }, { phone: '+1 556', note: 'keep' }],
      notes: { x: { ssn: '123' } },
      apiKey: 'sk_live_abc',
    };
    const redacted = redactClassified(value, [
      { path: 'email', segments: ['email'], pii: 'contact' },
      { path: 'contacts.*.phone', segments: ['contacts', null, 'phone'], pii: 'contact' },
      { path: 'notes.*.ssn', segments: ['notes', null, 'ssn'], pii: 'identifier' },
      { path: 'apiKey', segments: ['apiKey'], secret: true },
    ]);
    expect(redacted).toEqual({
      email: '[redacted:contact]',
      contacts: [
        { phone: '[redacted:contact]', note: 'keep' },
        { phone: '[redacted:contact]', note: 'keep' },
      ],
      notes: { x: { ssn: '[redacted:identifier]' } },
      apiKey: '[redacted:secret]',
    });
    expect(JSON.stringify(redacted)).not.toMatch(/a@example\.com|555|123|sk_live/);
    // The original is untouched.
    expect(value.email).toBe('a@example.com');
  });

  it('redacts a classified key that contains a dot (issue 12 §5: the digest was the hash of the raw input)', () => {
    const procedure = mutation({
      input: z.strictObject({
        'user.email': z.email().meta({ pii: 'contact' }),
        user: z.strictObject({ email: z.string() }),
        '*': z.string().meta({ pii: 'name' }),
        tags: z.array(z.string()),
      }),
      output: z.object({ ok: z.boolean() }),
      capability: 'notes.write',
    });
    const fields = walkSchema(procedure['~covenant'].input, 'input').classified;
    expect(fields.map((f) => f.segments)).toEqual([['*'], ['user.email']]);
    const input = { 'user.email': 'alice@example.com', user: { email: 'not classified' }, '*': 'Alice', tags: ['a'] };
    expect(redactClassified(input, fields)).toEqual({
      'user.email': '[redacted:contact]',
      user: { email: 'not classified' },
      '*': '[redacted:name]',
      tags: ['a'],
    });
    // So the digest does not move with the classified value, and does with the others.
    const digest = inputDigestOf(procedure, input, DIGESTER);
    expect(inputDigestOf(procedure, { ...input, 'user.email': 'bob@example.org', '*': 'Bob' }, DIGESTER)).toBe(digest);
    expect(inputDigestOf(procedure, { ...input, user: { email: 'changed' } }, DIGESTER)).not.toBe(digest);
  });

  it('returns the value itself when nothing is classified', () => {
    const value = { a: 1 };
    expect(redactClassified(value, [])).toBe(value);
  });
});

describe('redactClassified never leaks a classified value (property)', () => {
  it('for random documents and classified paths, no classified value survives and nothing else changes', () => {
    // Keys with dots and a literal `*` too: places are segments, never a split dotted string.
    const key = fc.constantFrom('a', 'b', 'email', 'phone', 'items', 'meta', 'a.b', '*', '0');
    // A document is a nested object/array tree; secrets are unique marker strings placed at classified paths.
    const document = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 8 }),
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(key, tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    const classifiedPath = fc.array(fc.oneof(key, fc.constant(null)), { minLength: 1, maxLength: 3 });

    fc.assert(
      fc.property(document, fc.array(classifiedPath, { maxLength: 3 }), (doc, paths) => {
        const fields = paths.map((segments) => ({ path: segments.map((s) => s ?? '*').join('.'), segments, pii: 'contact' as const }));
        const redacted = redactClassified(doc, fields);
        // Every value at a classified path is the redaction label; every other leaf is unchanged.
        const walk = (original: unknown, after: unknown, path: string[]): void => {
          const classified = fields.some(
            (f) => f.segments.length === path.length && f.segments.every((s, i) => s === null || s === path[i]),
          );
          if (classified) {
            expect(after).toBe('[redacted:contact]');
            return;
          }
          if (Array.isArray(original)) {
            expect(Array.isArray(after)).toBe(true);
            original.forEach((item, i) => walk(item, (after as unknown[])[i], [...path, String(i)]));
          } else if (original !== null && typeof original === 'object') {
            expect(Object.keys(after as object).sort()).toEqual(Object.keys(original).sort());
            for (const [k, v] of Object.entries(original)) walk(v, (after as Record<string, unknown>)[k], [...path, k]);
          } else {
            expect(after).toBe(original);
          }
        };
        walk(doc, redacted, []);
      }),
      { numRuns: 300 },
    );
  });
});

describe('inputDigestOf', () => {
  const procedure = mutation({
    input: z.strictObject({ title: z.string(), email: z.email().meta({ pii: 'contact' }) }),
    output: z.object({ ok: z.boolean() }),
    capability: 'notes.write',
  });

  it('digests the parsed input with classified fields redacted: the PII does not change it, other fields do', () => {
    const a = inputDigestOf(procedure, { title: 'x', email: 'a@example.com' }, DIGESTER);
    expect(a).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(inputDigestOf(procedure, { title: 'x', email: 'b@example.org' }, DIGESTER)).toBe(a);
    expect(inputDigestOf(procedure, { title: 'y', email: 'a@example.com' }, DIGESTER)).not.toBe(a);
    // Key order does not matter (canonical JSON).
    expect(inputDigestOf(procedure, { email: 'a@example.com', title: 'x' }, DIGESTER)).toBe(a);
  });
});
