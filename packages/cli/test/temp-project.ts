import { spawn } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTempProject as createProject, type TempProject as BaseProject } from '@covenant/testkit';
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

export interface TempProject extends BaseProject {
  /** `main(argv, io)` in this process, with the project as working directory. */
  run(...argv: string[]): Promise<RunResult>;
  /** `node packages/cli/bin/covenant.mjs …` in a child process: proves the command works outside vitest. */
  spawn(...argv: string[]): Promise<RunResult>;
}

/**
 * A throw-away project in `packages/cli/test/.tmp-<name>-XXXXXX` (git-ignored; `dispose` removes it). Its own
 * `node_modules` links `@covenant/contract` and `zod`, because contract files resolve them from where
 * they live and the cli package does not depend on either. Its package.json has a `covenant` field, so
 * the repository's own configuration (which points at `apps/helpdesk/src/generated`) is never picked up.
 */
export async function createTempProject(
  name: string,
  config: Record<string, string> | null = PROJECT_CONFIG,
): Promise<TempProject> {
  const project = await createProject({
    parent: HERE,
    name,
    links: {
      '@covenant/contract': join(REPO, 'packages/contract'),
      zod: await realpath(join(REPO, 'packages/contract/node_modules/zod')),
    },
    packageJson: { name: `tmp-${name}`, private: true, type: 'module', ...(config ? { covenant: config } : {}) },
  });
  return {
    ...project,
    run: (...argv) => runInProcess(argv, project.root),
    spawn: (...argv) => runBinary(argv, project.root),
  };
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
