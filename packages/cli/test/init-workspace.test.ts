import { spawn } from 'node:child_process';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBinary, type RunResult } from './temp-project.ts';
import { linkWorkspacePackages, workspacePackageJsons } from './workspace-links.ts';

/**
 * The scaffold's own sources against this workspace's packages: `tsc --noEmit` with the scaffold's
 * tsconfig, and the scaffold's test (the service over HTTP, 401 / 200 / 403). Opt-in
 * (COVENANT_INIT_WORKSPACE=1): the packages are resolved from their sources here, so the compiler also
 * checks Covenant's own code under the scaffold's settings (only diagnostics in the scaffold's files count),
 * and the workspace's package layout is changing. The installed-from-tarballs check is the outside-project test.
 */
const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(HERE, '../../..');

function run(command: string, args: ReadonlyArray<string>, cwd: string): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, [...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * The export conditions of workspace packages that point at TypeScript sources (`"<condition>": "./src/….ts"`):
 * once packages build to dist/, the repository keeps its sources reachable through such a condition.
 */
async function sourceConditions(): Promise<string[]> {
  const conditions = new Set<string>();
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, target] of Object.entries(value)) {
      if (typeof target === 'string' && /\.ts$/.test(target) && !/\.d\.ts$/.test(target) && !key.startsWith('.') && key !== 'default') conditions.add(key);
      else walk(target);
    }
  };
  for (const { json } of await workspacePackageJsons()) walk(json.exports);
  return [...conditions].sort();
}

describe.skipIf(process.env['COVENANT_INIT_WORKSPACE'] !== '1')('the scaffold against this workspace’s packages', () => {
  let parent: string;
  let root: string;

  beforeAll(async () => {
    parent = await mkdtemp(join(HERE, '.tmp-init-workspace-'));
    root = join(parent, 'invoices');
    expect(await runBinary(['init', 'invoices'], parent)).toMatchObject({ code: 0 });
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    await linkWorkspacePackages(root, [...Object.keys(pkg['dependencies']!), ...Object.keys(pkg['devDependencies']!)]);
    expect(await runBinary(['gen'], root)).toMatchObject({ code: 0 });
    const conditions = await sourceConditions();
    await writeFile(
      join(root, 'tsconfig.workspace.json'),
      JSON.stringify({ extends: './tsconfig.json', compilerOptions: conditions.length > 0 ? { customConditions: conditions } : {} }),
    );
  }, 60_000);

  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('type-checks with the scaffold’s tsconfig', async () => {
    const result = await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '--noEmit', '--pretty', 'false', '-p', 'tsconfig.workspace.json'], root);
    const diagnostics = `${result.stdout}${result.stderr}`.split('\n').filter((line) => /^\S.*\(\d+,\d+\): error /.test(line));
    // Paths outside the scaffold (`../…`) are Covenant's sources, checked here only because they are sources.
    expect(diagnostics.filter((line) => !line.startsWith('../'))).toEqual([]);
  }, 120_000);

  it('passes its own test: 401 without a token, 200 with one, 403 without the capability', async () => {
    const vitest = await realpath(join(root, 'node_modules/vitest'));
    const result = await run(process.execPath, [join(vitest, 'vitest.mjs'), 'run'], root);
    expect(result.stdout).toMatch(/Tests\s+5 passed/);
    expect(result.code).toBe(0);
  }, 120_000);
});
