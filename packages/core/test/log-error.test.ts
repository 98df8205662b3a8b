import { describe, expect, it } from 'vitest';
import { errorForLog, redactLogText } from '../src/log-error.ts';

/**
 * Issue 12 §5: the pipeline's `call failed` line wrote the raw error through pino's default serializer
 * (message, stack, causes, AggregateError members, every enumerable property). These are the errors the
 * attack produced; none of their values may survive `errorForLog`.
 */

const JWT = 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSIsIm9yZyI6ImFjbWUifQ.c2lnbmF0dXJlc2lnbmF0dXJl';

/** An HTTP client's error, shaped like the common ones: the request it sent and the response it got. */
function httpClientError(): Error {
  const error = new Error('Request failed with status code 401') as Error & Record<string, unknown>;
  error['code'] = 'ERR_BAD_REQUEST';
  error['config'] = {
    url: 'https://partner.example/api/users',
    headers: { Authorization: `Bearer ${JWT}`, Cookie: 'session=s3cr3t-cookie' },
    data: JSON.stringify({ user: 'alice@example.com', password: 'hunter2-correct-horse' }),
  };
  error['request'] = { _header: `POST /api/users HTTP/1.1\r\nAuthorization: Bearer ${JWT}` };
  error['response'] = { status: 401, data: { error: 'bad password for alice@example.com' }, headers: { 'set-cookie': 'sid=abc' } };
  return error;
}

/** A PostgreSQL unique violation as `pg` raises it (23505), `detail` naming the offending values. */
function uniqueViolation(): Error {
  const error = new Error('duplicate key value violates unique constraint "customers_org_email_key"') as Error & Record<string, unknown>;
  Object.assign(error, {
    code: '23505',
    constraint: 'customers_org_email_key',
    table: 'customers',
    schema: 'public',
    detail: 'Key (org, email)=(acme, grace@example.com) already exists.',
    where: 'SQL statement "insert into customers values (\'grace@example.com\')"',
    severity: 'ERROR',
  });
  return error;
}

const SECRETS = ['alice@example.com', 'grace@example.com', JWT, 'hunter2-correct-horse', 's3cr3t-cookie', 'sid=abc', 'bad password', 'partner.example/api/users'];

function expectNoSecret(value: unknown): void {
  const text = JSON.stringify(value);
  for (const secret of SECRETS) expect(text, secret).not.toContain(secret);
}

describe('errorForLog', () => {
  it('keeps the class and a redacted message of a handler error naming a user', () => {
    const record = errorForLog(new Error('User alice@example.com not found'));
    expect(record).toMatchObject({ type: 'Error', message: 'User [redacted:email] not found' });
    expect(record.stack).toMatch(/^Error: User \[redacted:email\] not found\n {4}at /);
    expectNoSecret(record);
  });

  it("keeps an HTTP client error's class and code, never its request, headers, body or response", () => {
    const record = errorForLog(httpClientError());
    expect(record).toEqual({ type: 'Error', code: 'ERR_BAD_REQUEST', message: 'Request failed with status code 401', stack: expect.any(String) });
    expectNoSecret(record);
  });

  it("keeps the database's code, constraint, table and schema of a 23505, never its detail or where", () => {
    const record = errorForLog(uniqueViolation());
    expect(record).toMatchObject({ type: 'Error', code: '23505', constraint: 'customers_org_email_key', table: 'customers', schema: 'public' });
    expect(Object.keys(record).sort()).toEqual(['code', 'constraint', 'message', 'schema', 'stack', 'table', 'type']);
    expectNoSecret(record);
  });

  it('follows causes and AggregateError members, redacting each, a bounded number of levels deep', () => {
    const aggregate = new AggregateError([httpClientError(), new Error('grace@example.com bounced'), 'hunter2-correct-horse'], 'sending failed');
    const record = errorForLog(new Error('notify failed', { cause: new Error('wrapped', { cause: aggregate }) }));
    expect(record.cause?.cause).toMatchObject({ type: 'AggregateError', message: 'sending failed' });
    expect(record.cause?.cause?.errors).toHaveLength(3);
    expect(record.cause?.cause?.errors?.[1]).toMatchObject({ message: '[redacted:email] bounced' });
    expect(record.cause?.cause?.errors?.[2]).toMatchObject({ type: 'string' });
    expectNoSecret(record);
    let deep: Error = new Error('bottom alice@example.com');
    for (let i = 0; i < 50; i += 1) deep = new Error(`level ${i}`, { cause: deep });
    let depth = 0;
    for (let at = errorForLog(deep); at.cause !== undefined; at = at.cause) depth += 1;
    expect(depth).toBeLessThanOrEqual(4);
  });

  it('keeps no enumerable property but the database names: custom fields carrying personal data are dropped', () => {
    const error = Object.assign(new TypeError('bad'), { user: { email: 'alice@example.com' }, password: 'hunter2-correct-horse', code: 'x@y.z is not a code' });
    const record = errorForLog(error);
    expect(record).toEqual({ type: 'TypeError', message: 'bad', stack: expect.any(String) });
  });

  it("keeps a schema error's issues as codes and paths only: zod's message (the issues as JSON) may quote the input", async () => {
    const { z } = await import('zod');
    const parsed = z.strictObject({ email: z.email(), n: z.number() }).safeParse({ email: 'alice@example.com-not-valid', n: 'grace@example.com' });
    const record = errorForLog(parsed.error);
    expect(record).toMatchObject({ type: 'ZodError', message: '2 validation issue(s)' });
    expect(record.issues).toEqual([
      { code: 'invalid_format', path: ['email'] },
      { code: 'invalid_type', path: ['n'] },
    ]);
    expectNoSecret(record);
  });

  it('describes thrown non-errors by type: a string redacted, an object never opened', () => {
    expect(errorForLog('login failed for alice@example.com')).toEqual({ type: 'string', message: 'login failed for [redacted:email]' });
    expect(errorForLog({ password: 'hunter2-correct-horse' })).toEqual({ type: 'object', message: 'a thrown object' });
    expect(errorForLog(null)).toEqual({ type: 'null', message: 'a thrown null' });
  });
});

describe('redactLogText', () => {
  it.each([
    ['User alice@example.com not found', 'User [redacted:email] not found'],
    [`Authorization: Bearer ${JWT}`, 'Authorization: [redacted] [redacted:credential]'],
    ['password: hunter2 and token=abc123', 'password: [redacted] and token=[redacted]'],
    ['invalid input syntax for type uuid: "not-a-uuid"', 'invalid input syntax for type uuid: [redacted:quoted]'],
    ['call +1 (555) 010-0199 now', 'call [redacted:number] now'],
    ['card 4111 1111 1111 1111 declined', 'card [redacted:number] declined'],
    ['connect to postgres://app:pa55word@db.internal/prod failed', 'connect to [redacted:url] failed'],
    ['key sk_live_51HabcdefGHIJKLmnop123 leaked', 'key [redacted:secret] leaked'],
    ['UNIQUE constraint failed: customers.org, customers.email', 'UNIQUE constraint failed: customers.org, customers.email'],
    ['the audit record could not be written', 'the audit record could not be written'],
  ])('%s', (text, expected) => {
    expect(redactLogText(text)).toBe(expected);
  });

  it('bounds the text it keeps', () => {
    expect(redactLogText('a '.repeat(10_000)).length).toBeLessThan(1_100);
  });
});
