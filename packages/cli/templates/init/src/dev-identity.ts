// DEVELOPMENT ONLY. A local token issuer and a local org, so that `npm start` answers calls before you
// have an identity provider. main.ts uses it only when no issuer is configured, and config.ts refuses
// that under NODE_ENV=production. Its key is made at the first start in the data folder (mode 0600,
// git-ignored): no key or secret is ever part of the project's files.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TokenVerifierOptions } from '{{import:identity}}';
import { RbacChangeError } from '{{import:rbac}}';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Service } from './service.ts';

const DEV_ISSUER = 'urn:covenant:dev-issuer';
const DEV_AUDIENCE = 'urn:covenant:dev-service';
const KID = 'dev-1';

/** The local org, its first admin (every capability the contracts declare), and the workspace of their tokens. */
export const DEV_ORG = 'dev';
export const DEV_ADMIN = 'dev-admin';
export const DEV_WORKSPACE = 'main';

export interface DevIdentity {
  readonly verifierOptions: Omit<TokenVerifierOptions, 'revocation'>;
  /** An access token (`typ: at+jwt`) for `subject` in the local org, valid for `ttlSeconds` (default one hour). */
  mint(subject: string, options?: { readonly workspace?: string | null; readonly ttlSeconds?: number }): Promise<string>;
}

/** Where the development issuer's private key lives. */
export const devIssuerKeyFile = (dataDir: string): string => join(dataDir, 'dev-issuer.jwk');

/** Opens the development issuer, creating its key first when the file does not exist. */
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
    mint: (subject, { workspace = DEV_WORKSPACE, ttlSeconds = 3600 } = {}) =>
      new SignJWT({ org: DEV_ORG, ...(workspace === null ? {} : { workspace }), sid: `dev-${randomUUID()}` })
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

/**
 * Gives the local org its first admin, `dev-admin`, on the first start, and on later starts adds the
 * capabilities contracts declared since to that admin's role. Both are recorded on the audit ledger as
 * `operator:npm-start`, as `covenant rbac bootstrap` and `extend-admin` would record them.
 */
export async function prepareDevOrg(service: Pick<Service, 'rbac' | 'ledger'>): Promise<void> {
  const { rbac, ledger } = service;
  const roles = await rbac.listRoles(DEV_ORG);
  try {
    if (roles.length === 0) {
      await ledger.transact((tx) => rbac.bind(tx.db).bootstrapTenant('npm-start', DEV_ORG, DEV_ADMIN, 'development identity: first admin of the local org'));
      return;
    }
    const held = new Set(roles.flatMap((role) => role.capabilities));
    const missing = (await rbac.capabilities()).filter((capability) => !held.has(capability));
    if (missing.length === 0) return;
    await ledger.transact((tx) => rbac.bind(tx.db).extendBootstrapRole('npm-start', DEV_ORG, `development identity: new capabilities ${missing.join(', ')}`));
  } catch (error) {
    // Another process on the same database got there first, or someone deleted the admin role on purpose.
    if (error instanceof RbacChangeError && (error.code === 'TENANT_ALREADY_BOOTSTRAPPED' || error.code === 'ROLE_NOT_FOUND')) return;
    throw error;
  }
}
