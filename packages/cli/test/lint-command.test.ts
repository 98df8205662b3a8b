import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempProject, type TempProject } from './temp-project.ts';

interface JsonReport {
  readonly procedures: number;
  readonly violations: ReadonlyArray<{
    readonly rule: string;
    readonly message: string;
    readonly file: string | null;
    readonly line: number | null;
    readonly procedure: string | null;
  }>;
}

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  return created;
}

const LINT = ['lint', '--contracts', 'contracts', '--sanctions', 'sanctions.json'] as const;

function parseJson(stdout: string): JsonReport {
  return JSON.parse(stdout) as JsonReport;
}

function lineOf(source: string, needle: string): number {
  const index = source.split('\n').findIndex((line) => line.includes(needle));
  if (index === -1) throw new Error(`fixture has no line with ${needle}`);
  return index + 1;
}

function hashIn(message: string): string {
  const match = /"definitionHash": "(sha256:[0-9a-f]{64})"/.exec(message);
  if (match === null) throw new Error(`no definition hash in: ${message}`);
  return match[1]!;
}

function sanctionsFile(procedure: string, definitionHash: string): string {
  const sanction = { procedure, definitionHash, reason: 'Probed by the uptime monitor without credentials.', owner: 'ops-team' };
  return `${JSON.stringify({ sanctions: [sanction] }, null, 2)}\n`;
}

/**
 * Four ways to write `requireAuth: false` that a source-text lint would miss. The lint imports the module
 * and reads the resolved value, so each must be caught exactly like the literal.
 */
const HIDDEN_PUBLIC = [
  {
    how: 'a spread of a shared options object',
    prelude: 'const unauthenticated = { requireAuth: false } as const;',
    options: '...unauthenticated',
    cast: '',
  },
  {
    how: 'an object returned by a helper function',
    prelude: 'function openToAll() {\n  return { requireAuth: false as const };\n}',
    options: '...openToAll()',
    cast: '',
  },
  { how: 'a variable', prelude: 'const authRequired = false;', options: 'requireAuth: authRequired', cast: '' },
  { how: 'a computed key', prelude: '', options: "['require' + 'Auth']: false", cast: ' as never' },
] as const;

function statusContract(variant: (typeof HIDDEN_PUBLIC)[number], input = 'z.strictObject({})'): string {
  return [
    "import { defineContract, query } from '@covenant/contract';",
    "import * as z from 'zod';",
    '',
    variant.prelude,
    '',
    "export const status = defineContract('status', {",
    `  ping: query({ input: ${input}, output: z.object({ ok: z.boolean() }), ${variant.options} }${variant.cast}),`,
    "  report: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'status.read' }),",
    '});',
    '',
  ].join('\n');
}

describe('covenant lint: a public procedure needs a sanction bound to its definition hash', () => {
  for (const variant of HIDDEN_PUBLIC) {
    it(`catches requireAuth: false hidden in ${variant.how}, passes once sanctioned, fails again when the procedure changes`, async () => {
      const p = await project('hidden-public');
      const source = statusContract(variant);
      await p.write('contracts/status.contract.ts', source);

      const text = await p.run(...LINT);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(
        `contracts/status.contract.ts:${lineOf(source, 'ping: query(')}  public-requires-sanction  status.ping is public (requireAuth: false) without a sanction.`,
      );

      const json = await p.run(...LINT, '--format', 'json');
      expect(json.code).toBe(1);
      const report = parseJson(json.stdout);
      expect(report.procedures).toBe(2);
      expect(report.violations).toEqual([
        {
          rule: 'public-requires-sanction',
          message: expect.stringContaining('status.ping is public (requireAuth: false) without a sanction'),
          file: 'contracts/status.contract.ts',
          line: lineOf(source, 'ping: query('),
          procedure: 'status.ping',
        },
      ]);

      const reviewed = hashIn(report.violations[0]!.message);
      await p.write('sanctions.json', sanctionsFile('status.ping', reviewed));
      const sanctioned = await p.run(...LINT);
      expect(sanctioned).toEqual({ code: 0, stdout: 'covenant lint: 2 procedures, no violations\n', stderr: '' });

      await p.write('contracts/status.contract.ts', statusContract(variant, 'z.strictObject({ verbose: z.boolean().optional() })'));
      const changed = await p.run(...LINT, '--format', 'json');
      expect(changed.code).toBe(1);
      const after = parseJson(changed.stdout);
      expect(after.violations).toHaveLength(1);
      expect(after.violations[0]).toMatchObject({
        rule: 'public-requires-sanction',
        file: 'contracts/status.contract.ts',
        procedure: 'status.ping',
      });
      expect(after.violations[0]!.message).toMatch(
        new RegExp(`^status\\.ping changed after its sanction was reviewed \\(sanctioned ${reviewed}, now sha256:[0-9a-f]{64}\\)`),
      );
      expect(after.violations[0]!.message).not.toContain(`now ${reviewed}`);
    });
  }

  it('works the same through the real binary (node bin/covenant.mjs lint)', async () => {
    const p = await project('hidden-public-bin');
    await p.write('contracts/status.contract.ts', statusContract(HIDDEN_PUBLIC[0]));

    const unsanctioned = await p.spawn(...LINT, '--format', 'json');
    expect(unsanctioned.code).toBe(1);
    const report = parseJson(unsanctioned.stdout);
    expect(report.violations.map((v) => [v.rule, v.procedure, v.file])).toEqual([
      ['public-requires-sanction', 'status.ping', 'contracts/status.contract.ts'],
    ]);

    // The binary and the in-process run compute the same hash: the sanction written from one holds for the other.
    await p.write('sanctions.json', sanctionsFile('status.ping', hashIn(report.violations[0]!.message)));
    expect(await p.spawn(...LINT)).toMatchObject({ code: 0, stdout: 'covenant lint: 2 procedures, no violations\n' });
    expect(await p.run(...LINT)).toMatchObject({ code: 0 });
  });
});

const ORDERS_CONTRACT = `import { defineContract, mutation, query } from '@covenant/contract';
import * as z from 'zod';

export const orders = defineContract('orders', {
  list: query({
    input: z.strictObject({ limit: z.number().int().min(1).max(50) }),
    output: z.object({ ids: z.array(z.string()) }),
    capability: 'orders.read',
  }),
  place: mutation({
    input: z.strictObject({ sku: z.string() }),
    output: z.object({ id: z.string() }),
    capability: 'orders.write',
  }),
});
`;

describe('covenant lint --generated: the generated router is inspected as the server would build it', () => {
  async function generatedProject(name: string): Promise<TempProject> {
    const p = await project(name);
    await p.write('contracts/orders.contract.ts', ORDERS_CONTRACT);
    expect(await p.run('gen', '--out', 'generated')).toMatchObject({ code: 0 });
    return p;
  }

  /**
   * Each tampered router goes to a folder of its own: a module is imported once per path and process,
   * so reusing the path in-process would inspect the first version again.
   */
  async function tamper(p: TempProject, folder: string, edit: (router: string) => string): Promise<void> {
    await cp(join(p.root, 'generated'), join(p.root, folder), { recursive: true });
    const file = join(p.root, folder, 'router.ts');
    const before = await readFile(file, 'utf8');
    const after = edit(before);
    expect(after, 'the edit must change the router').not.toBe(before);
    await writeFile(file, after);
  }

  it('reports no violations for the unedited generated router', async () => {
    const p = await generatedProject('router-clean');
    expect(await p.run(...LINT, '--generated', 'generated')).toEqual({
      code: 0,
      stdout: 'covenant lint: 2 procedures, no violations\n',
      stderr: '',
    });
  });

  it('fails with handwritten-meta when .meta() is appended to a generated procedure chain', async () => {
    const p = await generatedProject('router-meta');
    await tamper(p, 'tampered', (router) =>
      router.replace(
        '.query(step.handle(orders.list, handlers.orders.list)),',
        '.meta({ requireAuth: false } as never)\n        .query(step.handle(orders.list, handlers.orders.list)),',
      ),
    );
    const result = await p.run(...LINT, '--generated', 'tampered', '--format', 'json');
    expect(result.code).toBe(1);
    expect(parseJson(result.stdout).violations).toEqual([
      expect.objectContaining({
        rule: 'handwritten-meta',
        file: 'tampered/router.ts',
        procedure: 'orders.list',
        message: 'orders.list: its meta is not the one the generator set: a hand-written .meta() replaced it',
      }),
    ]);
  });

  it('fails with pipeline-modified when a step is removed from a generated chain', async () => {
    const p = await generatedProject('router-step');
    await tamper(p, 'tampered', (router) =>
      router
        .split('\n')
        .filter((line) => !line.includes('.use(step.authorize(orders.place))'))
        .join('\n'),
    );
    const result = await p.run(...LINT, '--generated', 'tampered', '--format', 'json');
    expect(result.code).toBe(1);
    const violations = parseJson(result.stdout).violations;
    expect(violations).toEqual([
      expect.objectContaining({ rule: 'pipeline-modified', file: 'tampered/router.ts', procedure: 'orders.place' }),
    ]);
    expect(violations[0]!.message).toBe(
      'orders.place: its chain is [requestContext, authenticate, refuseTenancyKeys, input, authorizeAction, audit, output, handle], ' +
        'the contract requires [requestContext, authenticate, authorize, refuseTenancyKeys, input, authorizeAction, audit, output, handle]',
    );
  });

  it('finds the hand-written .meta() through the real binary too', async () => {
    const p = await generatedProject('router-meta-bin');
    const router = await p.read('generated/router.ts');
    await p.write(
      'generated/router.ts',
      router.replace(
        '.mutation(step.handle(orders.place, handlers.orders.place)),',
        ".meta({ requireAuth: false } as never)\n        .mutation(step.handle(orders.place, handlers.orders.place)),",
      ),
    );
    const result = await p.spawn(...LINT, '--generated', 'generated');
    expect(result.code).toBe(1);
    const sealLine = router.split('\n').findIndex((line) => line.includes("seal('orders.place'")) + 1;
    expect(result.stdout).toContain(
      `generated/router.ts:${sealLine}  handwritten-meta  orders.place: its meta is not the one the generator set`,
    );
    expect(result.stdout).toContain('covenant lint: 1 violation(s) in 2 procedures');
  });
});

describe('covenant lint --format', () => {
  const MIXED = `import { defineContract, query } from '@covenant/contract';
import * as z from 'zod';

export const desk = defineContract('desk', {
  open: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),
  read: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'desk.read' }),
});
`;
  const STALE = {
    sanctions: [
      {
        procedure: 'desk.closed',
        definitionHash: `sha256:${'0'.repeat(64)}`,
        reason: 'Was public during the migration window.',
        owner: 'desk-team',
      },
    ],
  };

  it('json is parseable and lists every violation with rule, file, line and procedure', async () => {
    const p = await project('format-json');
    await p.write('contracts/desk.contract.ts', MIXED);
    await p.write('sanctions.json', JSON.stringify(STALE, null, 2));
    const result = await p.run(...LINT, '--format', 'json');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    expect(parseJson(result.stdout)).toEqual({
      procedures: 2,
      violations: [
        {
          rule: 'public-requires-sanction',
          message: expect.stringMatching(/^desk\.open is public \(requireAuth: false\) without a sanction/),
          file: 'contracts/desk.contract.ts',
          line: 5,
          procedure: 'desk.open',
        },
        {
          rule: 'stale-sanction',
          message: 'the sanction for desk.closed names a procedure that does not exist: remove it',
          file: 'sanctions.json',
          line: 4,
          procedure: 'desk.closed',
        },
      ],
    });
  });

  it('sarif is one run whose results carry ruleId, level, message and a relative location', async () => {
    const p = await project('format-sarif');
    await p.write('contracts/desk.contract.ts', MIXED);
    await p.write('sanctions.json', JSON.stringify(STALE, null, 2));
    const result = await p.run(...LINT, '--format', 'sarif');
    expect(result.code).toBe(1);
    const sarif = JSON.parse(result.stdout) as {
      version: string;
      runs: Array<{ tool: { driver: { rules: Array<{ id: string }> } }; results: Array<Record<string, unknown>> }>;
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs).toHaveLength(1);
    const run = sarif.runs[0]!;
    expect(run.results.map((r) => r['ruleId'])).toEqual(['public-requires-sanction', 'stale-sanction']);
    for (const r of run.results) {
      expect(r).toMatchObject({ level: 'error', message: { text: expect.any(String) } });
      expect(run.tool.driver.rules[r['ruleIndex'] as number]!.id).toBe(r['ruleId']);
    }
    expect(run.results.map((r) => (r['locations'] as unknown[])[0])).toEqual([
      { physicalLocation: { artifactLocation: { uri: 'contracts/desk.contract.ts', uriBaseId: '%SRCROOT%' }, region: { startLine: 5 } } },
      { physicalLocation: { artifactLocation: { uri: 'sanctions.json', uriBaseId: '%SRCROOT%' }, region: { startLine: 4 } } },
    ]);
  });
});
