import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempProject, runBinary, runInProcess, type TempProject } from './temp-project.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((dispose) => dispose()));
});

async function project(name: string, config?: Record<string, string> | null): Promise<TempProject> {
  const created = await createTempProject(name, config);
  cleanup.push(() => created.dispose());
  return created;
}

/**
 * A folder with no `covenant` field in any package.json above it. Anything inside the repository would
 * inherit the repository's own configuration, so this one lives in the system temp folder.
 */
async function unconfiguredFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covenant-cli-noconfig-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  for (let current = dirname(dir); ; current = dirname(current)) {
    const text = await readFile(join(current, 'package.json'), 'utf8').catch(() => null);
    expect(text === null || !('covenant' in (JSON.parse(text) as object)), `${current}/package.json configures covenant`).toBe(true);
    if (dirname(current) === current) break;
  }
  return dir;
}

const USAGE_LINE = 'Usage:\n  covenant gen  [--contracts <dir>] [--out <dir>] [--check]\n';

describe('covenant usage errors exit 2 and print the usage', () => {
  it('an unknown command exits 2 with the usage on stderr', async () => {
    const p = await project('usage-command');
    const result = await p.run('deploy');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^covenant: unknown command "deploy"\n\n/);
    expect(result.stderr).toContain(USAGE_LINE);
  });

  it.each([
    ['gen', ['gen', '--force']],
    ['lint', ['lint', '--fix']],
    ['gen, a flag of lint', ['gen', '--sanctions', 'x.json']],
    ['lint, a positional argument', ['lint', 'contracts']],
  ])('an unknown flag or argument to %s exits 2', async (_what, argv) => {
    const p = await project('usage-flag');
    const result = await p.run(...argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^covenant: .+\n\n/);
    expect(result.stderr).toContain(USAGE_LINE);
    expect(await p.snapshot('generated')).toEqual({});
  });

  it('--format xml exits 2 naming the formats', async () => {
    const p = await project('usage-format');
    const result = await p.run('lint', '--format', 'xml');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^covenant: --format must be text, json or sarif\n\n/);
  });

  it('gen without --out and without a covenant field in any package.json exits 2', async () => {
    const dir = await unconfiguredFolder();
    await writeFile(join(dir, 'package.json'), '{ "name": "no-covenant-field", "private": true }\n');
    const result = await runInProcess(['gen'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^covenant: no output folder: pass --out or set covenant.out in package.json\n\n/);
  });

  it('no command prints the usage and exits 2; help prints it and exits 0', async () => {
    const p = await project('usage-help');
    expect(await p.run()).toMatchObject({ code: 2, stderr: '', stdout: expect.stringContaining(USAGE_LINE) });
    for (const help of ['help', '--help', '-h']) {
      expect(await p.run(help)).toMatchObject({ code: 0, stderr: '', stdout: expect.stringContaining(USAGE_LINE) });
    }
  });

  it('the real binary exits 2 on an unknown command', async () => {
    const result = await runBinary(['deploy'], await unconfiguredFolder());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('covenant: unknown command "deploy"');
  });
});

describe('covenant reads its defaults from the covenant field of package.json', () => {
  const CONFIG = { contracts: 'api', out: 'src/gen', sanctions: 'policy/sanctions.json' };
  const CONTRACT = `import { defineContract, query } from '@covenant/contract';
import * as z from 'zod';

export const probe = defineContract('probe', {
  live: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),
  deep: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'probe.read' }),
});
`;

  async function configured(name: string): Promise<TempProject> {
    const p = await project(name, CONFIG);
    await p.write('api/probe.contract.ts', CONTRACT);
    return p;
  }

  it('gen writes to covenant.out from covenant.contracts, and gen --check reads the same folders', async () => {
    const p = await configured('config-gen');
    expect(await p.run('gen')).toEqual({
      code: 0,
      stdout: 'covenant gen: wrote client.ts, handlers.ts, manifest.json, router.ts to src/gen\n',
      stderr: '',
    });
    expect(Object.keys(await p.snapshot('src/gen'))).toEqual(['client.ts', 'handlers.ts', 'manifest.json', 'router.ts']);
    expect(await p.read('src/gen/router.ts')).toContain("import { probe } from '../../api/probe.contract.ts';");
    expect(await p.run('gen', '--check')).toMatchObject({ code: 0 });
  });

  it('paths in package.json are relative to the project root, flags to the working directory', async () => {
    const p = await configured('config-cwd');
    const fromSubfolder = await runInProcess(['gen'], join(p.root, 'api'));
    expect(fromSubfolder).toMatchObject({ code: 0, stdout: 'covenant gen: wrote client.ts, handlers.ts, manifest.json, router.ts to ../src/gen\n' });
    expect(Object.keys(await p.snapshot('src/gen'))).toHaveLength(4);

    expect(await runInProcess(['gen', '--out', 'elsewhere'], join(p.root, 'api'))).toMatchObject({ code: 0 });
    expect(Object.keys(await p.snapshot('api/elsewhere'))).toHaveLength(4);
  });

  it('lint reads covenant.contracts and covenant.sanctions', async () => {
    const p = await configured('config-lint');
    const unsanctioned = await p.run('lint', '--format', 'json');
    expect(unsanctioned.code).toBe(1);
    const [violation] = (JSON.parse(unsanctioned.stdout) as { violations: Array<{ rule: string; file: string; message: string }> })
      .violations;
    expect(violation).toMatchObject({ rule: 'public-requires-sanction', file: 'api/probe.contract.ts' });
    expect(violation!.message).toContain('add to policy/sanctions.json:');

    const definitionHash = /"definitionHash": "(sha256:[0-9a-f]{64})"/.exec(violation!.message)![1]!;
    const sanction = { procedure: 'probe.live', definitionHash, reason: 'Load balancer probe without credentials.', owner: 'sre' };
    await p.write('policy/sanctions.json', JSON.stringify({ sanctions: [sanction] }));
    expect(await p.run('lint')).toMatchObject({ code: 0, stdout: 'covenant lint: 2 procedures, no violations\n' });
  });

  it('lint without --contracts inspects the router in covenant.out', async () => {
    const p = await configured('config-router');
    expect(await p.run('gen')).toMatchObject({ code: 0 });
    const router = await p.read('src/gen/router.ts');
    await p.write(
      'src/gen/router.ts',
      router.replace(
        '.query(step.handle(probe.deep, handlers.probe.deep)),',
        '.meta({ requireAuth: false } as never)\n        .query(step.handle(probe.deep, handlers.probe.deep)),',
      ),
    );
    const result = await p.run('lint', '--format', 'json');
    expect(result.code).toBe(1);
    const { violations } = JSON.parse(result.stdout) as { violations: Array<{ rule: string; file: string }> };
    expect(violations.map((v) => [v.rule, v.file])).toContainEqual(['handwritten-meta', 'src/gen/router.ts']);
  });
});
