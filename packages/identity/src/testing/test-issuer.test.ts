import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTestIssuer } from './index.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const CLAIMS = { sub: 'user_1', org: 'acme' } as const;
const segment = (token: string, index: number): string =>
  Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8');

describe('createTestIssuer', () => {
  it('mints with the documented defaults', async () => {
    const issuer = await createTestIssuer({ clock: { now: () => NOW } });
    const token = await issuer.mint(CLAIMS);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: 'test-key-1', typ: 'at+jwt' });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({
      ...CLAIMS,
      iss: 'https://issuer.covenant.test',
      aud: 'covenant-test-api',
      iat: NOW_S,
      exp: NOW_S + 300,
    });
    expect(typeof payload.jti).toBe('string');
    expect(decodeJwt(await issuer.mint(CLAIMS)).jti).not.toBe(payload.jti);
  });

  it('applies mint options', async () => {
    const issuer = await createTestIssuer({ kids: ['a', 'b'], clock: { now: () => NOW } });
    const token = await issuer.mint(CLAIMS, {
      kid: 'b',
      expiresIn: -5,
      notBefore: NOW_S + 1,
      issuedAt: NOW_S - 1,
      omit: ['jti'],
      header: { typ: 'rt+jwt' },
    });
    expect(decodeProtectedHeader(token)).toMatchObject({ kid: 'b', typ: 'rt+jwt' });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({ exp: NOW_S - 5, nbf: NOW_S + 1, iat: NOW_S - 1 });
    expect(payload).not.toHaveProperty('jti');
  });

  it.each([['ES256' as const], ['EdDSA' as const], ['RS256' as const]])(
    'publishes only public keys (%s), one per kid',
    async (alg) => {
      const issuer = await createTestIssuer({ alg, kids: ['a', 'b'] });
      const { keys } = issuer.jwks();
      expect(keys.map((key) => key.kid)).toEqual(['a', 'b']);
      for (const key of keys) {
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
        expect(key).toMatchObject({ alg, use: 'sig' });
      }
      expect(issuer.jwks(['b']).keys.map((key) => key.kid)).toEqual(['b']);
    },
  );

  it('refuses an unknown kid and an empty kid list', async () => {
    const issuer = await createTestIssuer();
    await expect(issuer.mint(CLAIMS, { kid: 'nope' })).rejects.toThrow(TypeError);
    await expect(createTestIssuer({ kids: [] })).rejects.toThrow(TypeError);
  });

  describe('forge', () => {
    it('algNone: alg none and an empty signature', async () => {
      const issuer = await createTestIssuer();
      const token = await issuer.forge.algNone(CLAIMS);
      expect(token.endsWith('.')).toBe(true);
      expect(JSON.parse(segment(token, 0))).toEqual({ alg: 'none', typ: 'at+jwt' });
    });

    it('hs256WithPublicKey: an HMAC keyed with the public key bytes', async () => {
      const issuer = await createTestIssuer();
      const token = await issuer.forge.hs256WithPublicKey(CLAIMS, 'jwk-json');
      const [h, p, s] = token.split('.');
      const key = JSON.stringify(issuer.jwks().keys[0]);
      expect(createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')).toBe(s);
      const pem = await issuer.forge.hs256WithPublicKey(CLAIMS);
      expect(JSON.parse(segment(pem, 0))).toMatchObject({ alg: 'HS256' });
    });

    it('tampered: the payload changes, header and signature stay', async () => {
      const issuer = await createTestIssuer();
      const token = await issuer.mint(CLAIMS);
      const tampered = issuer.forge.tampered(token);
      expect(tampered.split('.')[0]).toBe(token.split('.')[0]);
      expect(tampered.split('.')[2]).toBe(token.split('.')[2]);
      expect(JSON.parse(segment(tampered, 1))).toMatchObject({ org: 'tampered-org' });
      expect(() => issuer.forge.tampered(token, { org: 'acme' })).toThrow(TypeError);
    });

    it('rawSigned: signs the exact texts it is given', async () => {
      const issuer = await createTestIssuer();
      const payload = '{"sub":"a","s\\u0075b":"b"}';
      const token = await issuer.forge.rawSigned(issuer.headerJson(), payload);
      expect(segment(token, 1)).toBe(payload);
      expect(segment(token, 0)).toBe(issuer.headerJson());
    });

    it('unknownKid, wrongKey, wrongIssuer, wrongAudience, expired: one defect each', async () => {
      const issuer = await createTestIssuer({ clock: { now: () => NOW } });
      expect(decodeProtectedHeader(await issuer.forge.unknownKid(CLAIMS)).kid).toBe('not-in-jwks');
      expect(decodeProtectedHeader(await issuer.forge.wrongKey(CLAIMS)).kid).toBe('test-key-1');
      expect(decodeJwt(await issuer.forge.wrongIssuer(CLAIMS)).iss).not.toBe(issuer.issuer);
      expect(decodeJwt(await issuer.forge.wrongAudience(CLAIMS)).aud).not.toBe(issuer.audience);
      expect(decodeJwt(await issuer.forge.expired(CLAIMS)).exp).toBe(NOW_S - 3600);
    });

    it('wrongType, longLived: signed by the real key for the real audience, one defect each', async () => {
      const issuer = await createTestIssuer({ clock: { now: () => NOW } });
      const refresh = await issuer.forge.wrongType(CLAIMS);
      expect(decodeProtectedHeader(refresh)).toEqual({ alg: 'ES256', kid: 'test-key-1', typ: 'rt+jwt' });
      expect(decodeJwt(refresh)).toMatchObject({ iss: issuer.issuer, aud: issuer.audience, exp: NOW_S + 300 });
      expect(decodeProtectedHeader(await issuer.forge.wrongType(CLAIMS, 'invite+jwt')).typ).toBe('invite+jwt');
      expect(decodeJwt(await issuer.forge.longLived(CLAIMS))).toMatchObject({ iat: NOW_S, exp: NOW_S + 10 * 365 * 86_400 });
      expect(decodeJwt(await issuer.forge.longLived(CLAIMS, 90_000)).exp).toBe(NOW_S + 90_000);
    });
  });
});
