import { describe, expect, it } from 'vitest';
import { parseStrictJsonObject } from './strict-json.ts';

const strict = (text: string, maxDepth = 8) => parseStrictJsonObject(text, { maxDepth });

describe('parseStrictJsonObject', () => {
  it('accepts a plain object and returns the parsed value', () => {
    expect(strict('{"sub":"a","org":"acme","n":[1,{"x":null}]}')).toEqual({
      ok: true,
      value: { sub: 'a', org: 'acme', n: [1, { x: null }] },
    });
  });

  it.each([
    ['plain', '{"sub":"a","sub":"b"}', 'sub'],
    ['escaped second', '{"sub":"a","s\\u0075b":"b"}', 'sub'],
    ['escaped first', '{"\\u0073ub":"a","sub":"b"}', 'sub'],
    ['both escaped differently', '{"\\u006frg":"a","o\\u0072g":"b"}', 'org'],
    ['escaped solidus', '{"a/b":1,"a\\/b":2}', 'a/b'],
    ['nested object', '{"a":{"x":1,"y":2,"x":3}}', 'x'],
    ['object inside array', '{"a":[1,{"k":1,"k":2}]}', 'k'],
    ['empty name', '{"":1,"":2}', ''],
    ['after a value holding quotes and braces', '{"a":"}{\\"\\",","b":1,"a":2}', 'a'],
    ['__proto__', '{"__proto__":1,"__proto__":2}', '__proto__'],
  ])('refuses a duplicate member (%s)', (_name, text, member) => {
    expect(strict(text)).toEqual({ ok: false, issue: { code: 'duplicate_member', member } });
  });

  it.each([
    ['string values equal to names', '{"a":"a","b":"a"}'],
    ['the same name in sibling objects', '{"x":{"a":1},"y":{"a":1}}'],
    ['equal strings in an array', '{"a":["a","a"]}'],
    ['names differing only in case', '{"sub":1,"Sub":2}'],
    ['a name equal to a later value', '{"a":1,"b":{"c":"a"}}'],
  ])('accepts %s', (_name, text) => {
    expect(strict(text).ok).toBe(true);
  });

  it('counts objects and arrays towards the depth and allows exactly maxDepth', () => {
    expect(strict('{"a":{"b":[1]}}', 3).ok).toBe(true);
    expect(strict('{"a":{"b":[1]}}', 2)).toEqual({ ok: false, issue: { code: 'too_deep', maxDepth: 2 } });
    expect(strict('{"a":"[[[[[[[[[[{{{{{{"}', 1).ok).toBe(true);
  });

  it('survives hostile nesting without overflowing the stack', () => {
    const depth = 100_000;
    const text = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(strict(text)).toEqual({ ok: false, issue: { code: 'too_deep', maxDepth: 8 } });
  });

  it.each([['[1,2]'], ['"text"'], ['42'], ['null'], ['true']])('refuses the top-level value %s', (text) => {
    expect(strict(text)).toEqual({ ok: false, issue: { code: 'not_an_object' } });
  });

  it.each([[''], ['{'], ['{"a":1,}'], ["{'a':1}"], ['{"a":1}x'], ['\ufeff{"a":1}']])(
    'refuses invalid JSON %j',
    (text) => {
      expect(strict(text)).toEqual({ ok: false, issue: { code: 'invalid_json' } });
    },
  );
});
