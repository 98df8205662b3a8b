/**
 * `covenant gen` time and generated-client type-check time for a generated contract set of `procedures`
 * procedures (50 per contract file), in a throw-away project under the OS temp folder. Runs the real CLI
 * (`node packages/cli/bin/covenant.mjs gen --contracts contracts --out generated`) and the repository's tsc.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface GenResult {
  readonly procedures: number;
  readonly files: number;
  readonly genSeconds: number;
  readonly typecheckSeconds: number;
}

const PER_FILE = 50;

function contractFile(name: string, count: number): string {
  const lines = ["import { defineContract, mutation, query } from '@covenant/contract';", "import * as z from 'zod';", '', `export const ${name} = defineContract('${name}', {`];
  for (let i = 0; i < count; i += 1) {
    const p = `p${String(i).padStart(3, '0')}`;
    if (i % 2 === 0) {
      lines.push(
        `  ${p}: query({ input: z.strictObject({ id: z.string().min(1), limit: z.number().int().min(1).max(100).optional() }), output: z.object({ id: z.string(), n${i}: z.number(), tags: z.array(z.string()) }), capability: '${name}.read' }),`,
      );
    } else {
      lines.push(
        `  ${p}: mutation({ input: z.strictObject({ id: z.string().min(1), title: z.string().max(200), kind: z.enum(['a', 'b', 'c']) }), output: z.object({ id: z.string(), v${i}: z.boolean() }), capability: '${name}.write' }),`,
      );
    }
  }
  lines.push('});', '');
  return lines.join('\n');
}

export async function benchGen(repo: string, procedures: number): Promise<GenResult> {
  const root = mkdtempSync(join(tmpdir(), 'covenant-bench-gen-'));
  try {
    const link = (name: string, target: string): void => {
      mkdirSync(dirname(join(root, 'node_modules', name)), { recursive: true });
      symlinkSync(target, join(root, 'node_modules', name), 'dir');
    };
    link('@covenant/contract', join(repo, 'packages/contract'));
    link('@covenant/client', join(repo, 'packages/client'));
    link('@covenant/server', join(repo, 'packages/server'));
    link('zod', realpathSync(join(repo, 'packages/contract/node_modules/zod')));
    writeFileSync(
      join(root, 'package.json'),
      `${JSON.stringify({ name: 'covenant-bench-gen', private: true, type: 'module', covenant: { contracts: 'contracts', out: 'generated' } }, null, 2)}\n`,
    );
    const files = Math.ceil(procedures / PER_FILE);
    mkdirSync(join(root, 'contracts'));
    for (let f = 0; f < files; f += 1) {
      const name = `bench${String(f).padStart(2, '0')}`;
      writeFileSync(join(root, 'contracts', `${name}.contract.ts`), contractFile(name, Math.min(PER_FILE, procedures - f * PER_FILE)));
    }
    const genStart = performance.now();
    const gen = spawnSync(process.execPath, [join(repo, 'packages/cli/bin/covenant.mjs'), 'gen', '--contracts', 'contracts', '--out', 'generated'], {
      cwd: root,
      encoding: 'utf8',
    });
    const genSeconds = (performance.now() - genStart) / 1000;
    if (gen.status !== 0) throw new Error(`covenant gen exited with ${gen.status}: ${gen.stderr || gen.stdout}`);

    // A caller of the generated client, so the check covers the client's types in use, not only its declaration.
    writeFileSync(
      join(root, 'usage.ts'),
      [
        "import { createClient } from './generated/client.ts';",
        "const api = createClient({ url: 'http://127.0.0.1:1', token: () => 'token' });",
        "export const read = (): Promise<{ id: string; n0: number; tags: string[] }> => api.bench00.p000.query({ id: 'x' });",
        "export const write = (): Promise<{ id: string; v1: boolean }> => api.bench00.p001.mutate({ id: 'x', title: 't', kind: 'a' });",
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(root, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2023',
            lib: ['ES2023', 'DOM'],
            module: 'ESNext',
            moduleResolution: 'bundler',
            types: [],
            strict: true,
            noUncheckedIndexedAccess: true,
            exactOptionalPropertyTypes: true,
            verbatimModuleSyntax: true,
            allowImportingTsExtensions: true,
            resolveJsonModule: true,
            noEmit: true,
            skipLibCheck: true,
          },
          include: ['usage.ts', 'generated/client.ts'],
        },
        null,
        2,
      )}\n`,
    );
    const tscStart = performance.now();
    const tsc = spawnSync(join(repo, 'node_modules/.bin/tsc'), ['--noEmit', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
    const typecheckSeconds = (performance.now() - tscStart) / 1000;
    if (tsc.status !== 0) throw new Error(`tsc exited with ${tsc.status}: ${(tsc.stdout + tsc.stderr).slice(0, 2000)}`);
    return { procedures, files, genSeconds, typecheckSeconds };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
