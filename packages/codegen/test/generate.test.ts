import { createManifest } from '@covenant/contract/manifest';
import { afterEach, describe, expect, it } from 'vitest';
import { ContractLoadError, GENERATED_MARKER, GENERATOR_VERSION, generate, loadContracts, renderFiles } from '../src/index.ts';
import type { GeneratedManifest } from '../src/index.ts';
import { contractSource, createTempProject, readQuery, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  return created;
}

const DESK = contractSource(
  'desk',
  'desk',
  [
    "  tickets: {",
    "    get: query({ input: z.strictObject({ id: z.string() }), output: z.object({ id: z.string() }), capability: 'desk.read', resource: { type: 'ticket', id: 'id' } }),",
    "    close: mutation({ input: z.strictObject({ id: z.string() }), output: z.object({}), capability: 'desk.write', summary: 'Closes a */ ticket' }),",
    '  },',
    "  status: query({ input: z.strictObject({}), output: z.object({ up: z.boolean() }), requireAuth: false }),",
    "  me: query({ input: z.strictObject({}), output: z.object({ sub: z.string() }), anyPrincipal: true, audit: true }),",
  ].join('\n'),
);

async function deskProject(name: string): Promise<TempProject> {
  const p = await project(name);
  await p.write('contracts/desk.contract.ts', DESK);
  await p.write('contracts/billing/invoices.contract.ts', contractSource('invoices', 'invoices', readQuery('list', 'invoices.read')));
  return p;
}

const options = (p: TempProject) => ({ root: p.root, contractsDir: 'contracts', outDir: 'src/generated' });
const byName = (files: ReadonlyArray<{ name: string; content: string }>) => Object.fromEntries(files.map((f) => [f.name, f.content]));

describe('generate', () => {
  it('renders client.ts, handlers.ts, manifest.json and router.ts', async () => {
    const p = await deskProject('gen-files');
    expect((await generate(options(p))).map((file) => file.name)).toEqual(['client.ts', 'handlers.ts', 'manifest.json', 'router.ts']);
  });

  it('is deterministic: two runs give byte-identical files', async () => {
    const p = await deskProject('gen-twice');
    expect(await generate(options(p))).toEqual(await generate(options(p)));
  });

  it('starts every TypeScript file with the marker and a header naming the source contracts', async () => {
    const p = await deskProject('gen-header');
    const files = byName(await generate(options(p)));
    for (const name of ['client.ts', 'handlers.ts', 'router.ts']) {
      const lines = files[name]!.split('\n');
      expect(lines[0]).toBe(GENERATED_MARKER);
      expect(lines[0]).toContain(GENERATOR_VERSION);
      expect(lines.slice(2, 5)).toEqual([
        '// `covenant gen --check` fails when this file and the contracts disagree. Sources:',
        '//   contracts/desk.contract.ts',
        '//   contracts/billing/invoices.contract.ts',
      ]);
    }
  });

  it('writes a manifest whose procedures and hashes are the contract manifest, with generator and sources', async () => {
    const p = await deskProject('gen-manifest');
    const manifest = JSON.parse(byName(await generate(options(p)))['manifest.json']!) as GeneratedManifest;
    const loaded = await loadContracts({ dir: `${p.root}/contracts`, root: p.root });
    const expected = createManifest(loaded.contracts.map((c) => c.contract));

    expect(manifest.version).toBe(1);
    expect(manifest.generator).toEqual({ name: '@covenant/codegen', version: GENERATOR_VERSION });
    expect(manifest.sources).toEqual({ desk: 'contracts/desk.contract.ts', invoices: 'contracts/billing/invoices.contract.ts' });
    expect(manifest.procedures.map((procedure) => procedure.path)).toEqual([
      'desk.me',
      'desk.status',
      'desk.tickets.close',
      'desk.tickets.get',
      'invoices.list',
    ]);
    expect(manifest.procedures).toEqual(JSON.parse(JSON.stringify(expected.procedures)));
  });

  it('spells out each chain in the order the contract requires, sealed with its definition hash', async () => {
    const p = await deskProject('gen-router');
    const files = byName(await generate(options(p)));
    const manifest = JSON.parse(files['manifest.json']!) as GeneratedManifest;
    const hash = (path: string) => manifest.procedures.find((procedure) => procedure.path === path)!.definitionHash;
    const router = files['router.ts']!;

    expect(router).toContain("import { desk } from '../../contracts/desk.contract.ts';");
    expect(router).toContain(
      [
        '        get: procedure',
        `          .meta(covenant.seal('desk.tickets.get', 'desk', desk.tickets.get, '${hash('desk.tickets.get')}'))`,
        "          .use(step.requestContext('desk.tickets.get'))",
        '          .use(step.authenticate(desk.tickets.get))',
        '          .use(step.authorize(desk.tickets.get))',
        '          .use(step.refuseTenancyKeys())',
        "          .input(desk.tickets.get['~covenant'].input)",
        '          .use(step.authorizeAction(desk.tickets.get))',
        "          .output(desk.tickets.get['~covenant'].output)",
        '          .query(step.handle(desk.tickets.get, handlers.desk.tickets.get)),',
      ].join('\n'),
    );
    // Public: no authorize step (authorizeAction re-checks a presented principal only). Audited any-principal
    // query: an audit step and no authorize step.
    expect(router).toContain(
      [
        "        .use(step.requestContext('desk.status'))",
        '        .use(step.authenticate(desk.status))',
        '        .use(step.refuseTenancyKeys())',
        "        .input(desk.status['~covenant'].input)",
        '        .use(step.authorizeAction(desk.status))',
        "        .output(desk.status['~covenant'].output)",
      ].join('\n'),
    );
    expect(router).toContain(
      ["        .input(desk.me['~covenant'].input)", '        .use(step.authorizeAction(desk.me))', '        .use(step.audit(desk.me))', "        .output(desk.me['~covenant'].output)"].join('\n'),
    );
  });

  it('keeps server code out of the client and documents each handler with its policy', async () => {
    const p = await deskProject('gen-client');
    const files = byName(await generate(options(p)));
    expect(files['client.ts']).toContain("import type { desk } from '../../contracts/desk.contract.ts';");
    expect(files['client.ts']).not.toMatch(/^import \{ desk \}/m);
    expect(files['client.ts']).toContain("close: client.mutation<typeof desk.tickets.close>('desk.tickets.close'),");
    expect(files['handlers.ts']).toMatch(/^ {4}\/\*\* desk\.status: query · public\b.*\*\/$/m);
    expect(files['handlers.ts']).toContain('/** desk.tickets.get: query · requires desk.read on ticket */');
    expect(files['handlers.ts']).toContain('/** desk.me: query · any signed-in principal · audited */');
    // A summary cannot end the doc comment early.
    expect(files['handlers.ts']).toContain('/** desk.tickets.close: mutation · requires desk.write · audited · Closes a * / ticket */');
  });

  it('aliases a second contract exported under the same identifier', async () => {
    const p = await project('gen-alias');
    await p.write('contracts/a/api.contract.ts', contractSource('api', 'alpha', readQuery('get', 'alpha.read')));
    await p.write('contracts/b/api.contract.ts', contractSource('api', 'beta', readQuery('get', 'beta.read')));
    const router = byName(await generate(options(p)))['router.ts']!;
    expect(router).toContain("import { api } from '../../contracts/a/api.contract.ts';");
    expect(router).toContain("import { api as api$2 } from '../../contracts/b/api.contract.ts';");
    expect(router).toContain("covenant.seal('beta.get', 'beta', api$2.get,");
    expect(router).toContain('.query(step.handle(api$2.get, handlers.beta.get)),');
  });

  it('throws ContractLoadError naming each bad file, before rendering anything', async () => {
    const p = await deskProject('gen-error');
    await p.write('contracts/bad.contract.ts', "throw new Error('no config');\n");
    await p.write('contracts/empty.contract.ts', 'export const x = 1;\n');
    const error = await generate(options(p)).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ContractLoadError);
    const loadError = error as ContractLoadError;
    expect(loadError.code).toBe('ERR_CONTRACT_LOAD');
    expect(loadError.problems.map((problem) => problem.file)).toEqual(['contracts/bad.contract.ts', 'contracts/empty.contract.ts']);
    expect(loadError.message).toBe(
      'contracts could not be loaded:\n' +
        '  contracts/bad.contract.ts: cannot be imported: Error: no config\n' +
        '  contracts/empty.contract.ts: exports no contract: a *.contract.ts file exports at least one defineContract(...) value',
    );
  });
});

// Regression: the exported renderFiles must not depend on the order it is given the contracts in.
describe('renderFiles is a function of the contracts, not of their order', () => {
  it('renders byte-identical files from the same contracts in any order', async () => {
    const p = await createTempProject('render-order');
    try {
      await p.write('contracts/a.contract.ts', contractSource('alpha', 'alpha', "  ping: query({ input: z.strictObject({}), output: z.string(), anyPrincipal: true }),"));
      await p.write('contracts/b.contract.ts', contractSource('beta', 'beta', "  ping: query({ input: z.strictObject({}), output: z.string(), anyPrincipal: true }),"));
      const { contracts } = await loadContracts({ dir: `${p.root}/contracts`, root: p.root });
      const forward = renderFiles(contracts, `${p.root}/generated`);
      const backward = renderFiles([...contracts].reverse(), `${p.root}/generated`);
      expect(backward).toEqual(forward);
    } finally {
      await p.dispose();
    }
  });
});
