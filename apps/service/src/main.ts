import { createTokenVerifier, type TokenVerifierOptions } from '@covenant/identity';
import { createTestIssuer } from '@covenant/identity/testing';
import { createCovenantRuntime, createHttpServer } from '@covenant/server';
import { createRouter } from './generated/router.ts';
import { handlers } from './handlers.ts';
import { denyAllAuthorization, noLedgerAudit } from './unavailable-ports.ts';

/**
 * The smallest real Covenant service: the platform contracts over HTTP.
 *
 * With COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL set it trusts that issuer. Without them
 * it runs a development identity (in-memory keys, new at each start) and prints a token to try; that
 * mode refuses to start when NODE_ENV=production.
 */
async function start(): Promise<void> {
  const port = Number(process.env['PORT'] ?? 3000);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const { verifierOptions, demoToken } = await identityConfig();

  const covenant = createCovenantRuntime({
    identity: createTokenVerifier(verifierOptions),
    authorization: denyAllAuthorization,
    audit: noLedgerAudit,
  });
  const server = createHttpServer(covenant, createRouter(covenant, handlers));
  server.listen(port, host, () => {
    const url = `http://${host}:${port}`;
    process.stdout.write(
      [
        `covenant service listening on ${url}`,
        `  public:        curl '${url}/platform.health?input=%7B%7D'`,
        ...(demoToken
          ? [
              `  authenticated: curl -H 'authorization: Bearer ${demoToken}' '${url}/platform.whoami?input=%7B%7D'`,
              '  (development identity: keys live in memory and change at every start; never use it in production)',
            ]
          : []),
        '',
      ].join('\n'),
    );
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function identityConfig(): Promise<{ verifierOptions: TokenVerifierOptions; demoToken: string | null }> {
  const issuer = process.env['COVENANT_ISSUER'];
  const audience = process.env['COVENANT_AUDIENCE'];
  const jwksUrl = process.env['COVENANT_JWKS_URL'];
  if (issuer && audience && jwksUrl) {
    return { verifierOptions: { issuer, audience, algorithms: ['ES256', 'EdDSA'], keys: { jwksUrl } }, demoToken: null };
  }
  if (process.env['NODE_ENV'] === 'production') {
    throw new Error('NODE_ENV=production needs COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL');
  }
  const dev = await createTestIssuer({ issuer: 'urn:covenant:dev', audience: 'urn:covenant:service' });
  const demoToken = await dev.mint({ sub: 'demo-user', org: 'org_demo', sid: 'demo-session' }, { expiresIn: 3600 });
  return { verifierOptions: dev.verifierOptions(), demoToken };
}

await start();
