import { describe, expect, it } from 'vitest';
import { createMemoryRevocationList } from './revocation.ts';
import type { RevocationSubject } from './revocation.ts';

const T0 = new Date('2030-01-01T00:00:00Z');
const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);

const token = (overrides: Partial<RevocationSubject> = {}): RevocationSubject => ({
  issuer: 'https://issuer.test',
  subject: 'user_1',
  session: 'session_1',
  tokenId: 'jti_1',
  issuedAt: seconds(T0),
  tenant: { org: 'acme', workspace: null },
  ...overrides,
});

describe('createMemoryRevocationList', () => {
  it('revokes nothing at first', () => {
    expect(createMemoryRevocationList().isRevoked(token())).toBe(false);
  });

  it('revokes one token by jti and leaves the others', () => {
    const list = createMemoryRevocationList({ clock: { now: () => T0 } });
    list.revokeToken('jti_1', new Date(T0.getTime() + 300_000));
    expect(list.isRevoked(token())).toBe(true);
    expect(list.isRevoked(token({ tokenId: 'jti_2' }))).toBe(false);
    expect(list.isRevoked(token({ tokenId: null }))).toBe(false);
  });

  it('revokes every token of a session', () => {
    const list = createMemoryRevocationList();
    list.revokeSession('session_1');
    expect(list.isRevoked(token({ tokenId: 'jti_9' }))).toBe(true);
    expect(list.isRevoked(token({ session: 'session_2' }))).toBe(false);
    expect(list.isRevoked(token({ session: null }))).toBe(false);
  });

  it('revokes the tokens of a subject issued before a time', () => {
    const list = createMemoryRevocationList();
    list.revokeSubject('user_1', new Date(T0.getTime() + 60_000));
    expect(list.isRevoked(token({ issuedAt: seconds(T0) }))).toBe(true);
    expect(list.isRevoked(token({ issuedAt: seconds(T0) + 60 }))).toBe(false);
    expect(list.isRevoked(token({ issuedAt: seconds(T0) + 61 }))).toBe(false);
    expect(list.isRevoked(token({ subject: 'user_2' }))).toBe(false);
  });

  it('keeps the latest cut-off for a subject', () => {
    const list = createMemoryRevocationList();
    list.revokeSubject('user_1', new Date(T0.getTime() + 60_000));
    list.revokeSubject('user_1', T0);
    expect(list.isRevoked(token({ issuedAt: seconds(T0) + 30 }))).toBe(true);
  });

  it('drops a jti entry only once its token is past exp and the largest clock tolerance', () => {
    let now = T0;
    const list = createMemoryRevocationList({ clock: { now: () => now } });
    list.revokeToken('jti_1', T0);
    now = new Date(T0.getTime() + 299_000);
    list.revokeToken('jti_other', now); // any write prunes
    expect(list.isRevoked(token())).toBe(true);
    now = new Date(T0.getTime() + 301_000);
    list.revokeToken('jti_other', now);
    expect(list.isRevoked(token())).toBe(false);
  });

  it('refuses misuse with TypeError', () => {
    const list = createMemoryRevocationList();
    expect(() => list.revokeToken('', T0)).toThrow(TypeError);
    expect(() => list.revokeToken('jti', new Date(Number.NaN))).toThrow(TypeError);
    expect(() => list.revokeToken('jti', 123 as unknown as Date)).toThrow(TypeError);
    expect(() => list.revokeSession('')).toThrow(TypeError);
    expect(() => list.revokeSubject('user', 'yesterday' as unknown as Date)).toThrow(TypeError);
  });
});
