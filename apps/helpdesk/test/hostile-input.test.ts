import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTenancyKey, isContract } from '@covenant/contract';
import { sql } from 'kysely';
import manifestJson from '../src/generated/manifest.json' with { type: 'json' };
import { startHelpdesk, type Helpdesk } from './helpdesk-harness.ts';

// Bad input to every procedure the helpdesk serves — wrong types, huge strings, deep nesting, unknown and
// prototype-pollution keys, malformed JSON and UTF-8, tenancy keys, random JSON — over raw HTTP, as ada
// (acme's org-wide admin: she holds every capability, so every call reaches input validation). Each
// answer must be a 4xx wire error with a stable code (never a 5xx), must not carry a stack trace, SQL,
// a file path or the payload, and nothing may be written anywhere in the database.
//
// The procedures come from the generated manifest, so a new procedure is covered without editing this file.

interface JsonSchema {
  readonly type?: string | ReadonlyArray<string>;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: ReadonlyArray<string>;
  readonly anyOf?: ReadonlyArray<JsonSchema>;
  readonly enum?: ReadonlyArray<unknown>;
  readonly items?: JsonSchema;
}

interface ManifestProcedure {
  readonly path: string;
  readonly contract: string;
  readonly kind: 'query' | 'mutation';
  readonly errors: Readonly<Record<string, { readonly status: number; readonly message: string }>>;
  readonly input: JsonSchema;
}

const manifest = manifestJson as unknown as { readonly sources: Readonly<Record<string, string>>; readonly procedures: ReadonlyArray<ManifestProcedure> };
const PROCEDURES = manifest.procedures;

/** Codes the framework answers before or around a handler (wire-error.ts); everything else must be declared. */
const FRAMEWORK_CODES = new Set([
  'ERR_INPUT_INVALID',
  'ERR_INPUT_TOO_DEEP',
  'ERR_INPUT_MALFORMED_TEXT',
  'ERR_TENANCY_KEY_IN_INPUT',
  'ERR_REQUEST_MALFORMED',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_METHOD_NOT_SUPPORTED',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_PROCEDURE_NOT_FOUND',
]);
const REJECTED_INPUT_CODES = ['ERR_INPUT_INVALID', 'ERR_INPUT_TOO_DEEP', 'ERR_INPUT_MALFORMED_TEXT', 'ERR_TENANCY_KEY_IN_INPUT'];

/** An error answer is small: at most 20 issues of at most 200 characters each, plus the envelope. */
const MAX_ERROR_BYTES = 8 * 1024;
/** What must never appear in an answer: stack frames, file paths, SQL, engine or parser internals. */
const LEAKS: ReadonlyArray<RegExp> = [
  /\bat\s+\S+\s+\(/,
  /\(\S+:\d+:\d+\)/,
  /node:internal|node_modules|file:\/\//,
  /\/(?:work|tmp|home|usr|var|private)\//,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /sqlite|\bselect\b[^"]*\bfrom\b|\binsert\s+into\b|\bconstraint\b|\bkysely\b/i,
  /TypeError|RangeError|SyntaxError|ReferenceError|Maximum call stack/,
  /Unexpected token|in JSON at position|is not valid JSON/,
  /"stack"|"cause"/,
];
/** The marker every huge payload starts with: an answer that quotes it echoes the payload. */
const MARKER = 'HOSTILE-PAYLOAD-';

/** Node's HTTP parser refuses a request line over its header limit (16 KiB) itself, before the app sees it. */
const TRANSPORT_LIMIT_STATUSES = [413, 414, 431];
/** Query inputs travel in the URL: keep generated ones below Node's header limit. */
const MAX_URL_INPUT = 12_000;

type ParseSchema = { safeParse(value: unknown): { success: boolean } };

let helpdesk: Helpdesk;
let token: string;
/**
 * Request ids of bodies tRPC itself refused while reading them (ERR_REQUEST_MALFORMED, ERR_PAYLOAD_TOO_LARGE):
 * the final log check proves they are logged as refusals (info, by code), never as internal errors with
 * the parser's message, which quotes the body.
 */
const bodyRefusalIds = new Set<string>();
const BODY_REFUSAL_CODES = new Set(['ERR_REQUEST_MALFORMED', 'ERR_PAYLOAD_TOO_LARGE']);
/** Each procedure's input schema, from the contract file the manifest names: the oracle of what is valid. */
const schemas = new Map<string, ParseSchema>();

beforeAll(async () => {
  helpdesk = await startHelpdesk();
  token = await helpdesk.token('ada');
  for (const [name, source] of Object.entries(manifest.sources)) {
    const module = (await import(fileURLToPath(new URL(`../../../${source}`, import.meta.url)))) as Record<string, unknown>;
    const contract = Object.values(module).find((value) => isContract(value) && value['~covenant'].name === name);
    if (contract === undefined || !isContract(contract)) throw new Error(`${source} does not export the contract "${name}"`);
    for (const entry of contract['~covenant'].procedures) {
      schemas.set(entry.path, entry.procedure['~covenant'].input as unknown as ParseSchema);
    }
  }
});
afterAll(() => helpdesk.close());

interface Answer {
  readonly status: number;
  readonly text: string;
}

/** Minimal URL encoding: brackets, braces, colons and commas stay literal, so deep JSON still fits the URL. */
function encodeQuery(text: string): string {
  return encodeURIComponent(text).replace(/%(5B|5D|7B|7D|3A|2C)/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** One raw HTTP call as ada: GET with `?input=` for queries, POST with the body for mutations. */
async function send(
  procedure: Pick<ManifestProcedure, 'path' | 'kind'>,
  body: string | Uint8Array | null,
  options: { readonly method?: 'GET' | 'POST'; readonly contentType?: string | null; readonly urlEncoded?: boolean } = {},
): Promise<Answer> {
  const method = options.method ?? (procedure.kind === 'query' ? 'GET' : 'POST');
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let response: Response;
  if (method === 'GET') {
    const text = typeof body === 'string' || body === null ? body : new TextDecoder().decode(body);
    const query = text === null ? '' : `?input=${options.urlEncoded === true ? text : encodeQuery(text)}`;
    response = await fetch(`${helpdesk.url}/${procedure.path}${query}`, { headers });
  } else {
    const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
    if (contentType !== null) headers['content-type'] = contentType;
    const payload: BodyInit | null = body === null ? null : typeof body === 'string' ? body : Buffer.from(body);
    response = await fetch(`${helpdesk.url}/${procedure.path}`, { method, headers, body: payload });
  }
  return { status: response.status, text: await response.text() };
}

interface WireError {
  readonly error: {
    readonly message: string;
    readonly code: number;
    readonly data: {
      readonly code: string;
      readonly httpStatus: number;
      readonly requestId: string;
      readonly path?: string;
      readonly issues?: ReadonlyArray<{ readonly path: ReadonlyArray<string | number>; readonly code: string; readonly message: string }>;
    };
  };
}

/**
 * The answer is a 4xx wire error with a stable code (declared by the procedure, or the framework's),
 * bounded in size, leaking nothing, quoting none of `echo`.
 */
function expectWireRefusal(procedure: ManifestProcedure, answer: Answer, what: string, echo: ReadonlyArray<string> = []): WireError {
  const context = `${procedure.path}: ${what} → ${answer.status} ${answer.text.slice(0, 300)}`;
  expect(answer.status, context).toBeGreaterThanOrEqual(400);
  expect(answer.status, context).toBeLessThan(500);
  expect(answer.text.length, context).toBeLessThanOrEqual(MAX_ERROR_BYTES);
  const body = JSON.parse(answer.text) as WireError;
  expect(body, context).toEqual({
    error: {
      message: expect.any(String),
      code: expect.any(Number),
      data: expect.objectContaining({
        code: expect.stringMatching(/^[A-Z][A-Z0-9_]+$/),
        httpStatus: answer.status,
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      }),
    },
  });
  expect(Object.keys(body.error.data).filter((key) => !['code', 'httpStatus', 'requestId', 'path', 'issues'].includes(key)), context).toEqual([]);
  const code = body.error.data.code;
  if (BODY_REFUSAL_CODES.has(code)) bodyRefusalIds.add(body.error.data.requestId);
  expect(FRAMEWORK_CODES.has(code) || Object.hasOwn(procedure.errors, code), `${context}: "${code}" is neither declared nor the framework's`).toBe(true);
  if (Object.hasOwn(procedure.errors, code)) expect(answer.status, context).toBe(procedure.errors[code]!.status);
  for (const leak of LEAKS) expect(answer.text, `${context}: leaks ${leak}`).not.toMatch(leak);
  expect(answer.text, context).not.toContain(helpdesk.databaseFile);
  for (const payload of echo) expect(answer.text.includes(payload), `${context}: echoes the payload`).toBe(false);
  return body;
}

/** A refusal of the input itself: 400, ERR_INPUT_INVALID or ERR_TENANCY_KEY_IN_INPUT (or the given codes). */
function expectInputRefused(
  procedure: ManifestProcedure,
  answer: Answer,
  what: string,
  options: { readonly codes?: ReadonlyArray<string>; readonly echo?: ReadonlyArray<string>; readonly field?: string } = {},
): WireError {
  const body = expectWireRefusal(procedure, answer, what, options.echo);
  const context = `${procedure.path}: ${what}`;
  expect(answer.status, context).toBe(400);
  expect(options.codes ?? REJECTED_INPUT_CODES, context).toContain(body.error.data.code);
  if (options.field !== undefined && body.error.data.code === 'ERR_INPUT_INVALID') {
    const paths = (body.error.data.issues ?? []).map((issue) => issue.path[0]);
    expect(paths, `${context}: an issue names the field`).toContain(options.field);
  }
  return body;
}

/** Node's own refusal of an over-long request line: a 4xx, and if it has a body, a wire error. */
function expectTransportRefusal(procedure: ManifestProcedure, answer: Answer, what: string, echo: ReadonlyArray<string>): void {
  if (TRANSPORT_LIMIT_STATUSES.includes(answer.status) && answer.text === '') return;
  expectWireRefusal(procedure, answer, what, echo);
}

/** What the schema of `procedure` makes of a JSON text, parsed as the server parses it. */
function schemaAccepts(procedure: ManifestProcedure, text: string): boolean {
  const schema = schemas.get(procedure.path);
  if (schema === undefined) throw new Error(`no input schema for ${procedure.path}`);
  const value: unknown = JSON.parse(text);
  return findTenancyKey(value) === undefined && schema.safeParse(value).success;
}

/** The number of rows of every table in the database (the helpdesk's, RBAC's, the ledger's…). */
async function tableCounts(): Promise<Record<string, number>> {
  await helpdesk.service.ledger.flush();
  const db = helpdesk.service.db;
  const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(db);
  const counts: Record<string, number> = {};
  for (const { name } of tables.rows) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(name)}`.execute(db);
    counts[name] = Number(rows[0]!.n);
  }
  return counts;
}

/** Runs `attack` and proves that nothing was written anywhere: not a row, not a ledger entry. */
async function writesNothing(attack: () => Promise<void>): Promise<void> {
  const before = await tableCounts();
  expect(before['helpdesk_tickets']).toBeGreaterThan(0);
  await attack();
  expect(await tableCounts()).toEqual(before);
}

// ---------------------------------------------------------------------------------------------------
// Reading the input schemas

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

/** The JSON types a schema admits (`integer` also admits nothing but integers). Empty: anything. */
function typesOf(schema: JsonSchema): Set<JsonType> {
  const types = new Set<JsonType>();
  for (const alternative of schema.anyOf ?? []) for (const type of typesOf(alternative)) types.add(type);
  if (typeof schema.type === 'string') types.add(schema.type as JsonType);
  for (const type of Array.isArray(schema.type) ? schema.type : []) types.add(type as JsonType);
  for (const value of schema.enum ?? []) types.add(value === null ? 'null' : (typeof value as JsonType));
  return types;
}

interface Field {
  /** From the top of the input: keys, and 0 for an array's items. */
  readonly path: ReadonlyArray<string | number>;
  readonly schema: JsonSchema;
}

/** Every field of an input schema, nested ones included (object properties, union alternatives, array items). */
function fieldsOf(schema: JsonSchema, prefix: ReadonlyArray<string | number> = []): Field[] {
  const fields: Field[] = [];
  for (const alternative of [schema, ...(schema.anyOf ?? [])]) {
    for (const [key, sub] of Object.entries(alternative.properties ?? {})) {
      fields.push({ path: [...prefix, key], schema: sub }, ...fieldsOf(sub, [...prefix, key]));
    }
    if (alternative.items !== undefined && prefix.length > 0) {
      fields.push({ path: [...prefix, 0], schema: alternative.items }, ...fieldsOf(alternative.items, [...prefix, 0]));
    }
  }
  return fields;
}

/** `value` placed at `path`: `{ a: { b: [value] } }` for `['a', 'b', 0]`. */
function placeAt(path: ReadonlyArray<string | number>, value: unknown): unknown {
  return path.reduceRight<unknown>(
    (inner, segment) => (typeof segment === 'number' ? [...Array.from({ length: segment }, () => null), inner] : { [segment]: inner }),
    value,
  );
}

/** The JSON text of `inner` (already JSON) placed at `path`. */
function placeTextAt(path: ReadonlyArray<string | number>, inner: string): string {
  return path.reduceRight<string>(
    (text, segment) => (typeof segment === 'number' ? `[${'null,'.repeat(segment)}${text}]` : `{${JSON.stringify(segment)}:${text}}`),
    inner,
  );
}

const WRONG_VALUES: ReadonlyArray<{ readonly type: JsonType; readonly value: unknown }> = [
  { type: 'number', value: 42 },
  { type: 'number', value: -1.5 },
  { type: 'string', value: 'not the right type' },
  { type: 'boolean', value: true },
  { type: 'null', value: null },
  { type: 'array', value: [1, 'two', null] },
  { type: 'object', value: { unexpected: 'object' } },
];

/** Values of a JSON type the field does not admit. */
function wrongValuesFor(schema: JsonSchema): unknown[] {
  const types = typesOf(schema);
  if (types.size === 0) return [];
  const wrong = WRONG_VALUES.filter(({ type }) => !types.has(type) && !(type === 'number' && types.has('integer'))).map(({ value }) => value);
  if (types.has('integer') && !types.has('number')) wrong.push(1.5, 1e300);
  return wrong;
}

const topField = (field: Field): string => String(field.path[0]);

/** 10,000 levels of arrays or of objects, as JSON text (built as text: no recursion anywhere in the test). */
const deepArray = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObject = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

// ---------------------------------------------------------------------------------------------------
// A seeded generator of JSON values (fast-check does not resolve from apps/helpdesk): deterministic, so
// a failure names its seed and input and reproduces exactly.

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  '',
  ' ',
  'a',
  'open',
  'closed',
  'urgent',
  'tkt_abc',
  'cus_abc',
  'cus_',
  'role_x',
  'x@y.co',
  '+1 555 0100',
  'ä€😀',
  '\u0000',
  '\u001f\u007f',
  '\ud800',
  '\udfff\ud800',
  '\u202e',
  "' OR 1=1 --",
  '"; drop table helpdesk_tickets; --',
  '../../../../etc/passwd',
  '%00',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '__proto__',
  'tickets.close',
  '2026-01-01T00:00:00Z',
];
const NUMBERS = [0, -0, 1, -1, 2, 100, 101, 200, 201, 1.5, -1e-7, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, 1e308, -1e308];
const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '', ' ', 'then', 'orgId', 'TENANT_ID', 'workspace-id'];

function jsonGenerator(random: () => number, knownKeys: ReadonlyArray<string>) {
  const pick = <T>(items: ReadonlyArray<T>): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number): number => Math.floor(random() * (max + 1));
  const string = (): string => {
    const roll = random();
    if (roll < 0.6) return pick(STRINGS);
    if (roll < 0.8) return Array.from({ length: int(12) }, () => String.fromCharCode(int(0xffff))).join('');
    return pick(STRINGS).repeat(1 + int(8));
  };
  const key = (): string => {
    const roll = random();
    if (roll < 0.55 && knownKeys.length > 0) return pick(knownKeys);
    if (roll < 0.7) return pick(SPECIAL_KEYS);
    return string().slice(0, 16);
  };
  const value = (depth: number): unknown => {
    const roll = random();
    if (depth <= 0 || roll < 0.5) {
      const leaf = random();
      if (leaf < 0.1) return null;
      if (leaf < 0.2) return random() < 0.5;
      if (leaf < 0.5) return random() < 0.5 ? pick(NUMBERS) : int(1000) - 500;
      return string();
    }
    if (roll < 0.7) return Array.from({ length: int(3) }, () => value(depth - 1));
    // A null-prototype object, so that `__proto__` is an own key that JSON.stringify writes out.
    const object: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (let i = int(4); i > 0; i -= 1) object[key()] = value(depth - 1);
    return object;
  };
  return { value, object: () => value(3) };
}

const PROPERTY_RUNS = 40;

// ---------------------------------------------------------------------------------------------------

describe('the manifest drives the attack', () => {
  it('lists every procedure the router serves, each with an input schema from its contract', async () => {
    expect(PROCEDURES.length).toBeGreaterThanOrEqual(22);
    expect(PROCEDURES.map((p) => p.path)).toEqual(expect.arrayContaining(['customers.create', 'tickets.create', 'comments.add', 'ledger.prove', 'rbac.bindings.grant']));
    expect([...schemas.keys()].sort()).toEqual(PROCEDURES.map((p) => p.path).sort());
    // Every listed procedure is really served: a well-formed but empty input reaches input validation or the handler.
    for (const procedure of PROCEDURES) {
      const answer = await send(procedure, '{}');
      expect(answer.text, procedure.path).not.toContain('ERR_PROCEDURE_NOT_FOUND');
      expect(answer.status, procedure.path).toBeLessThan(500);
    }
  });

  it('answers an unknown procedure and a wrong HTTP method with 404 / 405 wire errors', async () => {
    const ghost: ManifestProcedure = { path: 'tickets.purge', contract: 'tickets', kind: 'mutation', errors: {}, input: {} };
    await writesNothing(async () => {
      const answer = await send(ghost, '{}');
      expect(answer.status).toBe(404);
      expect(expectWireRefusal(ghost, answer, 'unknown procedure').error.data.code).toBe('ERR_PROCEDURE_NOT_FOUND');
      for (const procedure of PROCEDURES) {
        const wrongMethod = await send(procedure, '{}', { method: procedure.kind === 'query' ? 'POST' : 'GET' });
        expect(wrongMethod.status, procedure.path).toBe(405);
        expect(expectWireRefusal(procedure, wrongMethod, 'wrong method').error.data.code).toBe('ERR_METHOD_NOT_SUPPORTED');
      }
    });
  });
});

for (const procedure of PROCEDURES) {
  const fields = fieldsOf(procedure.input);
  const stringFields = fields.filter((field) => typesOf(field.schema).has('string'));
  const isQuery = procedure.kind === 'query';

  describe(`${procedure.path} (${procedure.kind})`, () => {
    it('refuses a wrong type at the top level (number, string, array, null, boolean) with 400', async () => {
      await writesNothing(async () => {
        for (const text of ['42', '-1.5', '"an object was expected"', '[]', '[{}]', 'null', 'true', 'false', '0']) {
          expect(schemaAccepts(procedure, text), text).toBe(false);
          const body = expectInputRefused(procedure, await send(procedure, text), `top-level ${text}`, { codes: ['ERR_INPUT_INVALID'] });
          expect(body.error.data.issues?.some((issue) => issue.path.length === 0 && issue.code === 'invalid_type'), text).toBe(true);
        }
        // No input at all (no ?input=, or an empty body).
        expectInputRefused(procedure, await send(procedure, isQuery ? null : ''), 'no input', { codes: ['ERR_INPUT_INVALID'] });
      });
    });

    it('refuses a wrong type in each field, nested ones included, with 400 naming the field', async () => {
      let cases = 0;
      await writesNothing(async () => {
        if (fields.length === 0) {
          // No fields at all: any field, of any type, is one too many.
          for (const wrong of WRONG_VALUES) {
            const text = JSON.stringify({ field: wrong.value });
            expect(schemaAccepts(procedure, text), text).toBe(false);
            const body = expectInputRefused(procedure, await send(procedure, text), text, { codes: ['ERR_INPUT_INVALID'] });
            expect(body.error.data.issues?.map((issue) => issue.code)).toContain('unrecognized_keys');
            cases += 1;
          }
        }
        for (const field of fields) {
          for (const wrong of wrongValuesFor(field.schema)) {
            const text = JSON.stringify(placeAt(field.path, wrong));
            expect(schemaAccepts(procedure, text), text).toBe(false);
            expectInputRefused(procedure, await send(procedure, text), `${field.path.join('.')} = ${JSON.stringify(wrong)}`, { codes: ['ERR_INPUT_INVALID'], field: topField(field) });
            cases += 1;
          }
        }
      });
      expect(cases).toBeGreaterThanOrEqual(Math.max(fields.length, 1));
    });

    it('refuses huge strings: the 1 MiB body limit answers 413 (never 500), and an oversize string in any field 400', async () => {
      const huge = `${MARKER}${'x'.repeat(1024 * 1024)}`;
      const echo = [`${MARKER}xxxxxxxx`, 'x'.repeat(64)];
      await writesNothing(async () => {
        // Over the limit, whatever the field: as a body (mutations), or as a URL (queries) and as a body.
        const target = fields[0]?.path ?? ['field'];
        const overLimit = placeTextAt(target, JSON.stringify(huge));
        if (isQuery) {
          expectTransportRefusal(procedure, await send(procedure, overLimit), '1 MiB input in the URL', echo);
          const posted = await send(procedure, overLimit, { method: 'POST' });
          expect([405, 413], posted.text.slice(0, 200)).toContain(posted.status);
          expectWireRefusal(procedure, posted, '1 MiB body to a query', echo);
        } else {
          const answer = await send(procedure, overLimit);
          expect(answer.status, answer.text.slice(0, 200)).toBe(413);
          expect(expectWireRefusal(procedure, answer, '1 MiB body', echo).error.data.code).toBe('ERR_PAYLOAD_TOO_LARGE');
          const bigger = await send(procedure, `{"a":"${'y'.repeat(4 * 1024 * 1024)}"}`);
          expect(bigger.status).toBe(413);
          expectWireRefusal(procedure, bigger, '4 MiB body', ['y'.repeat(64)]);
        }
        // Just under the limit (mutations) or the URL limit (queries): the schema's bounds refuse it.
        const size = isQuery ? 8_000 : 900 * 1024;
        const long = `${MARKER}${'x'.repeat(size)}`;
        for (const field of stringFields) {
          const text = placeTextAt(field.path, JSON.stringify(long));
          expect(schemaAccepts(procedure, text), field.path.join('.')).toBe(false);
          expectInputRefused(procedure, await send(procedure, text), `${size}-character ${field.path.join('.')}`, {
            codes: ['ERR_INPUT_INVALID'],
            echo,
            field: topField(field),
          });
        }
        // A huge string where an object is expected.
        const whole = JSON.stringify(long);
        expectInputRefused(procedure, await send(procedure, whole), 'a huge string as the input', { codes: ['ERR_INPUT_INVALID'], echo });
      });
    });

    it('refuses 10,000 levels of nesting, at the top level and in every field, with 400 ERR_INPUT_TOO_DEEP before any schema walks it', async () => {
      const deep = [deepArray(10_000), deepObject(10_000)];
      // A URL holds at most ~16 KiB: queries get the deepest input that fits, and the 10,000 levels as well.
      const fitting = isQuery ? [deepArray(5_000), deepObject(1_000)] : deep;
      await writesNothing(async () => {
        if (isQuery) {
          for (const text of deep) expectTransportRefusal(procedure, await send(procedure, text), '10,000 levels in the URL', [text.slice(0, 200)]);
        }
        for (const text of fitting) {
          expect(schemaAccepts(procedure, text)).toBe(false);
          expectInputRefused(procedure, await send(procedure, text), `top-level nesting (${text.length} characters)`, { codes: ['ERR_INPUT_TOO_DEEP'] });
        }
        for (const field of fields.filter((f) => f.path.length === 1)) {
          for (const nested of fitting) {
            const text = placeTextAt(field.path, nested);
            expect(schemaAccepts(procedure, text), field.path.join('.')).toBe(false);
            expectInputRefused(procedure, await send(procedure, text), `nesting in ${field.path.join('.')}`, { codes: ['ERR_INPUT_TOO_DEEP'] });
          }
        }
        // Nesting inside an unknown key: refused by depth before the schema would refuse the key.
        const text = placeTextAt(['unknownKey'], fitting[0]!);
        expectInputRefused(procedure, await send(procedure, text), 'nesting under an unknown key', { codes: ['ERR_INPUT_TOO_DEEP'] });
        // 64 levels pass the depth bound and reach the schema, which refuses them as invalid input.
        const allowed = placeTextAt(['unknownKey'], deepArray(60));
        expectInputRefused(procedure, await send(procedure, allowed), '60 levels under an unknown key', { codes: ['ERR_INPUT_INVALID'] });
      });
    });

    it('refuses unknown keys, at the top level and in nested objects, with 400 unrecognized_keys', async () => {
      const longKey = `${MARKER}${'k'.repeat(isQuery ? 2_000 : 10_000)}`;
      await writesNothing(async () => {
        for (const [what, text] of [
          ['an unknown key', '{"unknownKey":1}'],
          ['keys that look privileged', '{"isAdmin":true,"role":"admin","capabilities":["*"]}'],
          ['an empty key', '{"":1}'],
          ['a very long unknown key', JSON.stringify({ [longKey]: 1 })],
        ] as const) {
          expect(schemaAccepts(procedure, text)).toBe(false);
          const body = expectInputRefused(procedure, await send(procedure, text), what, { codes: ['ERR_INPUT_INVALID'], echo: [longKey.slice(0, 400)] });
          expect(body.error.data.issues?.some((issue) => issue.code === 'unrecognized_keys'), what).toBe(true);
        }
        for (const field of fields.filter((f) => typesOf(f.schema).has('object') || (f.schema.anyOf ?? []).some((a) => a.properties !== undefined))) {
          const text = JSON.stringify(placeAt(field.path, { unknownKey: 1 }));
          expect(schemaAccepts(procedure, text)).toBe(false);
          expectInputRefused(procedure, await send(procedure, text), `an unknown key in ${field.path.join('.')}`, { codes: ['ERR_INPUT_INVALID'], field: topField(field) });
        }
      });
    });

    it('refuses prototype-pollution keys (__proto__, constructor, prototype) with 400, and pollutes nothing', async () => {
      const required = procedure.input.required ?? [];
      const smuggled = `{${required.map((key) => `${JSON.stringify(key)}:"x"`).join(',')}}`;
      const texts = [
        '{"__proto__":{"polluted":"yes"}}',
        '{"constructor":{"prototype":{"polluted":"yes"}}}',
        '{"prototype":{"polluted":"yes"}}',
        `{"__proto__":${smuggled}}`,
        '{"__proto__":null}',
        '{"toString":"x","valueOf":1,"hasOwnProperty":false}',
        ...fields.filter((f) => f.path.length === 1).map((f) => placeTextAt(f.path, '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}')),
      ];
      await writesNothing(async () => {
        for (const text of texts) {
          expect(schemaAccepts(procedure, text), text).toBe(false);
          expectInputRefused(procedure, await send(procedure, text), text, { codes: ['ERR_INPUT_INVALID'] });
        }
      });
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
      // The server is still itself afterwards.
      const health = await fetch(`${helpdesk.url}/platform.health?input=%7B%7D`);
      expect({ status: health.status, body: await health.json() }).toEqual({ status: 200, body: { result: { data: { status: 'ok' } } } });
    });

    it('refuses malformed JSON, invalid UTF-8 and wrong content types with a 4xx wire error', async () => {
      const malformed = ['{bad', '{"a":', '{} trailing', "{'a':1}", 'NaN', 'undefined', '{"a":1,}', '[', '"\\ud800', '{"a":"\\x41"}', '\u0000'];
      const bytes = [
        new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), // {"\xff\xfe":1}
        new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]), // {\xc3(}: an invalid two-byte sequence
        new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), // "\ud800" encoded as CESU-8
        new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d, 0x00]), // a BOM, {}, NUL
      ];
      await writesNothing(async () => {
        for (const text of malformed) {
          const answer = await send(procedure, text);
          expectInputRefused(procedure, answer, `malformed ${JSON.stringify(text)}`, { codes: ['ERR_REQUEST_MALFORMED', 'ERR_INPUT_INVALID'] });
        }
        for (const raw of bytes) {
          const answer = isQuery
            ? await send(procedure, [...raw].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''), { urlEncoded: true })
            : await send(procedure, raw);
          expectInputRefused(procedure, answer, `bytes ${Buffer.from(raw).toString('hex')}`, { codes: ['ERR_REQUEST_MALFORMED', 'ERR_INPUT_INVALID'] });
        }
        if (!isQuery) {
          for (const contentType of [null, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
            const answer = await send(procedure, '{}', { contentType });
            const body = expectWireRefusal(procedure, answer, `content-type ${String(contentType)}`);
            // Unsupported types are 415; a multipart body that is not multipart is malformed (400).
            expect([400, 415]).toContain(answer.status);
            expect(['ERR_UNSUPPORTED_MEDIA_TYPE', 'ERR_REQUEST_MALFORMED']).toContain(body.error.data.code);
          }
        }
      });
    });

    it('refuses tenancy keys (orgId, workspaceId, tenantId in any spelling) at any depth with 400 ERR_TENANCY_KEY_IN_INPUT', async () => {
      const smuggled = 'smuggled-tenant-7f3a';
      const keys = ['orgId', 'workspaceId', 'tenantId', 'ORG_ID', 'workspace-id', 'TenantID', 'org_id'];
      const cases: Array<{ readonly value: unknown; readonly at: string }> = [];
      for (const key of keys) {
        cases.push({ value: { [key]: smuggled }, at: key });
        cases.push({ value: [{ [key]: smuggled }], at: `0.${key}` });
      }
      for (const field of fields) {
        const at = [...field.path, 'orgId'].join('.');
        cases.push({ value: placeAt([...field.path, 'orgId'], smuggled), at });
        cases.push({ value: placeAt([...field.path, 1, 'tenantId'], smuggled), at: [...field.path, 1, 'tenantId'].join('.') });
      }
      // Deep, with a valid-looking sibling: the key is refused wherever it hides.
      const deepPath = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 'wrapper' : 0));
      cases.push({ value: placeAt([...deepPath, 'workspaceId'], smuggled), at: [...deepPath, 'workspaceId'].join('.') });
      await writesNothing(async () => {
        for (const { value, at } of cases) {
          const text = JSON.stringify(value);
          expect(schemaAccepts(procedure, text)).toBe(false);
          const body = expectInputRefused(procedure, await send(procedure, text), `tenancy key at ${at}`, { codes: ['ERR_TENANCY_KEY_IN_INPUT'] });
          // The caller's own path is echoed, bounded to its last 100 characters.
          expect(body.error.message, at).toContain(at.length > 100 ? `"…${at.slice(-100)}"` : `"${at}"`);
          expect(body.error.message).not.toContain(smuggled);
        }
      });
    });

    it(`answers ${PROPERTY_RUNS} seeded random JSON inputs with 2xx or a declared/validation 4xx, never a 5xx, writing nothing`, async () => {
      const seed = [...procedure.path].reduce((hash, char) => Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0, 2166136261);
      const random = mulberry32(seed);
      const knownKeys = [...new Set(fields.flatMap((f) => f.path.filter((s): s is string => typeof s === 'string')))];
      const generate = jsonGenerator(random, knownKeys);
      const before = await tableCounts();
      const ledgerSize = await helpdesk.service.ledger.size();
      const auditedAccepted = new Set<string>();
      let rejected = 0;
      for (let run = 0; run < PROPERTY_RUNS; run += 1) {
        // Mutations get only inputs their schema refuses (an accepted one would legitimately write); queries get any.
        let text = '';
        let accepted = true;
        for (let attempt = 0; attempt < 50; attempt += 1) {
          const value = random() < 0.7 ? generate.object() : generate.value(2);
          text = JSON.stringify(value);
          accepted = schemaAccepts(procedure, text);
          if ((isQuery || !accepted) && encodeQuery(text).length <= MAX_URL_INPUT) break;
        }
        expect(isQuery || !accepted, `seed ${seed}, run ${run}: no refused input generated`).toBe(true);
        const answer = await send(procedure, text);
        const what = `seed ${seed}, run ${run}, input ${text.slice(0, 500)}`;
        expect(answer.status, `${what} → ${answer.text.slice(0, 300)}`).toBeLessThan(500);
        if (!accepted) {
          expectInputRefused(procedure, answer, what);
          rejected += 1;
        } else if (answer.status >= 400) {
          const body = expectWireRefusal(procedure, answer, what);
          expect(Object.hasOwn(procedure.errors, body.error.data.code), `${what}: a valid input fails only with a declared error`).toBe(true);
          auditedAccepted.add(procedure.path);
        } else {
          expect(answer.status, what).toBe(200);
          expect(JSON.parse(answer.text), what).toHaveProperty('result');
          auditedAccepted.add(procedure.path);
        }
      }
      expect(rejected, 'most random inputs are invalid').toBeGreaterThan(PROPERTY_RUNS / 2);
      const after = await tableCounts();
      const withoutLedger = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).filter(([name]) => !name.startsWith('ledger_')));
      expect(withoutLedger(after)).toEqual(withoutLedger(before));
      // The ledger only grew by the audit trail of accepted (audited) reads.
      const rows = await helpdesk.service.db.selectFrom('ledger_entries').select(['seq', 'kind', 'body']).where('seq', '>=', ledgerSize).execute();
      for (const row of rows) {
        const entry = JSON.parse(new TextDecoder().decode(new Uint8Array(row.body))) as { action: string; outcome: string | null };
        expect(auditedAccepted.has(entry.action), `unexpected ledger entry ${entry.action}`).toBe(true);
      }
    });
  });
}

describe('afterwards', () => {
  it('no call was logged as an internal error, and the logs hold none of the hostile payloads', () => {
    const logs = helpdesk.logs.join('\n');
    expect(helpdesk.logs.length).toBeGreaterThan(PROCEDURES.length);
    const entries = helpdesk.logs.map((line) => JSON.parse(line) as { level: number; requestId?: string; code?: string });
    const errors = entries.filter((entry) => entry.level >= 50);
    expect(errors).toEqual([]);
    // tRPC's own body refusals were logged too, at info and by code only.
    expect(bodyRefusalIds.size).toBeGreaterThan(0);
    const bodyRefusals = entries.filter((entry) => entry.requestId !== undefined && bodyRefusalIds.has(entry.requestId));
    expect(bodyRefusals.length).toBeGreaterThanOrEqual(bodyRefusalIds.size);
    for (const entry of bodyRefusals) expect(entry).toMatchObject({ level: 30, code: expect.stringMatching(/^ERR_(REQUEST_MALFORMED|PAYLOAD_TOO_LARGE)$/) });
    expect(logs).not.toContain('is not valid JSON');
    // Every refusal was logged once, with its code and no more than info/warn.
    const refusals = entries.filter((entry) => entry.code !== undefined && entry.level < 50);
    expect(refusals.length).toBeGreaterThan(PROCEDURES.length * 10);
    expect(refusals.map((entry) => entry.code)).toEqual(expect.arrayContaining(['ERR_INPUT_INVALID', 'ERR_TENANCY_KEY_IN_INPUT']));
    expect(logs).not.toContain(MARKER);
    expect(logs).not.toContain('x'.repeat(64));
    expect(logs).not.toContain('polluted');
    expect(logs).not.toContain('smuggled-tenant');
  });
});
