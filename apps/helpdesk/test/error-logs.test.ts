import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureServer, type FixtureServer } from './harness.ts';

/**
 * Issue 12 §5 over HTTP: a handler that throws the errors the attack used. The client gets a generic 500
 * with a request id; the server's one `call failed` line keeps the error's class, its stable code and the
 * database's names, and none of the values the error carried.
 */

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln';
const VALUES = ['alice@example.com', 'grace@example.com', JWT, 'hunter2-correct-horse', 'Key (org, email)', 'partner.example'];

function thrown(kind: string): unknown {
  switch (kind) {
    case 'a message naming a user':
      return new Error('User alice@example.com not found');
    case 'an HTTP client error':
      return Object.assign(new Error('Request failed with status code 401'), {
        code: 'ERR_BAD_REQUEST',
        config: { url: 'https://partner.example/u', headers: { Authorization: `Bearer ${JWT}` }, data: '{"password":"hunter2-correct-horse"}' },
        response: { status: 401, data: { error: 'no such user alice@example.com' } },
      });
    case 'a PostgreSQL unique violation':
      return Object.assign(new Error('duplicate key value violates unique constraint "customers_org_email_key"'), {
        code: '23505',
        constraint: 'customers_org_email_key',
        table: 'customers',
        detail: 'Key (org, email)=(acme, grace@example.com) already exists.',
      });
    default:
      return new AggregateError([new Error('grace@example.com bounced'), new Error(`token ${JWT} refused`)], 'notify failed', {
        cause: new Error('password hunter2-correct-horse rejected'),
      });
  }
}

let server: FixtureServer;
beforeAll(async () => {
  server = await startFixtureServer();
});
afterAll(async () => {
  await server.close();
});

describe('the pipeline logs a failing call without the values its error carries', () => {
  it.each(['a message naming a user', 'an HTTP client error', 'a PostgreSQL unique violation', 'an AggregateError with a cause'])('%s', async (kind) => {
    server.override('create', () => {
      throw thrown(kind);
    });
    server.logs.length = 0;
    const token = await server.issuer.mint({ sub: 'alice', org: 'org_a' });
    const error = await server.client(token).tickets.create.mutate({ title: kind, requesterEmail: 'pat@example.com' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_INTERNAL', httpStatus: 500 });

    const lines = server.logs.map((line) => JSON.parse(line) as Record<string, any>);
    const failed = lines.find((line) => line['msg'] === 'call failed');
    expect(failed).toBeDefined();
    expect(failed!['code']).toBe('ERR_INTERNAL');
    expect(failed!['error']).toMatchObject({ type: kind.startsWith('an Aggregate') ? 'AggregateError' : 'Error' });
    expect(failed!['err']).toBeUndefined();
    if (kind === 'a PostgreSQL unique violation') {
      expect(failed!['error']).toMatchObject({ code: '23505', constraint: 'customers_org_email_key', table: 'customers' });
    }
    for (const value of VALUES) expect(server.logs.join('\n'), value).not.toContain(value);
  });
});
