import { afterEach, describe, expect, it } from 'vitest';
import { loadContracts } from '../src/index.ts';
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

const load = (p: TempProject) => loadContracts({ dir: `${p.root}/contracts`, root: p.root });

describe('loadContracts', () => {
  it('finds *.contract.ts at any depth, skips dot-folders, node_modules and other files, and sorts by contract name', async () => {
    const p = await project('load-find');
    await p.write('contracts/a.contract.ts', contractSource('zeta', 'zeta', readQuery('get', 'zeta.read')));
    await p.write('contracts/nested/deep/b.contract.ts', contractSource('alpha', 'alpha', readQuery('get', 'alpha.read')));
    await p.write('contracts/.hidden/c.contract.ts', 'throw new Error("a dot-folder must not be imported");\n');
    await p.write('contracts/node_modules/d.contract.ts', 'throw new Error("node_modules must not be imported");\n');
    await p.write('contracts/helpers.ts', 'throw new Error("only *.contract.ts files are contracts");\n');

    const result = await load(p);
    expect(result.problems).toEqual([]);
    expect(result.contracts.map((c) => [c.contract['~covenant'].name, c.file, c.exportName])).toEqual([
      ['alpha', 'contracts/nested/deep/b.contract.ts', 'alpha'],
      ['zeta', 'contracts/a.contract.ts', 'zeta'],
    ]);
    expect(result.contracts[0]!.absoluteFile).toBe(`${p.root}/contracts/nested/deep/b.contract.ts`);
  });

  it('returns every contract a file exports, and ignores its other exports', async () => {
    const p = await project('load-two');
    await p.write(
      'contracts/pair.contract.ts',
      [
        contractSource('billing', 'billing', readQuery('total', 'billing.read')),
        "export const shipping = defineContract('shipping', {",
        readQuery('quote', 'shipping.read'),
        '});',
        'export const CURRENCY = "EUR";',
        '',
      ].join('\n'),
    );
    const result = await load(p);
    expect(result.problems).toEqual([]);
    expect(result.contracts.map((c) => c.exportName)).toEqual(['billing', 'shipping']);
  });

  it('re-imports a contract file that changed since it was last loaded in this process', async () => {
    const p = await project('load-edit');
    await p.write('contracts/desk.contract.ts', contractSource('desk', 'desk', readQuery('get', 'desk.read')));
    const first = await load(p);
    await p.write('contracts/desk.contract.ts', contractSource('desk', 'desk', readQuery('get', 'desk.view')));
    const second = await load(p);
    expect(first.contracts[0]!.contract['~covenant'].procedures[0]!.procedure['~covenant'].security.capability).toBe('desk.read');
    expect(second.contracts[0]!.contract['~covenant'].procedures[0]!.procedure['~covenant'].security.capability).toBe('desk.view');
  });

  it('reports a syntax error as import_failed, naming the file, with the path made relative', async () => {
    const p = await project('load-syntax');
    await p.write('contracts/broken.contract.ts', "import { defineContract } from '@covenant/contract';\nexport const x = defineContract('x', {\n");
    const { contracts, problems } = await load(p);
    expect(contracts).toEqual([]);
    expect(problems).toEqual([
      { code: 'import_failed', file: 'contracts/broken.contract.ts', message: expect.stringMatching(/^cannot be imported: \w+: /) },
    ]);
    expect(problems[0]!.message).not.toContain(`${p.root}/`);
  });

  it('reports a module that throws at import as import_failed with its error', async () => {
    const p = await project('load-throws');
    await p.write('contracts/boom.contract.ts', "throw new RangeError('tariffs not configured');\nexport {};\n");
    expect((await load(p)).problems).toEqual([
      { code: 'import_failed', file: 'contracts/boom.contract.ts', message: 'cannot be imported: RangeError: tariffs not configured' },
    ]);
  });

  it('reports a file without a contract as not_a_contract', async () => {
    const p = await project('load-empty');
    await p.write('contracts/types.contract.ts', "import * as z from 'zod';\nexport const Money = z.number();\n");
    expect((await load(p)).problems).toEqual([
      {
        code: 'not_a_contract',
        file: 'contracts/types.contract.ts',
        message: 'exports no contract: a *.contract.ts file exports at least one defineContract(...) value',
      },
    ]);
  });

  it('reports a definition error as invalid_definition, with every issue as data', async () => {
    const p = await project('load-definition');
    await p.write(
      'contracts/tenant.contract.ts',
      contractSource(
        'tenant',
        'tenant',
        [
          readQuery('usage', 'tenant.read', 'z.strictObject({ customer: z.strictObject({ orgId: z.string() }) })'),
          "  open: query({ input: z.strictObject({}), output: z.object({}) }),",
        ].join('\n'),
      ),
    );
    const { problems } = await load(p);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: 'invalid_definition', file: 'contracts/tenant.contract.ts' });
    expect(problems[0]!.message).toMatch(/^contract "tenant" is invalid:\n/);
    expect(problems[0]!.issues).toEqual([
      {
        code: 'tenancy_key_in_input',
        procedure: 'tenant.usage',
        at: 'input.customer.orgId',
        message: '"orgId" is a tenancy key: the tenant comes from the verified session, never from the input',
      },
      {
        code: 'capability_required',
        procedure: 'tenant.open',
        at: '',
        message: 'an authenticated procedure must name the capability it needs, or declare anyPrincipal: true',
      },
    ]);
  });

  it('reports two contracts with the same name as a duplicate, on the second file', async () => {
    const p = await project('load-duplicate');
    await p.write('contracts/a.contract.ts', contractSource('orders', 'orders', readQuery('list', 'orders.read')));
    await p.write('contracts/b.contract.ts', contractSource('ordersAgain', 'orders', readQuery('count', 'orders.read')));
    expect((await load(p)).problems).toEqual([
      { code: 'duplicate', file: 'contracts/b.contract.ts', message: 'contract "orders" is also defined in contracts/a.contract.ts (export orders)' },
    ]);
  });

  it('reports a procedure path that is also a group, naming both files', async () => {
    const p = await project('load-group');
    await p.write('contracts/a.contract.ts', contractSource('orders', 'orders', readQuery('refunds', 'orders.read')));
    await p.write('contracts/b.contract.ts', contractSource('refunds', 'orders.refunds', readQuery('list', 'orders.read')));
    expect((await load(p)).problems).toEqual([
      {
        code: 'duplicate',
        file: 'contracts/a.contract.ts',
        message:
          '"orders.refunds" is a procedure and also the group of "orders.refunds.list": orders.refunds (in contracts/a.contract.ts, contracts/b.contract.ts)',
      },
    ]);
  });

  it('tries every file and reports all problems of one run', async () => {
    const p = await project('load-all');
    await p.write('contracts/a.contract.ts', "throw new Error('first');\n");
    await p.write('contracts/b.contract.ts', contractSource('fine', 'fine', readQuery('get', 'fine.read')));
    await p.write('contracts/c.contract.ts', 'export const nothing = 1;\n');
    const { contracts, problems } = await load(p);
    expect(contracts.map((c) => c.exportName)).toEqual(['fine']);
    expect(problems.map((problem) => [problem.code, problem.file])).toEqual([
      ['import_failed', 'contracts/a.contract.ts'],
      ['not_a_contract', 'contracts/c.contract.ts'],
    ]);
  });
});

// Regressions for defects found while writing these tests.
describe('loadContracts reads each contract once, however it is exported', () => {
  it('counts a contract exported under two names once, under the first name in sorted order', async () => {
    const p = await project('alias');
    await p.write(
      'contracts/desk.contract.ts',
      `${contractSource('desk', 'desk', "  ping: query({ input: z.strictObject({}), output: z.string(), anyPrincipal: true }),")}export const helpdesk = desk;\n`,
    );
    const result = await load(p);
    expect(result.problems).toEqual([]);
    expect(result.contracts.map((c) => c.exportName)).toEqual(['desk']);
  });
});
