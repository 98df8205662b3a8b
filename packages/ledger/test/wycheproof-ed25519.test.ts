import { describe, expect, it } from 'vitest';
import { verifyEd25519 } from '../src/index.ts';
import { FIXTURES, fromHex, readJson } from './helpers.ts';

// C2SP/wycheproof testvectors_v1/ed25519_test.json (commit dac1dd4), copied into test/fixtures/wycheproof.
// The file has no "acceptable" cases; had it any, this test would fail on purpose so that someone decides.

interface WycheproofFile {
  numberOfTests: number;
  testGroups: Array<{
    publicKey: { pk: string };
    tests: Array<{ tcId: number; comment: string; flags: string[]; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }>;
  }>;
}

const file = readJson(`${FIXTURES}wycheproof/ed25519_test.json`) as WycheproofFile;
const cases = file.testGroups.flatMap((group) => group.tests.map((test) => ({ ...test, pk: group.publicKey.pk })));

describe('Wycheproof Ed25519: strict RFC 8032 verification (noble-curves, zip215: false)', () => {
  it('holds every case the file announces, and no "acceptable" ones', () => {
    expect(cases).toHaveLength(file.numberOfTests);
    expect(cases.filter((test) => test.result === 'acceptable')).toEqual([]);
  });

  for (const test of cases) {
    const verdict = test.result === 'valid' ? 'accepts' : 'rejects';
    it(`tcId ${test.tcId} [${test.flags.join(', ')}] ${verdict}${test.comment ? `: ${test.comment}` : ''}`, () => {
      expect(verifyEd25519(fromHex(test.sig), fromHex(test.msg), fromHex(test.pk))).toBe(test.result === 'valid');
    });
  }
});
