// verifyLedger checks checkpoint signatures with node:crypto first (strictEd25519Check); its verdicts must be
// exactly those of the strict noble verifier (verifyEd25519, zip215: false) that the rest of the package and
// docs/ledger.md specify: on every Wycheproof vector, on valid and tampered signatures, on keys noble refuses,
// and on the signatures where OpenSSL and noble disagree (only the cofactored equation holds).
import { createHash, createPublicKey, verify as verifyWithNode } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyEd25519 } from '../src/index.ts';
import { strictEd25519Check } from '../src/verify-ledger.ts';
import { FIXTURES, fromHex, readJson } from './helpers.ts';

interface WycheproofFile {
  testGroups: Array<{ publicKey: { pk: string }; tests: Array<{ tcId: number; msg: string; sig: string; result: string }> }>;
}

const file = readJson(`${FIXTURES}wycheproof/ed25519_test.json`) as WycheproofFile;
const ORDER = ed25519.Point.Fn.ORDER;
const le = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const fromLe = (bytes: Uint8Array): bigint => bytes.reduceRight((acc, byte) => (acc << 8n) + BigInt(byte), 0n);

describe('strict Ed25519 in verifyLedger: node:crypto first, noble’s verdicts', () => {
  it('agrees with noble on every Wycheproof Ed25519 vector', () => {
    let cases = 0;
    for (const group of file.testGroups) {
      const publicKey = fromHex(group.publicKey.pk);
      const check = strictEd25519Check(publicKey);
      for (const test of group.tests) {
        const signature = fromHex(test.sig);
        const message = fromHex(test.msg);
        const expected = verifyEd25519(signature, message, publicKey);
        expect({ tcId: test.tcId, verdict: check(signature, message) }).toEqual({ tcId: test.tcId, verdict: expected });
        expect(expected).toBe(test.result === 'valid');
        cases += 1;
      }
    }
    expect(cases).toBeGreaterThan(100);
  });

  it('property: valid signatures verify, and any bit flipped in the signature or the message gives noble’s verdict', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.boolean(), (seed, message, bit, inSignature) => {
        const publicKey = ed25519.getPublicKey(seed);
        const check = strictEd25519Check(publicKey);
        const signature = ed25519.sign(message, seed);
        expect(check(signature, message)).toBe(true);
        const flipped = inSignature ? signature.slice() : message.slice();
        if (flipped.length === 0) return;
        const at = bit % (flipped.length * 8);
        flipped[at >> 3] = flipped[at >> 3]! ^ (1 << (at & 7));
        const [sig, msg] = inSignature ? [flipped, message] : [signature, flipped];
        expect(check(sig, msg)).toBe(verifyEd25519(sig, msg, publicKey));
      }),
      { numRuns: 150 },
    );
  });

  it('refuses S + ℓ (a malleated signature OpenSSL and noble both refuse) and signatures of the wrong length', () => {
    const seed = new Uint8Array(32).fill(5);
    const publicKey = ed25519.getPublicKey(seed);
    const message = new TextEncoder().encode('audit.example/log\n3\nAAAA\n');
    const signature = ed25519.sign(message, seed);
    const malleated = signature.slice();
    malleated.set(le(fromLe(signature.subarray(32)) + ORDER), 32);
    const check = strictEd25519Check(publicKey);
    expect(verifyEd25519(malleated, message, publicKey)).toBe(false);
    expect(check(malleated, message)).toBe(false);
    expect(check(signature.subarray(0, 63), message)).toBe(false);
    expect(check(new Uint8Array([...signature, 0]), message)).toBe(false);
  });

  it('keeps noble’s verdict where OpenSSL differs: a signature only the cofactored equation accepts', () => {
    // R' = rB + T with T of order 2 and S = r + k·a: [S]B − [k]A = rB ≠ R' (OpenSSL refuses), but
    // [8](R' + [k]A − [S]B) = [8]T = 0 (noble's cofactored check accepts).
    const seed = new Uint8Array(32).fill(9);
    const { scalar, pointBytes: publicKey } = ed25519.utils.getExtendedPublicKey(seed);
    const message = new TextEncoder().encode('audit.example/log\n7\nAAAA\n');
    const torsion = ed25519.Point.fromBytes(Uint8Array.from([0xec, ...new Array(30).fill(0xff), 0x7f]), false);
    expect(torsion.isSmallOrder()).toBe(true);
    const r = 123_456_789n;
    const R = ed25519.Point.BASE.multiply(r).add(torsion).toBytes();
    const k = fromLe(new Uint8Array(createHash('sha512').update(R).update(publicKey).update(message).digest())) % ORDER;
    const signature = new Uint8Array([...R, ...le((r + k * scalar) % ORDER)]);
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    expect(verifyWithNode(null, message, key, signature)).toBe(false);
    expect(verifyEd25519(signature, message, publicKey)).toBe(true);
    expect(strictEd25519Check(publicKey)(signature, message)).toBe(true);
  });

  it('leaves keys noble refuses (small order, non-canonical encoding) to noble alone', () => {
    const smallOrder = Uint8Array.from([1, ...new Array(31).fill(0)]); // the identity point
    const nonCanonical = Uint8Array.from([0xee, ...new Array(30).fill(0xff), 0x7f]); // y = p + 1
    const message = new Uint8Array([1, 2, 3]);
    for (const publicKey of [smallOrder, nonCanonical]) {
      const check = strictEd25519Check(publicKey);
      for (const signature of [new Uint8Array(64), Uint8Array.from([1, ...new Array(63).fill(0)])]) {
        expect(check(signature, message)).toBe(verifyEd25519(signature, message, publicKey));
        expect(check(signature, message)).toBe(false);
      }
    }
  });
});
