// The entry encoding against its specification (docs/ledger.md, "Entries"): the hand-written canonical encoder
// against canonicalJson of @covenant/contract, the store's prepared path against encodeEntry, and the
// verifier's byte-level fast path (canonicalEntryIndex) against decodeEntry: it may decline, but whatever it
// accepts decodeEntry accepts too, with the same seq, kind, request id and at.
import { canonicalJson } from '@covenant/contract/manifest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEntryIndex, entryIndexOf, prepareEntry, preparedEntryLength, writePreparedEntry, type EntryIndex } from '../src/entry.ts';
import { LogError, assertNewEntry, decodeEntry, encodeEntry, type JsonValue, type LedgerEntry, type NewEntry } from '../src/index.ts';
import { sample } from './ledger-fixtures.ts';

const AT = '2026-01-02T03:04:05.678Z';
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Text members: characters that need escaping, non-ASCII, astral (surrogate pairs), U+2028, plain ASCII. */
const SPECIAL = ['"', '\\', '/', 'é', 'ユ', '😀', '\u2028', '\u00a0', ' ', '~'];
const textArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'abcXYZ019_.-:'.split('')), minLength: 1, maxLength: 16 }),
  fc.string({ unit: fc.constantFrom(...'abc_'.split(''), ...SPECIAL), minLength: 1, maxLength: 12 }),
);
const asciiTextArb = fc.string({ unit: fc.constantFrom(...'abcXYZ019_.-: ~!'.split('')), minLength: 1, maxLength: 16 });

/** JSON data as entries may hold it: well-formed strings only, including keys like "10" and "9". */
function wellFormed(value: unknown): boolean {
  if (typeof value === 'string') return (value as string & { isWellFormed(): boolean }).isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormed);
  if (value !== null && typeof value === 'object') return Object.entries(value).every(([key, item]) => wellFormed(key) && wellFormed(item));
  return true;
}
const dataArb: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.constant({ 10: 1, 9: 2, b: [-0, 1e21, 0.1, 'x\n\u0001'], a: { é: null } } as JsonValue),
  fc.jsonValue({ maxDepth: 3 }).filter(wellFormed) as fc.Arbitrary<JsonValue>,
);

function entryArb(textOf: fc.Arbitrary<string>, data: fc.Arbitrary<JsonValue>): fc.Arbitrary<NewEntry> {
  const nullable = <T,>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
  return fc
    .record({
      kind: fc.constantFrom('intent', 'outcome', 'denial', 'event' as const),
      action: textOf,
      actor: nullable(fc.record({ subject: textOf, session: nullable(textOf) })),
      tenant: nullable(fc.record({ org: textOf, workspace: nullable(textOf) })),
      resource: nullable(fc.record({ type: textOf, id: textOf })),
      requestId: textOf,
      dropRequestId: fc.boolean(),
      outcome: nullable(fc.constantFrom('ok', 'failed', 'aborted' as const)),
      inputDigest: nullable(fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => `sha256:${hex}`)),
      data,
    })
    .map(({ dropRequestId, ...entry }) => ({
      ...entry,
      requestId: dropRequestId && (entry.kind === 'denial' || entry.kind === 'event') ? null : entry.requestId,
      outcome: entry.kind === 'intent' ? null : entry.kind === 'outcome' ? (entry.outcome ?? 'ok') : entry.outcome,
    }));
}

const seqArb = fc.oneof(fc.constantFrom(0, 9, 10, 99, 100, 999_999, Number.MAX_SAFE_INTEGER), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

describe('encodeEntry', () => {
  it('property: is exactly the UTF-8 of canonicalJson, and decodeEntry takes it back', () => {
    fc.assert(
      fc.property(entryArb(textArb, dataArb), seqArb, (newEntry, seq) => {
        const entry = { v: 1, seq, at: AT, ...newEntry } as LedgerEntry;
        const bytes = encodeEntry(entry);
        expect(text(bytes)).toBe(canonicalJson(entry));
        expect(encodeEntry(decodeEntry(bytes))).toEqual(bytes);
      }),
      { numRuns: 400 },
    );
  });

  it.each([
    ['a lone high surrogate', '\uD800x'],
    ['a lone low surrogate', 'x\uDC00'],
    ['a high surrogate at the end', 'x\uD83D'],
    ['a reversed pair', '\uDE00\uD83D'],
    ['DEL', 'a\u007Fb'],
    ['a tab', 'a\tb'],
    ['U+001F', '\u001f'],
    ['513 characters', 'a'.repeat(513)],
    ['an empty string', ''],
  ])('refuses a text member with %s', (_name, value) => {
    for (const entry of [sample(1, { action: value }), sample(1, { actor: { subject: 'u', session: value } }), sample(1, { resource: { type: 'order', id: value } })]) {
      expect(() => encodeEntry({ v: 1, seq: 0, at: AT, ...entry })).toThrow(TypeError);
      expect(() => prepareEntry(entry)).toThrow(TypeError);
    }
  });

  it('accepts 512 characters, surrogate pairs, quotes and backslashes (escaped as JSON.stringify escapes them)', () => {
    const entry = { v: 1 as const, seq: 0, at: AT, ...sample(1, { action: 'a"b\\c/😀', actor: { subject: 'é'.repeat(512), session: '😀'.repeat(256) } }) };
    const encoded = text(encodeEntry(entry));
    expect(encoded).toBe(canonicalJson(entry));
    expect(encoded).toContain('"action":"a\\"b\\\\c/😀"');
  });
});

describe('prepared entries (the store encodes each entry once, at append)', () => {
  it('property: written at any seq, a prepared entry is byte for byte encodeEntry of the sequenced entry', () => {
    const atQuoted = utf8(`"${AT}"`);
    fc.assert(
      fc.property(entryArb(textArb, dataArb), seqArb, (newEntry, seq) => {
        const prepared = prepareEntry(newEntry);
        const expected = encodeEntry({ v: 1, seq, at: AT, ...newEntry });
        expect(preparedEntryLength(prepared, seq)).toBe(expected.length);
        const target = new Uint8Array(expected.length + 3).fill(0xee);
        expect(writePreparedEntry(prepared, seq, atQuoted, target, 1)).toBe(1 + expected.length);
        expect(target.subarray(1, 1 + expected.length)).toEqual(expected);
        expect([target[0], target[expected.length + 1]]).toEqual([0xee, 0xee]);
        expect({ kind: prepared.kind, requestId: prepared.requestId }).toEqual({ kind: newEntry.kind, requestId: newEntry.requestId });
      }),
      { numRuns: 400 },
    );
  });

  it('is a snapshot: changing the caller objects afterwards changes nothing', () => {
    const entry = structuredClone(sample(1, { data: { list: [1, 2] } })) as { actor: { subject: string }; data: { list: number[] } } & NewEntry;
    const prepared = prepareEntry(entry);
    const expected = encodeEntry({ v: 1, seq: 5, at: AT, ...structuredClone(entry) });
    entry.actor.subject = 'someone else';
    entry.data.list.push(3);
    const target = new Uint8Array(expected.length);
    writePreparedEntry(prepared, 5, utf8(`"${AT}"`), target, 0);
    expect(target).toEqual(expected);
  });

  it('refuses what assertNewEntry refuses, with its message, including members the store assigns', () => {
    const bad: unknown[] = [
      null,
      [],
      { ...sample(1), v: 1 },
      { ...sample(1), seq: 3 },
      { ...sample(1), at: AT },
      { ...sample(1), kind: 'other' },
      { ...sample(1), inputDigest: `sha256:${'AB'.repeat(32)}` },
      { ...sample(1), inputDigest: `sha256:${'ab'.repeat(31)}a` },
      { ...sample(1), data: { n: Number.NaN } },
      { ...sample(1), data: { f: () => 1 } },
      { ...sample(1), data: [1, , 2] },
      (({ data: _data, ...rest }) => rest)(sample(1)),
    ];
    for (const value of bad) {
      let message = '';
      try {
        assertNewEntry(value);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      expect(() => prepareEntry(value)).toThrow(new TypeError(message));
    }
  });

  it('refuses an entry whose encoding exceeds 64 KiB at seq 0, and sizes a longer seq exactly', () => {
    const overhead = encodeEntry({ v: 1, seq: 0, at: AT, ...sample(1, { data: '' }) }).length;
    const fits = sample(1, { data: 'x'.repeat(65_536 - overhead) });
    const prepared = prepareEntry(fits);
    expect(preparedEntryLength(prepared, 0)).toBe(65_536);
    expect(preparedEntryLength(prepared, 10)).toBe(65_537);
    expect(() => prepareEntry(sample(1, { data: 'x'.repeat(65_537 - overhead) }))).toThrow(/exceeds 65536 bytes/);
  });
});

describe('decodeEntry', () => {
  it('refuses a leading byte order mark: it is not part of the canonical encoding', () => {
    const bytes = encodeEntry({ v: 1, seq: 0, at: AT, ...sample(1) });
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]);
    expect(() => decodeEntry(withBom)).toThrow(LogError);
    expect(canonicalEntryIndex(withBom)).toBeUndefined();
  });
});

/** What the verifier concludes from stored bytes: the index members (fast path or decodeEntry), or a refusal. */
function decodedIndex(bytes: Uint8Array): EntryIndex | 'refused' {
  try {
    return entryIndexOf(decodeEntry(bytes));
  } catch (error) {
    expect(error).toBeInstanceOf(LogError);
    return 'refused';
  }
}

function expectSound(bytes: Uint8Array): void {
  const fast = canonicalEntryIndex(bytes);
  if (fast !== undefined) expect(decodedIndex(bytes)).toEqual(fast);
}

describe('canonicalEntryIndex (the verifier fast path)', () => {
  it('property: on any valid entry it gives its index members or declines; on plain ASCII entries it always gives them', () => {
    fc.assert(
      fc.property(entryArb(textArb, dataArb), seqArb, (newEntry, seq) => {
        const entry: LedgerEntry = { v: 1, seq, at: AT, ...newEntry };
        expect([undefined, entryIndexOf(entry)]).toContainEqual(canonicalEntryIndex(encodeEntry(entry)));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(entryArb(asciiTextArb, dataArb), seqArb, (newEntry, seq) => {
        const entry: LedgerEntry = { v: 1, seq, at: AT, ...newEntry };
        expect(canonicalEntryIndex(encodeEntry(entry))).toEqual({ seq, kind: entry.kind, requestId: entry.requestId, at: AT });
      }),
      { numRuns: 300 },
    );
  });

  it('property: on mutated bytes (a byte changed, inserted, deleted; a span duplicated) it accepts only what decodeEntry accepts, with its index members', () => {
    const mutation = fc.oneof(
      fc.record({ type: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x20, 0x22, 0x2c, 0x30, 0x31, 0x39, 0x3a, 0x5c, 0x61, 0x6e, 0x7b, 0x7d, 0x7f, 0xc3, 0xff), any: fc.nat(255), useAny: fc.boolean() }),
      fc.record({ type: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat(255) }),
      fc.record({ type: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ type: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
    );
    fc.assert(
      fc.property(entryArb(asciiTextArb, dataArb), seqArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (newEntry, seq, mutations) => {
        let bytes = Array.from(encodeEntry({ v: 1, seq, at: AT, ...newEntry }));
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.type === 'set' && at < bytes.length) bytes[at] = m.useAny ? m.any : m.byte;
          if (m.type === 'insert') bytes.splice(at, 0, m.byte);
          if (m.type === 'delete' && at < bytes.length) bytes.splice(at, 1);
          if (m.type === 'duplicate') bytes.splice(at, 0, ...bytes.slice(at, at + m.length));
        }
        expectSound(new Uint8Array(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  const valid = text(encodeEntry({ v: 1, seq: 120, at: AT, ...sample(1, { kind: 'outcome', outcome: 'ok', data: { b: 1, c: [true, null] } }) }));
  it.each([
    ['a leading zero in seq', valid.replace('"seq":120', '"seq":0120')],
    ['a seq beyond 2^53 - 1', valid.replace('"seq":120', '"seq":9007199254740992')],
    ['a seq of 17 digits', valid.replace('"seq":120', '"seq":12345678901234567')],
    ['a negative seq', valid.replace('"seq":120', '"seq":-1')],
    ['a fractional seq', valid.replace('"seq":120', '"seq":120.0')],
    ['white space', valid.replace('"seq":120', '"seq": 120')],
    ['members out of order', valid.replace('"kind":"outcome","outcome":"ok"', '"outcome":"ok","kind":"outcome"')],
    ['data keys out of order', valid.replace('{"b":1,"c":[true,null]}', '{"c":[true,null],"b":1}')],
    ['a non-canonical number in data', valid.replace('"b":1', '"b":1.0')],
    ['an exponent in data', valid.replace('"b":1', '"b":1E0')],
    ['an unneeded escape', valid.replace('"action":"orders.place"', '"action":"\\u006frders.place"')],
    ['a trailing newline', `${valid}\n`],
    ['an impossible date', valid.replace(AT, '2026-02-30T03:04:05.678Z')],
    ['another time format', valid.replace(AT, '2026-01-02T03:04:05.678+0000').replace('"at":"2026-01-02T03:04:05.678+0000"', '"at":"2026-01-02T03:04:05.678+00:00"')],
    ['an outcome entry without outcome', valid.replace('"outcome":"ok"', '"outcome":null')],
    ['an intent with an outcome', valid.replace('"kind":"outcome"', '"kind":"intent"')],
    ['an outcome without request id', valid.replace('"requestId":"req_1"', '"requestId":null')],
    ['an unknown kind', valid.replace('"kind":"outcome"', '"kind":"outcomes"')],
    ['an upper-case digest', valid.replace(`sha256:${'ab'.repeat(32)}`, `sha256:${'AB'.repeat(32)}`)],
    ['a short digest', valid.replace(`sha256:${'ab'.repeat(32)}`, `sha256:${'ab'.repeat(31)}`)],
    ['another version', valid.replace('"v":1}', '"v":2}')],
    ['a member twice', valid.replace('"v":1}', '"v":1,"v":1}')],
    ['an empty action', valid.replace('"action":"orders.place"', '"action":""')],
    ['an action of 513 characters', valid.replace('"action":"orders.place"', `"action":"${'a'.repeat(513)}"`)],
    ['a raw tab', valid.replace('"action":"orders.place"', '"action":"orders\tplace"')],
    ['DEL', valid.replace('"action":"orders.place"', '"action":"orders\u007fplace"')],
    ['data nested 33 deep', valid.replace('{"b":1,"c":[true,null]}', `${'['.repeat(33)}1${']'.repeat(33)}`)],
    ['data with a lone surrogate escape', valid.replace('{"b":1,"c":[true,null]}', '"\\ud800"')],
    ['an unterminated data string', valid.replace('{"b":1,"c":[true,null]}', '"abc')],
  ])('refuses, as decodeEntry does, %s', (_name, mutated) => {
    const bytes = utf8(mutated);
    expect(mutated).not.toBe(valid);
    expect(decodedIndex(bytes)).toBe('refused');
    expect(canonicalEntryIndex(bytes)).toBeUndefined();
  });

  it('gives the index members of the valid original, and declines (leaving it to decodeEntry) valid text needing escapes', () => {
    expect(canonicalEntryIndex(utf8(valid))).toEqual({ seq: 120, kind: 'outcome', requestId: 'req_1', at: AT });
    const escaped = encodeEntry({ v: 1, seq: 7, at: AT, ...sample(1, { action: 'a"b' }) });
    expect(canonicalEntryIndex(escaped)).toBeUndefined();
    expect(decodeEntry(escaped).seq).toBe(7);
  });
});
