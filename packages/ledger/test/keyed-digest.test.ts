import { createHmac, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCheckpointSigner } from '../src/checkpoint.ts';
import { DIGEST_KEY_INFO, deriveDigestKey, keyedDigest } from '../src/keyed-digest.ts';
import { createNodeCheckpointSigner } from '../src/node/key-file.ts';

/**
 * Issue 12 §5: the ledger's digests (a call's redacted input, an RBAC reason) were unsalted SHA-256, so a
 * guessed value could be confirmed against the log. They are HMAC-SHA256 under a key derived from the
 * checkpoint key. node:crypto's HKDF and HMAC are the independent reference here.
 */

const SEED = new Uint8Array(32).map((_, i) => i * 7 + 1);

describe('the keyed digest', () => {
  it('derives its key with HKDF-SHA256 (RFC 5869) from the seed, no salt, the fixed info, 32 bytes', () => {
    const reference = new Uint8Array(hkdfSync('sha256', SEED, new Uint8Array(0), DIGEST_KEY_INFO, 32));
    expect(deriveDigestKey(SEED)).toEqual(reference);
  });

  it('is HMAC-SHA256 of the UTF-8 text under that key, as node:crypto computes it', () => {
    const key = deriveDigestKey(SEED);
    for (const text of ['', 'why', '{"email":"[redacted:contact]","title":"Quarterly numbers"}', 'naïve — ünïcode ✓']) {
      expect(keyedDigest(key, text)).toBe(`hmac-sha256:${createHmac('sha256', key).update(text, 'utf8').digest('hex')}`);
    }
  });

  it('is the same through the portable signer and the node:crypto one, for any text', () => {
    const portable = createCheckpointSigner({ name: 'test.example/log', privateKey: SEED });
    const node = createNodeCheckpointSigner({ name: 'test.example/log', privateKey: SEED });
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => portable.digest(text) === node.digest(text)));
  });

  it('cannot be computed without the key: another key, or the plain hash a guesser would try, gives another value', () => {
    const signer = createCheckpointSigner({ name: 'test.example/log', privateKey: SEED });
    const other = createCheckpointSigner({ name: 'test.example/log', privateKey: new Uint8Array(32).fill(9) });
    expect(signer.digest('alice@example.com')).not.toBe(other.digest('alice@example.com'));
    expect(signer.digest('alice@example.com')).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });

  it('refuses an injected HMAC that does not give the digest key’s answers, at creation', () => {
    expect(() => createCheckpointSigner({ name: 'test.example/log', privateKey: SEED, macBytes: () => new Uint8Array(32) })).toThrow(TypeError);
  });
});
