import { afterEach, describe, expect, it } from 'vitest';
import type { Violation } from '../src/index.ts';
import { contractSource, createTempProject, lineOf, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

/** Lints one contract file and returns its violations. */
async function lintContract(name: string, source: string): Promise<ReadonlyArray<Violation>> {
  const p = await createTempProject(name);
  projects.push(p);
  await p.write('contracts/shop.contract.ts', source);
  return (await p.lint()).violations;
}

const OUT = 'z.object({ ok: z.boolean() })';
const TENANCY = 'is a tenancy key: the tenant comes from the verified session, never from the input';
const NON_STRICT =
  'input objects must refuse unknown keys: use z.strictObject() (or say what extra keys may hold with .catchall())';

describe('definition rules', () => {
  it('capability-required: an authenticated procedure with neither capability nor anyPrincipal', async () => {
    const source = contractSource('shop', 'shop', `  browse: query({ input: z.strictObject({}), output: ${OUT} }),`);
    expect(await lintContract('capability', source)).toEqual([
      {
        rule: 'capability-required',
        message: 'shop.browse: an authenticated procedure must name the capability it needs, or declare anyPrincipal: true',
        file: 'contracts/shop.contract.ts',
        line: lineOf(source, 'browse: query('),
        procedure: 'shop.browse',
      },
    ]);
  });

  it('tenancy-key-in-input: a tenancy key nested in an object', async () => {
    const source = contractSource(
      'shop',
      'shop',
      `  order: mutation({ input: z.strictObject({ customer: z.strictObject({ orgId: z.string() }) }), output: ${OUT}, capability: 'shop.write' }),`,
    );
    expect(await lintContract('tenancy-nested', source)).toEqual([
      {
        rule: 'tenancy-key-in-input',
        message: `shop.order (input.customer.orgId): "orgId" ${TENANCY}`,
        file: 'contracts/shop.contract.ts',
        line: lineOf(source, 'order: mutation('),
        procedure: 'shop.order',
      },
    ]);
  });

  it('tenancy-key-in-input: a tenancy key in the items of an array, in any spelling', async () => {
    const source = contractSource(
      'shop',
      'shop',
      `  bulk: mutation({ input: z.strictObject({ lines: z.array(z.strictObject({ sku: z.string(), TENANT_ID: z.string() })) }), output: ${OUT}, capability: 'shop.write' }),`,
    );
    expect((await lintContract('tenancy-array', source)).map((v) => [v.rule, v.message])).toEqual([
      ['tenancy-key-in-input', `shop.bulk (input.lines.*.TENANT_ID): "TENANT_ID" ${TENANCY}`],
    ]);
  });

  it('non-strict-input: an input object that would drop unknown keys instead of refusing them', async () => {
    const source = contractSource(
      'shop',
      'shop',
      `  search: query({ input: z.strictObject({ filter: z.object({ text: z.string() }) }), output: ${OUT}, capability: 'shop.read' }),`,
    );
    expect(await lintContract('non-strict', source)).toEqual([
      {
        rule: 'non-strict-input',
        message: `shop.search (input.filter): ${NON_STRICT}`,
        file: 'contracts/shop.contract.ts',
        line: lineOf(source, 'search: query('),
        procedure: 'shop.search',
      },
    ]);
  });

  it.each([['shop.*'], ['shop'], ['Shop.read'], ['shop..read'], ['shöp.read']])(
    'invalid-capability: refuses %j',
    async (capability) => {
      const source = contractSource('shop', 'shop', `  browse: query({ input: z.strictObject({}), output: ${OUT}, capability: ${JSON.stringify(capability)} }),`);
      expect((await lintContract('capability-name', source)).map((v) => [v.rule, v.procedure, v.message])).toEqual([
        ['invalid-capability', 'shop.browse', expect.stringMatching(/^shop\.browse \(capability\): a capability is dot-separated/)],
      ]);
    },
  );

  it('reports every violation of a contract, each with its own rule, procedure and line', async () => {
    const source = contractSource(
      'shop',
      'shop',
      [
        `  browse: query({ input: z.strictObject({}), output: ${OUT} }),`,
        `  order: mutation({ input: z.strictObject({ workspaceId: z.string() }), output: ${OUT}, capability: 'shop.write' }),`,
        `  search: query({ input: z.object({ text: z.string() }), output: ${OUT}, capability: 'shop.read' }),`,
        `  admin: {`,
        `    purge: mutation({ input: z.strictObject({}), output: ${OUT}, capability: 'shop.*' }),`,
        `  },`,
        `  leak: query({ input: z.strictObject({}), output: ${OUT}, requireAuth: false, capability: 'shop.read' }),`,
      ].join('\n'),
    );
    const violations = await lintContract('several', source);
    expect(violations.map((v) => [v.line, v.rule, v.procedure])).toEqual([
      [lineOf(source, 'browse: query('), 'capability-required', 'shop.browse'],
      [lineOf(source, 'order: mutation('), 'tenancy-key-in-input', 'shop.order'],
      [lineOf(source, 'search: query('), 'non-strict-input', 'shop.search'],
      [lineOf(source, 'purge: mutation('), 'invalid-capability', 'shop.admin.purge'],
      [lineOf(source, 'leak: query('), 'conflicting-security', 'shop.leak'],
    ]);
    expect(violations.every((v) => v.file === 'contracts/shop.contract.ts')).toBe(true);
    expect(violations[1]!.message).toBe(`shop.order (input.workspaceId): "workspaceId" ${TENANCY}`);
    expect(violations[2]!.message).toBe(`shop.search (input): ${NON_STRICT}`);
  });

  it('reports a file that cannot be loaded as contract-load, and skips nothing else', async () => {
    const p = await createTempProject('load');
    projects.push(p);
    await p.write('contracts/broken.contract.ts', "throw new Error('misconfigured');\n");
    await p.write('contracts/shop.contract.ts', contractSource('shop', 'shop', `  browse: query({ input: z.strictObject({}), output: ${OUT} }),`));
    const report = await p.lint();
    expect(report.violations.map((v) => [v.rule, v.file, v.message])).toEqual([
      ['contract-load', 'contracts/broken.contract.ts', 'cannot be imported: Error: misconfigured'],
      ['capability-required', 'contracts/shop.contract.ts', expect.any(String)],
    ]);
  });
});
