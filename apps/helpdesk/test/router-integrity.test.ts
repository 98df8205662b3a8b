import { describe, expect, it } from 'vitest';
import { describeProcedure } from '@covenant/contract/manifest';
import { createTokenVerifier } from '@covenant/identity';
import { createCovenantRuntime, createFetchHandler, createHttpServer, type Handler } from '@covenant/server';
import { createMemoryAudit, createStaticAuthorization, createTestIssuer } from '@covenant/testkit';
import { pino } from 'pino';
import * as z from 'zod';
import { tickets } from './fixtures/contracts/tickets.contract.ts';
import { createRouter } from './fixtures/generated/router.ts';
import { simpleHandlers } from './fixtures/simple-handlers.ts';

const handlers = simpleHandlers;

async function runtime() {
  const issuer = await createTestIssuer();
  return createCovenantRuntime({
    identity: createTokenVerifier(issuer.verifierOptions()),
    authorization: createStaticAuthorization({}),
    audit: createMemoryAudit(),
    logger: pino({ level: 'silent' }),
  });
}

describe('a router is served only as the generator built it', () => {
  it('accepts the generated router as it is', async () => {
    const covenant = await runtime();
    const router = createRouter(covenant, handlers);
    expect(covenant.inspect(router)).toEqual([]);
    expect(() => createHttpServer(covenant, router)).not.toThrow();
  });

  it('refuses a hand-written .meta() on a generated procedure (tRPC merges meta shallowly)', async () => {
    const covenant = await runtime();
    const { procedure, step } = covenant;
    const p = tickets.list;
    const tampered = covenant.router({
      tickets: {
        list: procedure
          .meta(covenant.seal('tickets.list', 'tickets', p, 'sha256:' + '0'.repeat(64)))
          .meta({ requireAuth: false } as never)
          .use(step.requestContext('tickets.list'))
          .use(step.authenticate(p))
          .use(step.authorize(p))
          .use(step.refuseTenancyKeys())
          .input(p['~covenant'].input)
          .output(p['~covenant'].output)
          .query(step.handle(p, () => ({ items: [] }))),
      },
    });
    expect(covenant.inspect(tampered)).toEqual([expect.objectContaining({ code: 'meta_modified', path: 'tickets.list' })]);
    expect(() => createHttpServer(covenant, tampered)).toThrow(/hand-written \.meta\(\)/);
    expect(() => covenant.createCaller(tampered, { token: 'x' })).toThrow(TypeError);
  });

  it('refuses a chain with a step removed, reordered or added', async () => {
    const covenant = await runtime();
    const { procedure, step } = covenant;
    const p = tickets.list;
    const hash = describeProcedure({ contract: 'tickets', path: 'tickets.list', keys: ['list'], procedure: p }).definitionHash;
    const base = () => procedure.meta(covenant.seal('tickets.list', 'tickets', p, hash));
    const variants = {
      'authorize removed': base()
        .use(step.requestContext('tickets.list'))
        .use(step.authenticate(p))
        .use(step.refuseTenancyKeys())
        .input(p['~covenant'].input)
        .output(p['~covenant'].output)
        .query(step.handle(p, () => ({ items: [] }))),
      'authorize after input': base()
        .use(step.requestContext('tickets.list'))
        .use(step.authenticate(p))
        .use(step.refuseTenancyKeys())
        .input(p['~covenant'].input)
        .use(step.authorize(p))
        .output(p['~covenant'].output)
        .query(step.handle(p, () => ({ items: [] }))),
      'extra middleware': base()
        .use(step.requestContext('tickets.list'))
        .use(async function sneaky({ next }) {
          return next();
        })
        .use(step.authenticate(p))
        .use(step.authorize(p))
        .use(step.refuseTenancyKeys())
        .input(p['~covenant'].input)
        .output(p['~covenant'].output)
        .query(step.handle(p, () => ({ items: [] }))),
      'another schema': base()
        .use(step.requestContext('tickets.list'))
        .use(step.authenticate(p))
        .use(step.authorize(p))
        .use(step.refuseTenancyKeys())
        .input(z.unknown())
        .output(p['~covenant'].output)
        .query(step.handle(p, () => ({ items: [] }))),
      "another procedure's authorize": base()
        .use(step.requestContext('tickets.list'))
        .use(step.authenticate(p))
        .use(step.authorize(tickets.create))
        .use(step.refuseTenancyKeys())
        .input(p['~covenant'].input)
        .output(p['~covenant'].output)
        .query(step.handle(p, () => ({ items: [] }))),
    };
    for (const [name, built] of Object.entries(variants)) {
      const findings = covenant.inspect(covenant.router({ tickets: { list: built } }));
      expect(findings, name).toEqual([expect.objectContaining({ code: 'chain_modified', path: 'tickets.list' })]);
    }
  });

  it('refuses a hand-built procedure mixed into the router, and one mounted at another path', async () => {
    const covenant = await runtime();
    const generated = createRouter(covenant, handlers);
    const sneaky = covenant.router({ ...generated._def.record, backdoor: covenant.procedure.query(() => 'all the data') });
    expect(covenant.inspect(sneaky)).toEqual([expect.objectContaining({ code: 'procedure_not_generated', path: 'backdoor' })]);
    expect(() => createFetchHandler(covenant, sneaky, { endpoint: '/api' })).toThrow(/bypass the security pipeline/);
    const moved = covenant.router({ elsewhere: generated._def.record['tickets'] as never });
    expect(covenant.inspect(moved).every((f) => f.code === 'path_mismatch')).toBe(true);
  });

  it('refuses a router generated by another runtime instance (seals are known by identity)', async () => {
    const mine = await runtime();
    const other = await runtime();
    const router = createRouter(other, handlers);
    expect(mine.inspect(router).map((f) => f.code)).toContain('procedure_not_generated');
  });

  it('refuses generated code older than the contract (stale definition hash)', async () => {
    const covenant = await runtime();
    const { procedure, step } = covenant;
    const p = tickets.status;
    const router = covenant.router({
      tickets: {
        status: procedure
          .meta(covenant.seal('tickets.status', 'tickets', p, 'sha256:' + 'a'.repeat(64)))
          .use(step.requestContext('tickets.status'))
          .use(step.authenticate(p))
          .use(step.refuseTenancyKeys())
          .input(p['~covenant'].input)
          .use(step.authorizeAction(p))
          .output(p['~covenant'].output)
          .query(step.handle(p, (() => ({ open: true })) as Handler<typeof p>)),
      },
    });
    expect(covenant.inspect(router)).toEqual([expect.objectContaining({ code: 'stale_definition' })]);
  });
});

describe('the runtime cannot be assembled without its ports', () => {
  it('refuses a missing or incomplete identity, authorization or audit port (no allow-all default)', async () => {
    const issuer = await createTestIssuer();
    const identity = createTokenVerifier(issuer.verifierOptions());
    const authorization = createStaticAuthorization({});
    const audit = createMemoryAudit();
    expect(() => createCovenantRuntime({ identity, audit } as never)).toThrow(/"authorization" is required/);
    expect(() => createCovenantRuntime({ identity, authorization } as never)).toThrow(/"audit" is required/);
    expect(() => createCovenantRuntime({ authorization, audit } as never)).toThrow(/"identity" is required/);
    expect(() => createCovenantRuntime({ identity, authorization: {}, audit } as never)).toThrow(/authorization\.check/);
    expect(() => createCovenantRuntime({ identity, authorization, audit: { audited() {} } } as never)).toThrow(/audit\.recordDenial/);
  });

  it('fails closed when the authorization port answers with anything but allowed: true', async () => {
    const issuer = await createTestIssuer();
    for (const answer of [{ allowed: 'yes' }, { allowed: 1 }, null, undefined, {}]) {
      const covenant = createCovenantRuntime({
        identity: createTokenVerifier(issuer.verifierOptions()),
        authorization: { check: () => answer as never },
        audit: createMemoryAudit(),
        logger: pino({ level: 'silent' }),
      });
      const caller = covenant.createCaller(createRouter(covenant, handlers), { token: await issuer.mint({ sub: 'a', org: 'o' }) });
      await expect(caller.tickets.list({}), JSON.stringify(answer)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  it('answers 503 when the authorization port throws, and the handler does not run', async () => {
    const issuer = await createTestIssuer();
    let ran = false;
    const covenant = createCovenantRuntime({
      identity: createTokenVerifier(issuer.verifierOptions()),
      authorization: {
        check: () => {
          throw new Error('policy store down');
        },
      },
      audit: createMemoryAudit(),
      logger: pino({ level: 'silent' }),
    });
    const router = createRouter(covenant, { tickets: { ...handlers.tickets, list: () => ((ran = true), { items: [] }) } });
    const caller = covenant.createCaller(router, { token: await issuer.mint({ sub: 'a', org: 'o' }) });
    await expect(caller.tickets.list({})).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', cause: { code: 'ERR_AUTHZ_UNAVAILABLE' } });
    expect(ran).toBe(false);
  });
});
