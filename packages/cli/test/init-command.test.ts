import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageNameProblem } from '../src/init-command.ts';
import { runBinary, runInProcess } from './temp-project.ts';

const cleanup: string[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** An empty folder in the system temp folder: the scaffold is meant for projects outside this repository. */
async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'covenant-init-'));
  cleanup.push(dir);
  return dir;
}

/** Every file under `dir` (relative, sorted, `/`-separated) with its content; links are listed as `-> target`. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Array<[string, string]> = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      const name = relative(dir, full).split('\\').join('/');
      if (entry.isSymbolicLink()) out.push([name, '-> link']);
      else if (entry.isDirectory()) await walk(full);
      else out.push([name, await readFile(full, 'utf8')]);
    }
  };
  await walk(dir);
  return Object.fromEntries(out.sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** What the scaffold writes, in the order `covenant init` lists it. */
const SCAFFOLD = [
  '.github/workflows/ci.yml',
  '.gitignore',
  'README.md',
  'contracts/health.contract.ts',
  'contracts/invoices.contract.ts',
  'contracts/sanctions.json',
  'package.json',
  'src/config.ts',
  'src/database.ts',
  'src/dev-identity.ts',
  'src/handlers.ts',
  'src/main.ts',
  'src/migrate.ts',
  'src/service.ts',
  'src/token.ts',
  'test/invoices.test.ts',
  'tsconfig.build.json',
  'tsconfig.json',
  'vitest.config.ts',
];

const CLI_VERSION = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A tsconfig.json's compiler options (the scaffold's carry `//` comments on lines of their own). */
function compilerOptions(text: string): Record<string, unknown> {
  const json = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join('\n');
  return (JSON.parse(json) as { compilerOptions: Record<string, unknown> }).compilerOptions;
}

describe('covenant init writes a new project', () => {
  it('writes every file of the scaffold into a new folder, and nothing outside it', async () => {
    const parent = await scratch();
    const result = await runInProcess(['init', 'invoices'], parent);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await readdir(parent)).toEqual(['invoices']);
    const files = await snapshot(join(parent, 'invoices'));
    expect(Object.keys(files)).toEqual([...SCAFFOLD].sort());

    expect(result.stdout).toBe(
      [
        `covenant init: wrote ${SCAFFOLD.length} files for invoices in invoices`,
        ...SCAFFOLD.map((path) => `  ${path}`),
        '',
        'Next:',
        '  cd invoices && npm install && npm run gen   # the dependencies, then the router, handler types and client from the contracts',
        '  npm run build && npm start    # compiles to dist/ and serves on http://127.0.0.1:3000 (development identity)',
        '',
      ].join('\n'),
    );
    for (const [path, text] of Object.entries(files)) {
      expect(text, path).not.toMatch(/\{\{(import:|name\}\})/);
    }
  });

  it('writes a package.json with Covenant at the CLI’s version, tRPC, zod and kysely as the project’s own, and the scripts', async () => {
    const dir = join(await scratch(), 'invoices');
    expect(await runInProcess(['init', dir], tmpdir())).toMatchObject({ code: 0 });
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    expect(pkg).toMatchObject({ name: 'invoices', private: true, type: 'module' });
    expect(pkg['covenant']).toEqual({ contracts: 'contracts', out: 'src/generated', sanctions: 'contracts/sanctions.json' });
    expect(pkg['scripts']).toEqual({
      gen: 'covenant gen',
      lint: 'covenant lint',
      check: 'covenant gen --check && covenant lint && tsc --noEmit',
      build: 'tsc -p tsconfig.build.json',
      start: 'node dist/src/main.js',
      migrate: 'node dist/src/migrate.js',
      token: 'node dist/src/token.js',
      test: 'vitest run',
    });
    const covenant = Object.entries({ ...pkg['dependencies'], ...pkg['devDependencies'] }).filter(([name]) => name.startsWith('@covenant/'));
    expect(covenant.map(([name]) => name)).toEqual(expect.arrayContaining(['@covenant/cli', '@covenant/contract', '@covenant/server', '@covenant/client']));
    for (const [name, range] of covenant) expect(range, name).toBe(`^${CLI_VERSION}`);
    expect(pkg['devDependencies']).toHaveProperty('@covenant/cli');
    for (const name of ['@trpc/server', '@trpc/client', 'zod', 'kysely']) expect(pkg['dependencies'], name).toHaveProperty([name], expect.stringMatching(/^\^\d/));
  });

  it('writes an ordinary strict tsconfig, a .gitignore for data, dist and node_modules, and no key or secret', async () => {
    const dir = join(await scratch(), 'invoices');
    expect(await runInProcess(['init', dir], tmpdir())).toMatchObject({ code: 0 });
    const options = compilerOptions(await readFile(join(dir, 'tsconfig.json'), 'utf8'));
    expect(options).toMatchObject({ strict: true, module: 'nodenext' });
    expect(options).not.toHaveProperty('exactOptionalPropertyTypes');
    expect(options).not.toHaveProperty('allowImportingTsExtensions');
    expect(options).not.toHaveProperty('skipLibCheck');
    expect(compilerOptions(await readFile(join(dir, 'tsconfig.build.json'), 'utf8'))).toEqual({ noEmit: false });

    const ignored = (await readFile(join(dir, '.gitignore'), 'utf8')).split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['data/', 'dist/', 'node_modules/']));
    const files = await snapshot(dir);
    expect(Object.keys(files).filter((path) => path.startsWith('data/'))).toEqual([]);
    for (const [path, text] of Object.entries(files)) {
      expect(text, path).not.toMatch(/PRIVATE KEY|"d"\s*:|[A-Za-z0-9+/]{43}=/);
    }
  });

  it('writes the CI workflow: install, lint with SARIF uploaded, gen --check, tsc, tests', async () => {
    const dir = join(await scratch(), 'invoices');
    expect(await runInProcess(['init', dir], tmpdir())).toMatchObject({ code: 0 });
    const workflow = await readFile(join(dir, '.github/workflows/ci.yml'), 'utf8');
    const runs = [...workflow.matchAll(/^\s+(?:- )?(?:run|uses): (.+)$/gm)].map((m) => m[1]);
    expect(runs).toEqual([
      'actions/checkout@v5',
      'actions/setup-node@v5',
      'npm ci',
      'npx covenant gen --check',
      'npx covenant lint --format sarif > covenant.sarif',
      'github/codeql-action/upload-sarif@v4',
      'npx tsc --noEmit',
      'npm test',
    ]);
    expect(workflow).toContain('security-events: write');
    expect(workflow).toContain('sarif_file: covenant.sarif');
  });

  it('writes into the working directory by default, named after it; --name names the package', async () => {
    const dir = join(await scratch(), 'billing-api');
    await mkdir(dir);
    const result = await runInProcess(['init'], dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('covenant init: wrote 19 files for billing-api in the current folder\n');
    expect(result.stdout).toContain('\n  npm install && npm run gen ');
    expect(JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))).toMatchObject({ name: 'billing-api' });

    const scoped = join(await scratch(), 'svc');
    expect(await runInProcess(['init', scoped, '--name', '@acme/invoices'], tmpdir())).toMatchObject({ code: 0 });
    expect(JSON.parse(await readFile(join(scoped, 'package.json'), 'utf8'))).toMatchObject({ name: '@acme/invoices' });
  });

  it('accepts a folder that holds only .git', async () => {
    const dir = await scratch();
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    expect(await runInProcess(['init', dir, '--name', 'invoices'], tmpdir())).toMatchObject({ code: 0 });
    expect(await readFile(join(dir, '.git', 'HEAD'), 'utf8')).toBe('ref: refs/heads/main\n');
  });

  it('works as the real binary', async () => {
    const parent = await scratch();
    const result = await runBinary(['init', 'invoices'], parent);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(Object.keys(await snapshot(join(parent, 'invoices')))).toHaveLength(SCAFFOLD.length);
  }, 60_000);
});

describe('covenant init never overwrites silently', () => {
  it('refuses a folder that is not empty (exit 1) and writes nothing', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'README.md'), 'my notes\n');
    const before = await snapshot(dir);
    const result = await runInProcess(['init', dir, '--name', 'invoices'], tmpdir());
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^covenant init: .+ is not empty \(README\.md\); choose an empty folder, or pass --force .+; nothing was written\n$/);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('refuses a path that is a file (exit 1)', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'invoices'), 'a file\n');
    const result = await runInProcess(['init', 'invoices'], dir);
    expect(result).toMatchObject({ code: 1, stdout: '', stderr: 'covenant init: invoices exists and is not a folder; nothing was written\n' });
  });

  it('with --force writes into a non-empty folder, lists the files it replaced and leaves the others alone', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'README.md'), 'my notes\n');
    await writeFile(join(dir, 'notes.txt'), 'keep me\n');
    const result = await runInProcess(['init', dir, '--name', 'invoices', '--force'], tmpdir());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('\n  README.md (replaced)\n');
    expect(result.stdout.match(/\(replaced\)/g)).toHaveLength(1);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toMatch(/^# invoices\n/);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('keep me\n');
  });

  it('with --force still refuses to write through a symbolic link, and writes nothing', async () => {
    const outside = await scratch();
    const dir = await scratch();
    await writeFile(join(dir, 'notes.txt'), 'keep me\n');
    await symlink(outside, join(dir, 'src'), 'dir');
    const before = await snapshot(dir);
    const result = await runInProcess(['init', dir, '--name', 'invoices', '--force'], tmpdir());
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe('covenant init: src is a symbolic link: init writes only inside the folder; nothing was written\n');
    expect(await snapshot(dir)).toEqual(before);
    expect(await readdir(outside)).toEqual([]);
  });

  it('with --force refuses a folder where the scaffold has a file (exit 1), and writes nothing', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'package.json'));
    const result = await runInProcess(['init', dir, '--name', 'invoices', '--force'], tmpdir());
    expect(result).toMatchObject({ code: 1, stderr: 'covenant init: package.json is not a file; nothing was written\n' });
    expect(await readdir(dir)).toEqual(['package.json']);
  });
});

describe('covenant init: usage', () => {
  it('--help prints the usage with init and exits 0', async () => {
    const result = await runInProcess(['init', '--help'], await scratch());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain('  covenant init [dir] [--name <package name>] [--force]\n');
  });

  it.each([
    ['an unknown flag', ['init', 'invoices', '--yes'], /^covenant: Unknown option '--yes'/],
    ['two folders', ['init', 'a', 'b'], /^covenant: unexpected argument "b"\n\n/],
    ['--name without a value', ['init', 'invoices', '--name'], /^covenant: Option '--name <value>' argument missing/],
    ['an upper-case --name', ['init', 'invoices', '--name', 'Invoices'], /^covenant: init: --name "Invoices" is not a valid package name \(upper-case letters\)\n\n/],
    ['a folder name that is no package name', ['init', 'My Service'], /^covenant: init: the folder name "My Service" is not a valid package name \(.+\): pass --name <package name>\n\n/],
  ])('%s is a usage error (exit 2) and writes nothing', async (_what, argv, message) => {
    const dir = await scratch();
    const result = await runInProcess(argv, dir);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('Usage:\n');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('packageNameProblem', () => {
  it.each(['invoices', 'billing-api', 'a.b_c-1', '@acme/invoices', 'x'.repeat(214)])('accepts %s', (name) => {
    expect(packageNameProblem(name)).toBeNull();
  });

  it.each([
    ['', 'it is empty'],
    ['x'.repeat(215), 'longer than 214 characters'],
    ['Invoices', 'upper-case letters'],
    ['my service', 'only a-z, 0-9, "-", "." and "_" are allowed'],
    ['in~voices', 'only a-z, 0-9, "-", "." and "_" are allowed'],
    ['.hidden', 'it starts with "." or "_"'],
    ['_private', 'it starts with "." or "_"'],
    ['@acme/_x', 'it starts with "." or "_"'],
    ['a/b', 'a "/" outside "@scope/name"'],
    ['@acme/', 'a "/" outside "@scope/name"'],
    ['http', 'the name of a Node.js built-in module'],
    ['node_modules', 'a reserved name'],
  ])('refuses %j: %s', (name, problem) => {
    expect(packageNameProblem(name)).toBe(problem);
  });
});
