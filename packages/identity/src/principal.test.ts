import { describe, expect, it } from 'vitest';
import { isVerifiedPrincipal, registerVerifiedPrincipal } from './principal.ts';
import type { Principal } from './principal.ts';
import { createTestIssuer } from './testing/index.ts';
import { createTokenVerifier } from './verify-token.ts';

const lookAlike: Principal = {
  subject: 'user_1',
  tenant: { org: 'acme', workspace: null },
  session: null,
  tokenId: null,
  issuer: 'https://issuer.covenant.test',
  issuedAt: 4_102_444_000,
  expiresAt: 4_102_444_800,
};

describe('isVerifiedPrincipal', () => {
  it('is false for an object literal shaped like a principal', () => {
    expect(isVerifiedPrincipal(lookAlike)).toBe(false);
    expect(isVerifiedPrincipal(Object.freeze({ ...lookAlike }))).toBe(false);
  });

  it.each([[null], [undefined], ['user_1'], [42], [[]]])('is false for %j', (value) => {
    expect(isVerifiedPrincipal(value)).toBe(false);
  });

  it('is true for a principal from the verifier, and false for any copy of it', async () => {
    const issuer = await createTestIssuer();
    const verifier = createTokenVerifier(issuer.verifierOptions());
    const principal = await verifier.verify(await issuer.mint({ sub: 'user_1', org: 'acme' }));
    expect(isVerifiedPrincipal(principal)).toBe(true);
    expect(isVerifiedPrincipal({ ...principal })).toBe(false);
    expect(isVerifiedPrincipal(structuredClone(principal))).toBe(false);
    expect(isVerifiedPrincipal(JSON.parse(JSON.stringify(principal)))).toBe(false);
    expect(isVerifiedPrincipal(Object.create(principal))).toBe(false);
  });

  it('cannot be changed after verification', async () => {
    const issuer = await createTestIssuer();
    const verifier = createTokenVerifier(issuer.verifierOptions());
    const principal = await verifier.verify(await issuer.mint({ sub: 'user_1', org: 'acme' }));
    expect(() => {
      (principal as { subject: string }).subject = 'admin';
    }).toThrow(TypeError);
    expect(() => {
      (principal.tenant as { org: string }).org = 'other';
    }).toThrow(TypeError);
    expect(principal.tenant.org).toBe('acme');
  });
});

describe('registerVerifiedPrincipal (package-internal)', () => {
  it('registers a frozen copy, not the object it was given', () => {
    const fields = { ...lookAlike, tenant: { ...lookAlike.tenant } };
    const principal = registerVerifiedPrincipal(fields);
    expect(isVerifiedPrincipal(principal)).toBe(true);
    expect(isVerifiedPrincipal(fields)).toBe(false);
    expect(Object.isFrozen(principal.tenant)).toBe(true);
  });

  it('is not part of the public entry point', async () => {
    const entry = await import('./index.ts');
    expect(Object.keys(entry)).not.toContain('registerVerifiedPrincipal');
    expect(Object.keys(entry).filter((name) => /register|principal/i.test(name) && !name.endsWith('Error'))).toEqual(['isVerifiedPrincipal']);
  });
});
