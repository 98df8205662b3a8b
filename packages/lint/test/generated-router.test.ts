import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectGeneratedRouter } from '../src/index.ts';
import { contractSource, createTempProject, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

const ORDERS = contractSource(
  'orders',
  'orders',
  [
    "  list: query({ input: z.strictObject({ limit: z.number().int() }), output: z.object({ ids: z.array(z.string()) }), capability: 'orders.read' }),",
    "  place: mutation({ input: z.strictObject({ sku: z.string() }), output: z.object({ id: z.string() }), capability: 'orders.write' }),",
  ].join('\n'),
);

/** A project whose contracts were generated into `generated/`. */
async function generated(name: string): Promise<TempProject> {
  const p = await createTempProject(name);
  projects.push(p);
  await p.write('contracts/orders.contract.ts', ORDERS);
  await p.gen('generated');
  return p;
}

const PLACE_HANDLE = '.mutation(step.handle(orders.place, handlers.orders.place)),';

describe('inspectGeneratedRouter and the router rules of lintProject', () => {
  it('finds nothing wrong with the unedited generated router', async () => {
    const p = await generated('router-clean');
    expect(await inspectGeneratedRouter(join(p.root, 'generated'))).toEqual([]);
    expect(await p.lint('generated')).toEqual({ violations: [], procedures: 2 });
  });

  it('returns null for a folder without a router', async () => {
    const p = await generated('router-none');
    expect(await inspectGeneratedRouter(join(p.root, 'contracts'))).toBeNull();
    expect(await p.lint('contracts')).toEqual({ violations: [], procedures: 2 });
  });

  it('handwritten-meta: a .meta() appended to a generated chain', async () => {
    const p = await generated('router-meta');
    await p.tamper('generated', 'tampered', (router) =>
      router.replace(PLACE_HANDLE, `.meta({ requireAuth: false } as never)\n        ${PLACE_HANDLE}`),
    );
    expect((await p.lint('tampered')).violations).toEqual([
      expect.objectContaining({
        rule: 'handwritten-meta',
        message: 'orders.place: its meta is not the one the generator set: a hand-written .meta() replaced it',
        file: 'tampered/router.ts',
        procedure: 'orders.place',
      }),
    ]);
  });

  it('pipeline-modified: a step removed from a chain', async () => {
    const p = await generated('router-removed');
    await p.tamper('generated', 'tampered', (router) =>
      router
        .split('\n')
        .filter((line) => !line.includes('.use(step.authorize(orders.list))'))
        .join('\n'),
    );
    expect((await p.lint('tampered')).violations).toEqual([
      expect.objectContaining({
        rule: 'pipeline-modified',
        message:
          'orders.list: its chain is [requestContext, authenticate, refuseTenancyKeys, input, authorizeAction, output, handle], ' +
          'the contract requires [requestContext, authenticate, authorize, refuseTenancyKeys, input, authorizeAction, output, handle]',
        file: 'tampered/router.ts',
        procedure: 'orders.list',
      }),
    ]);
  });

  it('pipeline-modified: two steps swapped', async () => {
    const p = await generated('router-swapped');
    await p.tamper('generated', 'tampered', (router) =>
      router.replace(
        '.use(step.authenticate(orders.place))\n        .use(step.authorize(orders.place))',
        '.use(step.authorize(orders.place))\n        .use(step.authenticate(orders.place))',
      ),
    );
    expect((await p.lint('tampered')).violations.map((v) => [v.rule, v.procedure])).toEqual([['pipeline-modified', 'orders.place']]);
  });

  it('pipeline-modified: a hand-written middleware added to a chain', async () => {
    const p = await generated('router-middleware');
    await p.tamper('generated', 'tampered', (router) =>
      router.replace(PLACE_HANDLE, `.use(function skipChecks({ next }) { return next(); })\n        ${PLACE_HANDLE}`),
    );
    const [violation, ...rest] = (await p.lint('tampered')).violations;
    expect(rest).toEqual([]);
    expect(violation).toMatchObject({ rule: 'pipeline-modified', procedure: 'orders.place' });
    expect(violation!.message).toContain('unknown middleware "skipChecks"');
  });

  it('procedure-not-generated: a procedure built by hand next to the generated ones', async () => {
    const p = await generated('router-extra');
    await p.tamper('generated', 'tampered', (router) =>
      router.replace('  return covenant.router({\n', "  return covenant.router({\n    backdoor: procedure.query(() => 'open'),\n"),
    );
    expect((await p.lint('tampered')).violations).toEqual([
      expect.objectContaining({
        rule: 'procedure-not-generated',
        message: 'backdoor: not built by covenant gen: it would bypass the security pipeline',
        file: 'tampered/router.ts',
        procedure: 'backdoor',
      }),
    ]);
  });

  it('procedure-not-generated: a router.ts that does not export createRouter', async () => {
    const p = await generated('router-no-factory');
    await p.write('other/router.ts', 'export const nothing = 1;\n');
    expect((await p.lint('other')).violations).toEqual([
      expect.objectContaining({ rule: 'procedure-not-generated', message: '(router.ts): router.ts does not export createRouter' }),
    ]);
  });

  it('generated-drift: the contract changed after the router was generated', async () => {
    const p = await generated('router-drift');
    await p.write('contracts/orders.contract.ts', ORDERS.replace('z.number().int()', 'z.number().int().max(100)'));
    expect((await p.lint('generated')).violations).toEqual([
      expect.objectContaining({
        rule: 'generated-drift',
        message: 'orders.list: the contract changed after the code was generated: run covenant gen',
        file: 'generated/router.ts',
        procedure: 'orders.list',
      }),
    ]);
  });

  it('does not build the router while contracts fail to load', async () => {
    const p = await generated('router-broken');
    await p.write('generated/router.ts', "throw new Error('the router must not be imported');\n");
    await p.write('contracts/broken.contract.ts', "throw new Error('misconfigured');\n");
    expect((await p.lint('generated')).violations.map((v) => v.rule)).toEqual(['contract-load']);
  });
});

// Regressions for defects found while writing these tests.
describe('router findings point at the procedure and see edits', () => {
  it('gives a router finding the line of the tampered procedure’s seal (the generator writes single quotes)', async () => {
    const p = await generated('router-line');
    await p.tamper('generated', 'tampered', (router) =>
      router.replace(PLACE_HANDLE, `.meta({ requireAuth: false } as never)\n        ${PLACE_HANDLE}`),
    );
    const router = await p.read('tampered/router.ts');
    const [violation] = (await p.lint('tampered')).violations;
    expect(violation?.line).toBe(router.split('\n').findIndex((line) => line.includes("seal('orders.place'")) + 1);
  });

  it('sees an edit to router.ts made after an earlier lint in the same process', async () => {
    const p = await generated('router-reedit');
    expect((await p.lint('generated')).violations).toEqual([]);
    const router = await p.read('generated/router.ts');
    await p.write('generated/router.ts', router.replace(PLACE_HANDLE, `.meta({ requireAuth: false } as never)\n        ${PLACE_HANDLE}`));
    expect((await p.lint('generated')).violations.map((v) => v.rule)).toEqual(['handwritten-meta']);
  });
});
