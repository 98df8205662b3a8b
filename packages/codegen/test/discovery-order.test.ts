import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generate } from '../src/index.ts';
import { contractSource, createTempProject, readQuery, type TempProject } from './temp-project.ts';

/** When set, every directory listing comes back reversed: the order a file system returns is not a contract. */
const listing = vi.hoisted(() => ({ reversed: false, calls: 0 }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = async (...args: Parameters<typeof fs.readdir>) => {
    const entries = (await (fs.readdir as (...a: unknown[]) => Promise<unknown[]>)(...args)) as unknown[];
    listing.calls += 1;
    return listing.reversed ? [...entries].reverse() : entries;
  };
  return { ...fs, readdir, default: { ...fs, readdir } };
});

let p: TempProject;
beforeAll(async () => {
  p = await createTempProject('discovery-order');
  // File order (a, b/…, c) differs from contract-name order (mid, zulu, alpha): neither may leak into the output.
  await p.write('contracts/a.contract.ts', contractSource('mid', 'mid', readQuery('get', 'mid.read')));
  await p.write('contracts/b/inner.contract.ts', contractSource('zulu', 'zulu', readQuery('get', 'zulu.read')));
  await p.write('contracts/c.contract.ts', contractSource('alpha', 'alpha', readQuery('get', 'alpha.read')));
});
afterAll(async () => {
  await p.dispose();
});

describe('contract discovery order', () => {
  it('does not change the generated files', async () => {
    const options = { root: p.root, contractsDir: 'contracts', outDir: 'generated' };
    listing.reversed = false;
    const forward = await generate(options);
    listing.reversed = true;
    listing.calls = 0;
    const backward = await generate(options);
    listing.reversed = false;
    expect(listing.calls, 'the loader lists folders through the reversed readdir').toBeGreaterThanOrEqual(2);
    expect(backward).toEqual(forward);
  });

  it('orders contracts by name in the header, the imports and the manifest', async () => {
    const files = await generate({ root: p.root, contractsDir: 'contracts', outDir: 'generated' });
    const router = files.find((file) => file.name === 'router.ts')!.content;
    expect(router.split('\n').filter((line) => line.startsWith('//   '))).toEqual([
      '//   contracts/c.contract.ts',
      '//   contracts/a.contract.ts',
      '//   contracts/b/inner.contract.ts',
    ]);
    const manifest = JSON.parse(files.find((file) => file.name === 'manifest.json')!.content) as { sources: object };
    expect(Object.keys(manifest.sources)).toEqual(['alpha', 'mid', 'zulu']);
  });
});
