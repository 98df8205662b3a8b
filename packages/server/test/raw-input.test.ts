import { describe, expect, it } from 'vitest';
import { InputTooDeepError, MalformedTextError, TenancyKeyInInputError } from '../src/index.ts';
import { MAX_INPUT_DEPTH, rawInputProblem } from '../src/pipeline/raw-input.ts';

const nest = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? [value] : { a: value };
  return value;
};

describe('rawInputProblem', () => {
  it(`accepts ${MAX_INPUT_DEPTH} levels and refuses one more, in arrays and objects alike`, () => {
    expect(rawInputProblem(nest(MAX_INPUT_DEPTH))).toBeUndefined();
    expect(rawInputProblem(nest(MAX_INPUT_DEPTH + 1))).toEqual({ kind: 'too-deep' });
    expect(rawInputProblem({ ok: 1, deep: nest(MAX_INPUT_DEPTH) })).toEqual({ kind: 'too-deep' });
  });

  it('walks 1,000,000 levels without a stack overflow and refuses them', () => {
    expect(rawInputProblem(nest(1_000_000))).toEqual({ kind: 'too-deep' });
  });

  it.each([
    ['a lone high surrogate in a value', { title: 'a\uD800b' }],
    ['a lone low surrogate in a value', ['x', '\uDC00']],
    ['a reversed pair', { title: '\uDC00\uD800' }],
    ['a lone surrogate in a key', { ['k\uD800']: 1 }],
    ['a lone surrogate as the whole input', '\uDBFF'],
  ])('refuses %s', (_what, value) => {
    expect(rawInputProblem(value)).toEqual({ kind: 'malformed-text' });
  });

  it('accepts well-formed text: astral characters (surrogate pairs), NUL, and every other scalar', () => {
    expect(rawInputProblem({ title: '😀 𝄞 \u0000 \uFFFF', tags: ['é', '中文'] })).toBeUndefined();
    expect(rawInputProblem(null)).toBeUndefined();
    expect(rawInputProblem(undefined)).toBeUndefined();
  });
});

describe('the refusals', () => {
  it('have fixed wire text and 400', () => {
    expect(new InputTooDeepError(MAX_INPUT_DEPTH)).toMatchObject({ status: 400, wireCode: 'ERR_INPUT_TOO_DEEP', wireMessage: 'The input nests deeper than 64 levels' });
    expect(new MalformedTextError()).toMatchObject({ status: 400, wireCode: 'ERR_INPUT_MALFORMED_TEXT' });
  });

  it("a tenancy-key refusal echoes at most the last 100 characters of the caller's own path", () => {
    const short = new TenancyKeyInInputError('ticket.orgId');
    expect(short.wireMessage).toBe('"ticket.orgId" is not accepted: the tenant comes from the verified session, never from the input');
    const long = new TenancyKeyInInputError(`${'k'.repeat(100_000)}.orgId`);
    expect(long.wireMessage.length).toBeLessThan(200);
    expect(long.wireMessage).toContain(`"…${'k'.repeat(94)}.orgId"`);
    expect(long.message.length).toBeLessThan(600);
  });
});
