import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCovenantError } from '{{import:client}}';
import { createSignerKeyFile, readSignerKeyFile } from '{{import:ledger-keys}}';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ORG, openDevIdentity, type DevIdentity } from '../src/dev-identity.ts';
import { createClient } from '../src/generated/client.ts';
import { createService, type Service } from '../src/service.ts';

// The service over HTTP on a fresh SQLite file, called with the generated client as a caller would.
let dir: string;
let service: Service;
let dev: DevIdentity;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covenant-service-test-'));
  dev = await openDevIdentity(join(dir, 'issuer.jwk'));
  createSignerKeyFile(join(dir, 'ledger.key'));
  service = await createService({
    identity: dev.verifierOptions,
    databaseUrl: join(dir, 'test.db'),
    ledgerSigner: readSignerKeyFile(join(dir, 'ledger.key'), 'covenant.local/test'),
    ledgerStateFile: join(dir, 'ledger.key.state'),
    logger: pino({ level: 'silent' }),
  });
  // There is no default admin: the org's first one is an explicit act, recorded on the ledger.
  await service.ledger.transact((tx) => service.rbac.bind(tx.db).bootstrapTenant('test', DEV_ORG, 'alice', 'first admin of the test org'));
  await new Promise<void>((resolve) => service.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The typed client, calling as `subject` (a token of the local org), or without a token. */
const as = async (subject: string | null) => {
  const token = subject === null ? undefined : await dev.mint(subject);
  return createClient({ url, token: () => token });
};

/** The error a call failed with (the test fails if it succeeded). */
async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => expect.fail('the call succeeded'),
    (error: unknown) => error,
  );
}

const invoice = { reference: 'order-1001', customerEmail: 'billing@example.com', amount: 12_500, currency: 'EUR' } as const;

describe('invoices', () => {
  it('answers the public health check without a token', async () => {
    expect(await (await as(null)).health.check.query({})).toEqual({ status: 'ok' });
  });

  it('refuses a call without a token: 401', async () => {
    const error = await failure((await as(null)).invoices.list.query({}));
    expect(isCovenantError(error, 'ERR_IDENTITY_TOKEN_MISSING') && error.httpStatus).toBe(401);
  });

  it('issues and lists invoices for a caller with the capabilities: 200', async () => {
    const api = await as('alice');
    const created = await api.invoices.create.mutate(invoice);
    expect(created).toMatchObject({ ...invoice, createdBy: 'alice', memo: null });
    expect((await api.invoices.list.query({})).invoices.map((i) => i.id)).toEqual([created.id]);

    const again = await failure(api.invoices.create.mutate(invoice));
    expect(isCovenantError(again, 'DUPLICATE_REFERENCE') && again.httpStatus).toBe(409);
  });

  it('refuses a caller without the capability: 403', async () => {
    const error = await failure((await as('mallory')).invoices.list.query({}));
    expect(isCovenantError(error, 'ERR_AUTHZ_DENIED') && error.httpStatus).toBe(403);
  });

  it('refuses a tenant in the input: the tenant comes from the token only', async () => {
    const error = await failure((await as('alice')).invoices.list.query({ orgId: 'other' } as never));
    expect(isCovenantError(error) && error.httpStatus).toBe(400);
  });
});
