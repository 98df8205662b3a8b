import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TokenVerifierOptions } from '@covenant/identity';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/**
 * The development identity of `npm start`: a local token issuer whose Ed25519 key is created on first
 * run in the data folder (mode 0600, git-ignored, never committed) and reused afterwards, so tokens minted
 * by `npm run token` stay valid across restarts. Never a production identity: `main.ts` refuses it when
 * NODE_ENV=production.
 */
export const DEV_ISSUER = 'urn:covenant:helpdesk-dev';
export const DEV_AUDIENCE = 'urn:covenant:helpdesk';
const KID = 'helpdesk-dev-1';

export interface DevIdentity {
  readonly verifierOptions: TokenVerifierOptions;
  /**
   * An access token (`typ: at+jwt`) for `subject` in `org` (and `workspace`), valid for `ttlSeconds`
   * (default one hour), with `iat`, a fresh `jti` and the session `sid` (a new one unless `session` names
   * it): what `sessions.revoke` and `covenant sessions revoke` withdraw.
   */
  mint(
    claims: { readonly subject: string; readonly org: string; readonly workspace?: string | null; readonly session?: string },
    ttlSeconds?: number,
  ): Promise<string>;
}

/** Opens the key file at `path`, creating it first when it does not exist. */
export async function openDevIdentity(path: string): Promise<DevIdentity> {
  if (!existsSync(path)) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${JSON.stringify({ ...(await exportJWK(privateKey)), kid: KID, alg: 'EdDSA' })}\n`, { mode: 0o600, flag: 'wx' });
  }
  if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
    throw new Error(`${path}: the development issuer key must be readable by its owner only (chmod 600)`);
  }
  const jwk = JSON.parse(readFileSync(path, 'utf8')) as JWK;
  const privateKey = await importJWK(jwk, 'EdDSA');
  const { d: _private, ...publicJwk } = jwk;
  return {
    verifierOptions: { issuer: DEV_ISSUER, audience: DEV_AUDIENCE, algorithms: ['EdDSA'], keys: { jwks: { keys: [{ ...publicJwk, use: 'sig' }] } } },
    mint: ({ subject, org, workspace, session }, ttlSeconds = 3600) =>
      new SignJWT({ org, ...(workspace ? { workspace } : {}), sid: session ?? `dev-${randomUUID()}` })
        .setProtectedHeader({ alg: 'EdDSA', kid: KID, typ: 'at+jwt' })
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setSubject(subject)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(privateKey),
  };
}
