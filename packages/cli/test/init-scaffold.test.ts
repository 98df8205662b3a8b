import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INIT_FILES, INIT_IMPORTS, INIT_THIRD_PARTY, packageOf, renderTemplate, templateOf } from '../src/init-template.ts';
import { runBinary, runInProcess } from './temp-project.ts';
import { linkWorkspacePackages, workspacePackageJsons } from './workspace-links.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const TEMPLATES = fileURLToPath(new URL('../templates/init/', import.meta.url));
/** Each run of the real binary loads tsx and the contracts afresh: seconds each, more on a busy machine. */
const BINARY_TIMEOUT = 60_000;

/** Every file under `dir`, relative and `/`-separated, `node_modules` left out. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .filter((path) => !path.startsWith('node_modules/'))
    .sort();
}

/** The bare import specifiers of a TypeScript file: `from '…'`, `import '…'`, `import('…')`, `declare module '…'`. */
function bareImports(source: string): string[] {
  const found = [...source.matchAll(/(?:\bfrom|\bimport|\bimport\(|declare module)\s*'([^']+)'/g)].map((m) => m[1]!);
  return found.filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('node:'));
}

describe('the scaffold, generated and linted with this repository’s CLI', () => {
  let parent: string;
  let root: string;

  beforeAll(async () => {
    // Inside the repository (a git-ignored test/.tmp-* folder), so that the contracts resolve
    // @covenant/contract and zod through the links below, as an installed project resolves them.
    parent = await mkdtemp(join(HERE, '.tmp-init-scaffold-'));
    root = join(parent, 'invoices');
    expect(await runBinary(['init', 'invoices'], parent)).toMatchObject({ code: 0, stderr: '' });
    await linkWorkspacePackages(root, ['@covenant/contract', 'zod']);
  }, BINARY_TIMEOUT);

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('covenant gen writes the router, handlers, client and manifest into src/generated', async () => {
    expect(await runBinary(['gen'], root)).toEqual({
      code: 0,
      stdout: 'covenant gen: wrote client.ts, handlers.ts, manifest.json, router.ts to src/generated\n',
      stderr: '',
    });
  }, BINARY_TIMEOUT);

  it('covenant gen --check finds nothing drifted', async () => {
    expect(await runInProcess(['gen', '--check'], root)).toEqual({ code: 0, stdout: 'covenant gen --check: 4 files up to date in src/generated\n', stderr: '' });
  });

  it('covenant lint passes: the public health check is sanctioned, every other procedure names a capability', async () => {
    expect(await runBinary(['lint'], root)).toEqual({ code: 0, stdout: 'covenant lint: 3 procedures, no violations\n', stderr: '' });
    const sarif = await runInProcess(['lint', '--format', 'sarif'], root);
    expect(sarif.code).toBe(0);
    expect((JSON.parse(sarif.stdout) as { runs: Array<{ results: unknown[] }> }).runs[0]!.results).toEqual([]);
  }, BINARY_TIMEOUT);

  it('declares every package its sources import: the service’s as dependencies, the tests’ at least as devDependencies', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    const dependencies = new Set(Object.keys(pkg['dependencies']!));
    const all = new Set([...dependencies, ...Object.keys(pkg['devDependencies']!)]);
    const files = (await filesUnder(root)).filter((path) => path.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['src/generated/client.ts', 'src/generated/router.ts', 'src/main.ts', 'test/invoices.test.ts']));
    for (const path of files) {
      const runtime = path.startsWith('src/') || path.startsWith('contracts/');
      for (const specifier of bareImports(await readFile(join(root, path), 'utf8'))) {
        expect(runtime ? dependencies : all, `${path} imports ${specifier}`).toContain(packageOf(specifier));
      }
    }
  });
});

describe('the template table', () => {
  it('lists every file of templates/init, and nothing else', async () => {
    expect(await filesUnder(TEMPLATES)).toEqual(
      INIT_FILES.flatMap((path) => templateOf(path) ?? []).sort(),
    );
  });

  it('names every import role the templates use, and none they do not', async () => {
    const used = new Set<string>();
    for (const path of await filesUnder(TEMPLATES)) {
      for (const match of (await readFile(join(TEMPLATES, path), 'utf8')).matchAll(/\{\{import:([a-z-]+)\}\}/g)) used.add(match[1]!);
    }
    expect([...used].sort()).toEqual(Object.keys(INIT_IMPORTS).sort());
  });

  it('refuses a template that names an unknown import role', () => {
    expect(() => renderTemplate("import { x } from '{{import:ledger-core}}';", 'invoices', 'src/x.ts')).toThrow('src/x.ts: unknown import role "ledger-core"');
  });

  it('ships templates/ with the CLI when its package.json lists its files', async () => {
    const cli = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { files?: string[] };
    if (cli.files !== undefined) expect(cli.files.some((entry) => entry.replace(/^\.\//, '').replace(/\/.*$/, '') === 'templates')).toBe(true);
  });

  it('names only packages of this workspace', async () => {
    const names = new Set((await workspacePackageJsons()).map((pkg) => pkg.json.name));
    for (const specifier of Object.values(INIT_IMPORTS)) expect(names, specifier).toContain(packageOf(specifier));
  });

  it('gives each third-party dependency a range that the versions this workspace builds with satisfy', async () => {
    const declared = new Map<string, string[]>();
    for (const { json } of await workspacePackageJsons()) {
      for (const field of ['dependencies', 'devDependencies', 'peerDependencies'] as const) {
        for (const [name, spec] of Object.entries(json[field] ?? {})) declared.set(name, [...(declared.get(name) ?? []), spec]);
      }
    }
    for (const [name, range] of Object.entries({ ...INIT_THIRD_PARTY.dependencies, ...INIT_THIRD_PARTY.devDependencies })) {
      const specs = declared.get(name) ?? [];
      expect(specs, `no package of the workspace uses ${name}`).not.toEqual([]);
      for (const spec of specs) expect(caretSatisfies(range, spec), `${name}: ${range} against the workspace's ${spec}`).toBe(true);
    }
  });
});

/** Whether the lowest version `spec` allows (`1.2.3`, `^1.2.3`, `~1.2.3`) is in the caret range `range`. */
function caretSatisfies(range: string, spec: string): boolean {
  const parse = (text: string): number[] | null => {
    const match = /^[\^~=]?(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
    return match === null ? null : match.slice(1).map(Number);
  };
  if (!range.startsWith('^')) return false;
  const low = parse(range);
  const version = parse(spec);
  if (low === null || version === null) return false;
  const [a, b, c] = low as [number, number, number];
  const [x, y, z] = version as [number, number, number];
  const atLeast = x > a || (x === a && (y > b || (y === b && z >= c)));
  return atLeast && (a > 0 ? x === a : b > 0 ? x === 0 && y === b : x === 0 && y === 0 && z === c);
}
