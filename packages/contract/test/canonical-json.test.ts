import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/manifest/index.ts';

describe('canonicalJson', () => {
  it('sorts object keys', () => {
    expect(canonicalJson({ b: 1, a: 2, c: { z: true, y: null } })).toBe('{"a":2,"b":1,"c":{"y":null,"z":true}}');
  });

  it('gives the same text whatever order the keys were written in', () => {
    expect(canonicalJson({ x: { b: [1], a: 'a' }, w: 0 })).toBe(canonicalJson({ w: 0, x: { a: 'a', b: [1] } }));
  });

  it('keeps array order, nested arrays included, and sorts the objects inside them', () => {
    expect(canonicalJson([3, 1, [2, [1, 0]], [{ b: 1, a: 0 }]])).toBe('[3,1,[2,[1,0]],[{"a":0,"b":1}]]');
  });

  it('sorts keys by UTF-16 code units, not by locale or by code point', () => {
    // 'B' (0x42) < 'a' (0x61) in code units, though a locale sort puts 'a' first.
    // '\u{1F600}' is the surrogate pair D83D DE00, which sorts before '\uFFFD' by code unit but after it by code point.
    const value = { a: 1, B: 2, '\uFFFD': 3, '\u{1F600}': 4, é: 5, '': 6 };
    expect(canonicalJson(value)).toBe('{"":6,"B":2,"a":1,"é":5,"\u{1F600}":4,"\uFFFD":3}');
  });

  it('writes no whitespace', () => {
    expect(canonicalJson({ a: [1, { b: 'c d' }] })).toBe('{"a":[1,{"b":"c d"}]}');
  });

  it('omits object members whose value is undefined', () => {
    expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}');
  });

  it('escapes strings and keys exactly as JSON.stringify does', () => {
    const tricky = [
      '"quoted"',
      'back\\slash',
      'line\nbreak',
      'tab\t',
      '\u0000\u001f',
      '\u2028\u2029',
      '\ud800',
      'é😀',
      '</script>',
    ];
    for (const text of tricky) {
      expect(canonicalJson(text)).toBe(JSON.stringify(text));
      expect(canonicalJson({ [text]: text })).toBe(`{${JSON.stringify(text)}:${JSON.stringify(text)}}`);
    }
  });

  it('writes numbers as ECMAScript does', () => {
    expect(canonicalJson([0, -0, 1.5, 0.1, 1e21, 1e-7, -42, Number.MAX_SAFE_INTEGER])).toBe(
      JSON.stringify([0, -0, 1.5, 0.1, 1e21, 1e-7, -42, Number.MAX_SAFE_INTEGER]),
    );
    expect(canonicalJson(-0)).toBe('0');
  });

  it('writes the JSON scalars', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(false)).toBe('false');
    expect(canonicalJson('')).toBe('""');
  });

  it('matches JSON.stringify on data whose keys are already sorted', () => {
    const value = { a: [1, 'two', null, { b: false, c: { d: [] } }], e: 'f' };
    expect(canonicalJson(value)).toBe(JSON.stringify(value));
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['NaN inside an object', { a: NaN }],
    ['Infinity inside an array', [1, Infinity]],
    ['undefined in an array', [1, undefined]],
    ['undefined at the top', undefined],
    ['a function', () => 1],
    ['a function member', { f: () => 1 }],
    ['a bigint', 1n],
    ['a bigint member', { n: 10n }],
    ['a symbol', Symbol('s')],
  ])('refuses %s with a TypeError', (_label, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });
});

describe('canonicalJson refuses what is not plain JSON data', () => {
  it('refuses sparse arrays instead of writing invalid JSON', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(() => canonicalJson([, 1])).toThrow(TypeError);
  });

  it('refuses class instances (Date, Map, Set) instead of writing {}', () => {
    for (const value of [new Date(0), new Map([[1, 2]]), new Set([1])]) expect(() => canonicalJson({ value })).toThrow(TypeError);
    expect(canonicalJson(Object.assign(Object.create(null), { b: 1, a: 2 }))).toBe('{"a":2,"b":1}');
  });
});
