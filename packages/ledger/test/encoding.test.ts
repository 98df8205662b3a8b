// Strict base64 without Buffer: byte for byte what the Buffer-based version accepted and produced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../src/encoding.ts';

/** The previous, Buffer-based implementation: the reference for "exactly today's semantics". */
const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const bufferDecode = (text: string): Uint8Array | undefined => {
  if (!CANONICAL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
};
const bufferEncode = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('strict base64 (portable)', () => {
  it('property: encodes as Buffer does and decodes its own output back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = encodeBase64(bytes);
        expect(text).toBe(bufferEncode(bytes));
        const decoded = decodeBase64(text);
        expect(decoded).toEqual(bytes);
        expect(Object.getPrototypeOf(decoded)).toBe(Uint8Array.prototype);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: accepts exactly the strings the Buffer version accepted, with the same bytes', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\u00e9'.split('');
    // Mostly near-valid strings (alphabet, padding, a few intruders), where the interesting cases are.
    const text = fc.oneof(
      fc.array(fc.constantFrom(...alphabet), { maxLength: 16 }).map((chars) => chars.join('')),
      fc.uint8Array({ maxLength: 20 }).chain((bytes) =>
        fc.tuple(fc.nat(40), fc.constantFrom(...alphabet)).map(([at, c]) => {
          const valid = bufferEncode(bytes);
          return valid.slice(0, at % (valid.length + 1)) + c + valid.slice((at % (valid.length + 1)) + 1);
        }),
      ),
    );
    fc.assert(
      fc.property(text, (candidate) => {
        expect(decodeBase64(candidate)).toEqual(bufferDecode(candidate));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses non-canonical spellings and garbage', () => {
    expect(decodeBase64('QQ==')).toEqual(new Uint8Array([0x41]));
    expect(decodeBase64('QUI=')).toEqual(new Uint8Array([0x41, 0x42]));
    for (const bad of ['QR==', 'QUF=', 'QUJ=', 'QQ', 'QQ=', 'QQ===', ' QQ==', 'QQ==\n', 'Q-==', 'Q_==', '====', 'A===', 'QUJD\u00e9']) {
      expect(decodeBase64(bad), bad).toBeUndefined();
    }
    expect(decodeBase64('')).toEqual(new Uint8Array());
    expect(encodeBase64(new Uint8Array())).toBe('');
  });
});
