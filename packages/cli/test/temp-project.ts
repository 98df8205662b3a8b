import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/main.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../../..');
/** The real binary, as `npx covenant` runs it: plain node, tsx registered by the bin script. */
export const BIN = join(REPO, 'packages/cli/bin/covenant.mjs');

/** The `covenant` field every temp project's package.json carries, so no test falls back to the repository's own. */
export const PROJECT_CONFIG = { contracts: 'contracts', out: 'generated', sanctions: 'sanctions.json' } as const;

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TempProject {
  readonly root: string;
  write(path: string, text: string): Promise<void>;
  read(path: string): Promise<string>;
  remove(path: string): Promise<void>;
  /** Every file under `path` (relative, sorted) with its content: a before/after picture of a folder. */
  snapshot(path: string): Promise<Record<string, string>>;
  /** `main(argv, io)` in this process, with the project as working directory. */
  run(...argv: string[]): Promise<RunResult>;
  /** `node packages/cli/bin/covenant.mjs …` in a child process: proves the command works outside vitest. */
  spawn(...argv: string[]): Promise<RunResult>;
  dispose(): Promise<void>;
}

/**
 * A throw-away project in `packages/cli/test/.tmp-<name>-XXXXXX` (git-ignored; `dispose` removes it). Its own
 * `node_modules` links `@covenant/contract` and `zod`, because contract files resolve them from where
 * they live and the cli package does not depend on either. Its package.json has a `covenant` field, so
 * the repository's own configuration (which points at `apps/service/src/generated`) is never picked up.
 */
export async function createTempProject(
  name: string,
  config: Record<string, string> | null = PROJECT_CONFIG,
): Promise<TempProject> {
  const root = await mkdtemp(join(HERE, `.tmp-${name}-`));
  await mkdir(join(root, 'node_modules/@covenant'), { recursive: true });
  await symlink(join(REPO, 'packages/contract'), join(root, 'node_modules/@covenant/contract'), 'dir');
  await symlink(await realpath(join(REPO, 'packages/contract/node_modules/zod')), join(root, 'node_modules/zod'), 'dir');
  await writeFile(
    join(root, 'package.json'),
    `${JSON.stringify({ name: `tmp-${name}`, private: true, type: 'module', ...(config ? { covenant: config } : {}) }, null, 2)}\n`,
  );

  const project: TempProject = {
    root,
    async write(path, text) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text, 'utf8');
    },
    read: (path) => readFile(join(root, path), 'utf8'),
    remove: (path) => rm(join(root, path), { recursive: true, force: true }),
    async snapshot(path) {
      const out: Record<string, string> = {};
      const walk = async (dir: string): Promise<void> => {
        const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
        for (const entry of entries) {
          const full = join(dir, entry.name);
          if (entry.isDirectory()) await walk(full);
          else out[relative(join(root, path), full)] = await readFile(full, 'utf8');
        }
      };
      await walk(join(root, path));
      return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
    },
    run: (...argv) => runInProcess(argv, root),
    spawn: (...argv) => runBinary(argv, root),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
  return project;
}

export async function runInProcess(argv: ReadonlyArray<string>, cwd: string): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    cwd,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

export function runBinary(argv: ReadonlyArray<string>, cwd: string): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}
