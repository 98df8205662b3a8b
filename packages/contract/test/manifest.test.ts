import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ContractDefinitionError, collectProcedures, defineContract, mutation, query } from '../src/index.ts';
import type { Contract } from '../src/index.ts';
import { canonicalJson, createManifest, definitionHash, describeProcedure } from '../src/manifest/index.ts';
import type { ManifestProcedure } from '../src/manifest/index.ts';
import { fixedContract } from './fixtures/fixed-contract.ts';
import { Ok, TicketId, definitionIssues } from './support/definition-issues.ts';

/** The manifest entry of the only procedure of a one-procedure contract `c.p`. */
function entryOf(procedure: Parameters<typeof defineContract>[1][string]): ManifestProcedure {
  const [entry] = createManifest([defineContract('c', { p: procedure })]).procedures;
  if (entry === undefined) throw new Error('no manifest entry');
  return entry;
}

const hashOf = (procedure: Parameters<typeof entryOf>[0]): string => entryOf(procedure).definitionHash;

describe('manifest golden entry', () => {
  it('describes a small procedure exactly, JSON Schema and hash included', () => {
    const close = mutation({
      input: z.strictObject({
        ticketId: z.string().min(1).max(64),
        email: z.string().meta({ pii: 'contact' }).optional(),
      }),
      output: z.strictObject({ id: z.string() }),
      capability: 'tickets.write',
      resource: { type: 'ticket', id: 'ticketId' },
      summary: 'Close a ticket',
      errors: { NOT_FOUND: { status: 404, message: 'No such ticket' } },
    });
    const manifest = createManifest([defineContract('tickets', { close })]);
    expect(manifest).toStrictEqual({
      version: 1,
      procedures: [
        {
          path: 'tickets.close',
          contract: 'tickets',
          kind: 'mutation',
          summary: 'Close a ticket',
          security: {
            requireAuth: true,
            capability: 'tickets.write',
            anyPrincipal: false,
            resource: { type: 'ticket', id: 'ticketId' },
            audit: true,
          },
          errors: { NOT_FOUND: { status: 404, message: 'No such ticket' } },
          classified: { input: [{ path: 'email', segments: ['email'], pii: 'contact' }], output: [] },
          input: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            additionalProperties: false,
            properties: {
              email: { pii: 'contact', type: 'string' },
              ticketId: { maxLength: 64, minLength: 1, type: 'string' },
            },
            required: ['ticketId'],
            type: 'object',
          },
          output: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            additionalProperties: false,
            properties: { id: { type: 'string' } },
            required: ['id'],
            type: 'object',
          },
          definitionHash: 'sha256:46c245016bb0d3b47489a5ab98752c6e3990c4a21a34f2215d552a0ac90ce162',
        },
      ],
    });
  });
});

describe('createManifest', () => {
  const a = defineContract('alpha', {
    zeta: query({ input: TicketId, output: Ok, capability: 'alpha.read' }),
    admin: { beta: mutation({ input: TicketId, output: Ok, capability: 'alpha.write' }) },
  });
  const b = defineContract('beta', { get: query({ input: TicketId, output: Ok, anyPrincipal: true }) });

  it('sorts procedures by path across contracts, whatever order the contracts come in', () => {
    expect(createManifest([b, a]).procedures.map((p) => p.path)).toEqual(['alpha.admin.beta', 'alpha.zeta', 'beta.get']);
    expect(createManifest([a, b])).toStrictEqual(createManifest([b, a]));
  });

  it('gives byte-equal manifests for the same contracts', () => {
    expect(JSON.stringify(createManifest([a, b]))).toBe(JSON.stringify(createManifest([a, b])));
  });

  it('gives an empty manifest for no contracts', () => {
    expect(createManifest([])).toEqual({ version: 1, procedures: [] });
  });

  it('refuses contracts whose paths conflict', () => {
    const again = defineContract('beta', { get: query({ input: TicketId, output: Ok, anyPrincipal: true }) });
    expect(() => createManifest([b, again])).toThrow(ContractDefinitionError);
  });

  it('formats every hash as sha256:<64 hex digits>', () => {
    for (const entry of createManifest([a, b]).procedures) expect(entry.definitionHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('uses the definition hash of the entry without the hash', () => {
    const entry = describeProcedure(a['~covenant'].procedures[0]!);
    const { definitionHash: hash, ...body } = entry;
    expect(definitionHash(body)).toBe(hash);
    expect(definitionHash(entry)).toBe(hash);
    const forged: ManifestProcedure = { ...entry, definitionHash: 'sha256:forged' };
    expect(definitionHash(forged)).toBe(hash);
  });

  it('hashes the canonical JSON of the entry', async () => {
    const { createHash } = await import('node:crypto');
    const { definitionHash: hash, ...body } = describeProcedure(b['~covenant'].procedures[0]!);
    expect(hash).toBe(`sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`);
  });
});

describe('the definition hash is stable', () => {
  const build = () => query({ input: TicketId, output: Ok, capability: 'tickets.read', summary: 'Read' });

  it('gives the same value twice for the same procedure', () => {
    const get = build();
    expect(hashOf(get)).toBe(hashOf(get));
  });

  it('gives the same value for two procedures defined alike', () => {
    expect(hashOf(build())).toBe(hashOf(build()));
  });

  it('does not depend on the order of the keys of an object shape', () => {
    const ab = z.strictObject({ a: z.string(), b: z.number().optional(), c: z.strictObject({ x: z.string(), y: z.string() }) });
    const ba = z.strictObject({ c: z.strictObject({ y: z.string(), x: z.string() }), b: z.number().optional(), a: z.string() });
    expect(hashOf(query({ input: ab, output: ab, anyPrincipal: true }))).toBe(
      hashOf(query({ input: ba, output: ba, anyPrincipal: true })),
    );
  });

  it('does not depend on the order in which security options are written', () => {
    const first = query({
      input: TicketId,
      output: Ok,
      capability: 'tickets.read',
      resource: { type: 'ticket', id: 'ticketId' },
      audit: true,
      summary: 'Read',
    });
    const second = query({
      summary: 'Read',
      audit: true,
      resource: { id: 'ticketId', type: 'ticket' },
      capability: 'tickets.read',
      output: Ok,
      input: TicketId,
    });
    expect(hashOf(first)).toBe(hashOf(second));
  });

  it('does not depend on the order of error declarations or of their members', () => {
    const first = query({
      input: TicketId,
      output: Ok,
      anyPrincipal: true,
      errors: { NOT_FOUND: { status: 404, message: 'Gone' }, CONFLICT: { status: 409, message: 'Busy' } },
    });
    const second = query({
      input: TicketId,
      output: Ok,
      anyPrincipal: true,
      errors: { CONFLICT: { message: 'Busy', status: 409 }, NOT_FOUND: { message: 'Gone', status: 404 } },
    });
    expect(hashOf(first)).toBe(hashOf(second));
  });

  it('is the same in another process, from another directory, under another time zone and locale', () => {
    const entries = createManifest([fixedContract]).procedures;
    const inProcess = Object.fromEntries(entries.map((p) => [p.path, p.definitionHash]));
    const tsx = createRequire(fileURLToPath(new URL('../../codegen/package.json', import.meta.url))).resolve('tsx');
    const script = fileURLToPath(new URL('./fixtures/print-definition-hashes.ts', import.meta.url));
    const { NODE_OPTIONS: _ignored, ...env } = process.env;
    const child = spawnSync(process.execPath, ['--import', pathToFileURL(tsx).href, script], {
      cwd: tmpdir(),
      env: { ...env, TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual(inProcess);
    expect(Object.keys(inProcess)).toEqual(['fixture.close', 'fixture.search']);
  });
});

describe('the definition hash changes with the definition', () => {
  const Note = z.string().max(100);
  const Input = z.strictObject({ ticketId: z.string(), note: Note });
  const Output = z.strictObject({ id: z.string(), count: z.int() });
  const base = { input: Input, output: Output, capability: 'tickets.read', summary: 'Read' } as const;

  const variants: ReadonlyArray<[string, () => Parameters<typeof entryOf>[0]]> = [
    ['the base definition', () => query(base)],
    ['another capability', () => query({ ...base, capability: 'tickets.admin' })],
    ['requireAuth flipped to false', () => query({ input: Input, output: Output, requireAuth: false, summary: 'Read' })],
    ['anyPrincipal instead of a capability', () => query({ input: Input, output: Output, anyPrincipal: true, summary: 'Read' })],
    ['a resource', () => query({ ...base, resource: { type: 'ticket', id: 'ticketId' } })],
    ['another resource type', () => query({ ...base, resource: { type: 'case', id: 'ticketId' } })],
    ['audit turned on', () => query({ ...base, audit: true })],
    ['an error declaration', () => query({ ...base, errors: { NOT_FOUND: { status: 404, message: 'Gone' } } })],
    ['another error status', () => query({ ...base, errors: { NOT_FOUND: { status: 422, message: 'Gone' } } })],
    ['another error message', () => query({ ...base, errors: { NOT_FOUND: { status: 404, message: 'Missing' } } })],
    ['another summary', () => query({ ...base, summary: 'Read one' })],
    ['no summary', () => query({ input: Input, output: Output, capability: 'tickets.read' })],
    ['mutation instead of query', () => mutation({ ...base, audit: false })],
    ['an added input field', () => query({ ...base, input: Input.extend({ extra: z.string() }) })],
    ['a changed input type', () => query({ ...base, input: Input.extend({ note: z.number().max(100) }) })],
    ['a changed max check', () => query({ ...base, input: Input.extend({ note: z.string().max(101) }) })],
    ['an added min check', () => query({ ...base, input: Input.extend({ note: z.string().min(1).max(100) }) })],
    ['an optional input field', () => query({ ...base, input: Input.extend({ note: z.string().max(100).optional() }) })],
    ['a changed output field', () => query({ ...base, output: Output.extend({ count: z.number() }) })],
    ['an added output field', () => query({ ...base, output: Output.extend({ more: z.boolean() }) })],
    ['a classified input field', () => query({ ...base, input: Input.extend({ note: Note.meta({ pii: 'free-text' }) }) })],
    ['another classification', () => query({ ...base, input: Input.extend({ note: Note.meta({ pii: 'health' }) }) })],
    ['a secret output field', () => query({ ...base, output: Output.extend({ id: z.string().meta({ secret: true }) }) })],
  ];

  it.each(variants.slice(1))('changes with %s', (_label, make) => {
    expect(hashOf(make())).not.toBe(hashOf(query(base)));
  });

  it('gives every variant its own hash', () => {
    const hashes = variants.map(([, make]) => hashOf(make()));
    expect(new Set(hashes).size).toBe(variants.length);
  });

  it('changes with the path of the procedure', () => {
    const get = query(base);
    const [one] = createManifest([defineContract('tickets', { get })]).procedures;
    const [two] = createManifest([defineContract('cases', { get })]).procedures;
    const [three] = createManifest([defineContract('tickets', { read: get })]).procedures;
    expect(new Set([one?.definitionHash, two?.definitionHash, three?.definitionHash]).size).toBe(3);
  });
});

describe('collectProcedures', () => {
  const get = query({ input: TicketId, output: Ok, capability: 'tickets.read' });

  it('returns every procedure of every contract, sorted by path and frozen', () => {
    const all = collectProcedures([
      defineContract('tickets', { list: get, get }),
      defineContract('billing', { get }),
    ]);
    expect(all.map((entry) => entry.path)).toEqual(['billing.get', 'tickets.get', 'tickets.list']);
    expect(Object.isFrozen(all)).toBe(true);
  });

  it('accepts any iterable of contracts', () => {
    const contracts = new Set<Contract>([defineContract('tickets', { get })]);
    expect(collectProcedures(contracts).map((entry) => entry.path)).toEqual(['tickets.get']);
  });

  it('refuses two procedures on one path', () => {
    const one = defineContract('tickets', { get });
    const two = defineContract('tickets', { get });
    expect(definitionIssues(() => collectProcedures([one, two]))).toEqual([
      { code: 'path_conflict', procedure: 'tickets.get', at: '' },
    ]);
  });

  it('refuses a path that is a procedure in one contract and a group in another', () => {
    const procedure = defineContract('tickets', { admin: get });
    const group = defineContract('tickets.admin', { purge: get });
    expect(definitionIssues(() => collectProcedures([group, procedure]))).toEqual([
      { code: 'path_conflict', procedure: 'tickets.admin', at: '' },
    ]);
  });

  it('refuses a procedure that is the group of a deeper procedure several levels down', () => {
    const procedure = defineContract('a', { b: get });
    const deep = defineContract('a.b.c', { d: { e: get } });
    expect(definitionIssues(() => collectProcedures([procedure, deep]))).toEqual([
      { code: 'path_conflict', procedure: 'a.b', at: '' },
    ]);
  });

  it('accepts paths that share a text prefix but not a segment', () => {
    const all = collectProcedures([
      defineContract('tickets', { get, getAll: get }),
      defineContract('ticketsAdmin', { get }),
      defineContract('tickets.admin', { purge: get }),
    ]);
    expect(all.map((entry) => entry.path)).toEqual(['tickets.admin.purge', 'tickets.get', 'tickets.getAll', 'ticketsAdmin.get']);
  });

  it('accepts two contracts of the same name with different procedures', () => {
    const all = collectProcedures([
      defineContract('tickets', { get }),
      defineContract('tickets', { list: get }),
    ]);
    expect(all.map((entry) => entry.path)).toEqual(['tickets.get', 'tickets.list']);
  });
});
