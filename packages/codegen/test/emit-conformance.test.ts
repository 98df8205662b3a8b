import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GENERATED_MARKER,
  generate,
  generateOutputs,
  loadContracts,
  renderConformance,
  type ConformanceOptions,
  type GeneratedManifest,
} from '../src/index.ts';
import { contractSource, createTempProject, type TempProject } from './temp-project.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

const DESK = contractSource(
  'desk',
  'desk',
  [
    '  tickets: {',
    "    get: query({ input: z.strictObject({ id: z.string() }), output: z.object({ id: z.string() }), capability: 'desk.read', resource: { type: 'ticket', id: 'id' }, errors: { GONE: { status: 404, message: 'No such ticket' }, BUSY: { status: 409, message: 'Busy' } } }),",
    "    close: mutation({ input: z.strictObject({ id: z.string() }), output: z.object({}), capability: 'desk.write' }),",
    '  },',
    "  status: query({ input: z.strictObject({}), output: z.object({ up: z.boolean() }), requireAuth: false }),",
    "  me: query({ input: z.strictObject({}), output: z.object({ sub: z.string() }), anyPrincipal: true, audit: true }),",
  ].join('\n'),
);

async function deskProject(name: string): Promise<TempProject> {
  const p = await createTempProject(name);
  projects.push(p);
  await p.write('contracts/desk.contract.ts', DESK);
  return p;
}

/** The definition hash of `path`, as `covenant gen` writes it into the manifest. */
async function hashOf(p: TempProject, path: string): Promise<string> {
  const files = await generate({ root: p.root, contractsDir: 'contracts', outDir: 'src/generated' });
  const manifest = JSON.parse(files.find((f) => f.name === 'manifest.json')!.content) as GeneratedManifest;
  return manifest.procedures.find((procedure) => procedure.path === path)!.definitionHash;
}

const OPTIONS: ConformanceOptions = {
  out: 'app/test/generated/conformance.test.ts',
  harness: 'app/test/harness.ts',
  sanctions: [],
  sanctionsFile: 'contracts/sanctions.json',
};

async function render(p: TempProject, options: Partial<ConformanceOptions> = {}) {
  const loaded = await loadContracts({ dir: join(p.root, 'contracts'), root: p.root });
  return renderConformance(loaded.contracts, p.root, { ...OPTIONS, ...options });
}

/** The lines of the `describe` block of `path`. */
function block(content: string, path: string): string[] {
  const lines = content.split('\n');
  const start = lines.indexOf(`describe('${path}', () => {`);
  expect(start, `a describe block for ${path}`).toBeGreaterThan(-1);
  return lines.slice(start, lines.indexOf('});', start) + 1);
}

describe('the conformance test file', () => {
  it('carries the generator header, imports the testkit runtime and the harness, and starts one suite', async () => {
    const file = await render(await deskProject('conf-header'));
    expect(file.name).toBe('conformance.test.ts');
    expect(file.content.split('\n').slice(0, 11)).toEqual([
      GENERATED_MARKER,
      "// Conformance tests: what each procedure's contract promises, checked against the app over HTTP (harness: app/test/harness.ts).",
      '// `covenant gen --check` fails when this file and the contracts disagree. Sources:',
      '//   contracts/desk.contract.ts',
      '',
      "import { describe } from 'vitest';",
      "import { conformanceSuite } from '@covenant/testkit/conformance';",
      "import { createConformanceHarness } from '../harness.ts';",
      '',
      'const suite = conformanceSuite(createConformanceHarness);',
      '',
    ]);
  });

  it.each([
    ['beside the test file', 'app/test/generated/harness.ts', './harness.ts'],
    ['in another tree', 'support/conformance/harness.ts', '../../../support/conformance/harness.ts'],
  ])('imports a harness %s by its path relative to the test file', async (_where, harness, specifier) => {
    const file = await render(await deskProject('conf-import'), { harness });
    expect(file.content).toContain(`import { createConformanceHarness } from '${specifier}';\n`);
  });

  it('has one describe per procedure, in path order', async () => {
    const file = await render(await deskProject('conf-order'));
    const described = file.content.split('\n').filter((line) => line.startsWith('describe('));
    expect(described).toEqual([
      "describe('desk.me', () => {",
      "describe('desk.status', () => {",
      "describe('desk.tickets.close', () => {",
      "describe('desk.tickets.get', () => {",
    ]);
  });

  it('spells out a resource-scoped procedure: its metadata, its 404 codes only, and all four checks', async () => {
    const file = await render(await deskProject('conf-resource'));
    expect(block(file.content, 'desk.tickets.get')).toEqual([
      "describe('desk.tickets.get', () => {",
      '  // query · requires desk.read on ticket (input.id) · not audited',
      '  const procedure = suite.procedure({',
      "    path: 'desk.tickets.get',",
      "    kind: 'query',",
      '    requireAuth: true,',
      "    capability: 'desk.read',",
      '    anyPrincipal: false,',
      "    resource: { type: 'ticket', id: 'id' },",
      '    audit: false,',
      "    notFound: ['GONE'],",
      '  });',
      '  // No token, or a token that does not verify: 401, and nothing on the ledger.',
      '  procedure.refusesAnonymous();',
      '  // A holder of desk.read in the home tenant is served; no intent is written (not audited).',
      '  procedure.servesAllowed();',
      '  // Every capability but desk.read, in the home tenant: 403 ERR_AUTHZ_DENIED, a denial entry, no intent.',
      '  procedure.refusesLackingCapability();',
      "  // Another org's holder of desk.read: served its own ticket; the home tenant's is 404 GONE (or 403).",
      '  procedure.isolatesTenants();',
      '});',
    ]);
  });

  it('checks an audited mutation without a resource for its ledger entries and for leaks', async () => {
    const lines = block((await render(await deskProject('conf-mutation'))).content, 'desk.tickets.close');
    expect(lines).toContain('  // mutation · requires desk.write · audited');
    expect(lines).toContain('  // A holder of desk.write in the home tenant is served; the ledger has its intent and exactly one ok outcome with the same request id.');
    expect(lines).toContain(
      "  // Another org's holder of desk.write: answered from its own tenant only (or 403 ERR_AUTHZ_DENIED), never with the home tenant's data.",
    );
    expect(lines.filter((line) => line.startsWith('  procedure.'))).toEqual([
      '  procedure.refusesAnonymous();',
      '  procedure.servesAllowed();',
      '  procedure.refusesLackingCapability();',
      '  procedure.isolatesTenants();',
    ]);
  });

  it('checks an any-principal procedure for authentication only: there is no capability to lack or tenant data to isolate', async () => {
    const lines = block((await render(await deskProject('conf-any'))).content, 'desk.me');
    expect(lines).toContain('  // query · any signed-in principal · audited');
    expect(lines.filter((line) => line.startsWith('  procedure.'))).toEqual(['  procedure.refusesAnonymous();', '  procedure.servesAllowed();']);
  });

  it('serves a public procedure anonymously only when a sanction matches its definition hash', async () => {
    const p = await deskProject('conf-sanction');
    const hash = await hashOf(p, 'desk.status');
    const sanctioned = block((await render(p, { sanctions: [{ procedure: 'desk.status', definitionHash: hash }] })).content, 'desk.status');
    expect(sanctioned).toContain('  // query · public, sanctioned in contracts/sanctions.json · not audited');
    expect(sanctioned.filter((line) => line.startsWith('  procedure.'))).toEqual(['  procedure.servesAnonymous();']);

    // A sanction for another definition (the procedure changed since the review) does not apply.
    const stale = `sha256:${'0'.repeat(64)}`;
    for (const sanctions of [[], [{ procedure: 'desk.status', definitionHash: stale }], [{ procedure: 'desk.me', definitionHash: hash }]]) {
      const lines = block((await render(p, { sanctions })).content, 'desk.status');
      expect(lines[1]).toBe(
        '  // query · public WITHOUT a matching sanction in contracts/sanctions.json: expected to refuse callers without a token until one is reviewed · not audited',
      );
      expect(lines.filter((line) => line.startsWith('  procedure.'))).toEqual(['  procedure.refusesAnonymous();']);
    }
  });

  it('is deterministic', async () => {
    const p = await deskProject('conf-twice');
    expect(await render(p)).toEqual(await render(p));
  });
});

describe('generateOutputs', () => {
  const base = (p: TempProject) => ({ root: p.root, contractsDir: 'contracts', outDir: 'src/generated' });

  it('without conformance options: exactly what generate renders, in the output folder', async () => {
    const p = await deskProject('outputs-plain');
    expect(await generateOutputs(base(p))).toEqual([{ dir: join(p.root, 'src/generated'), files: await generate(base(p)) }]);
  });

  it('with them: the conformance file in its own folder, the four files unchanged', async () => {
    const p = await deskProject('outputs-conformance');
    const outputs = await generateOutputs({ ...base(p), conformance: OPTIONS });
    expect(outputs.map((output) => [output.dir, output.files.map((f) => f.name)])).toEqual([
      [join(p.root, 'src/generated'), ['client.ts', 'handlers.ts', 'manifest.json', 'router.ts']],
      [join(p.root, 'app/test/generated'), ['conformance.test.ts']],
    ]);
    expect(outputs[0]!.files).toEqual(await generate(base(p)));
    expect(outputs[1]!.files[0]).toEqual(await render(p));
  });

  it('in the output folder itself: one folder of five files, so neither list calls the other stale', async () => {
    const p = await deskProject('outputs-same');
    const outputs = await generateOutputs({ ...base(p), conformance: { ...OPTIONS, out: 'src/generated/conformance.test.ts' } });
    expect(outputs.map((output) => [output.dir, output.files.map((f) => f.name)])).toEqual([
      [join(p.root, 'src/generated'), ['client.ts', 'conformance.test.ts', 'handlers.ts', 'manifest.json', 'router.ts']],
    ]);
  });

  it('refuses a conformance file that would replace one of the four', async () => {
    const p = await deskProject('outputs-clash');
    await expect(generateOutputs({ ...base(p), conformance: { ...OPTIONS, out: 'src/generated/router.ts' } })).rejects.toThrow(
      'the conformance test file cannot be named router.ts: generate writes that file in src/generated',
    );
  });
});

describe("the repository's own conformance file", () => {
  it('matches what the contracts, the sanctions and package.json\'s covenant.conformance generate now', async () => {
    const config = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      covenant: { contracts: string; out: string; sanctions: string; conformance: { out: string; harness: string } };
    };
    const { sanctions } = JSON.parse(await readFile(join(REPO, config.covenant.sanctions), 'utf8')) as {
      sanctions: Array<{ procedure: string; definitionHash: string }>;
    };
    const outputs = await generateOutputs({
      root: REPO,
      contractsDir: config.covenant.contracts,
      outDir: config.covenant.out,
      conformance: { ...config.covenant.conformance, sanctions, sanctionsFile: config.covenant.sanctions },
    });
    const file = outputs[1]!.files[0]!;
    // Every sanctioned public procedure of the repository is served anonymously; nothing else is.
    expect(file.content.match(/servesAnonymous\(\)/g)).toHaveLength(sanctions.length);
    await expect(file.content).toMatchFileSnapshot(join(REPO, config.covenant.conformance.out));
  });
});
