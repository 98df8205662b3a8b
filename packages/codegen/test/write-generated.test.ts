import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATED_MARKER, checkGenerated, writeGenerated } from '../src/index.ts';
import type { GeneratedFile } from '../src/index.ts';
import { createTempProject, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  return created;
}

const ts = (body: string): string => `${GENERATED_MARKER}\n${body}\n`;

const FILES: ReadonlyArray<GeneratedFile> = [
  { name: 'client.ts', content: ts('export const client = 1;') },
  { name: 'manifest.json', content: '{ "version": 1 }\n' },
  { name: 'router.ts', content: ts('export const router = 1;') },
];

describe('writeGenerated', () => {
  it('creates the folder and writes every file, leaving no staging folder', async () => {
    const p = await project('write-new');
    const out = `${p.root}/deep/generated`;
    await writeGenerated(out, FILES);
    expect(await p.snapshot('deep/generated')).toEqual(Object.fromEntries(FILES.map((f) => [f.name, f.content])));
    expect(await p.list('deep')).toEqual(['generated']);
  });

  it('removes generated files no longer produced and never touches a file without the marker', async () => {
    const p = await project('write-stale');
    await p.write('generated/legacy.ts', ts('export const legacy = 1;'));
    await p.write('generated/helpers.ts', '// Written by hand.\nexport const helpers = 1;\n');
    await p.write('generated/README.md', `${GENERATED_MARKER}\n`);
    await writeGenerated(`${p.root}/generated`, FILES);
    expect(await p.list('generated')).toEqual(['README.md', 'client.ts', 'helpers.ts', 'manifest.json', 'router.ts']);
    expect(await p.read('generated/helpers.ts')).toBe('// Written by hand.\nexport const helpers = 1;\n');
  });

  it('leaves the old files intact and removes its staging folder when writing fails', async () => {
    const p = await project('write-fail');
    await writeGenerated(`${p.root}/generated`, FILES);
    const before = await p.snapshot('generated');
    // A name with a folder that does not exist in staging: the write fails before anything is renamed.
    const failing: GeneratedFile[] = [{ name: 'router.ts', content: ts('export const changed = 1;') }, { name: 'no/such/dir.ts', content: '' }];
    await expect(writeGenerated(`${p.root}/generated`, failing)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await p.snapshot('generated')).toEqual(before);
    expect(await p.list('.')).toEqual(['generated']);
  });
});

describe('checkGenerated', () => {
  it('reports nothing for a folder that matches', async () => {
    const p = await project('check-clean');
    await writeGenerated(`${p.root}/generated`, FILES);
    expect(await checkGenerated(`${p.root}/generated`, FILES)).toEqual({ changed: [], missing: [], extra: [] });
  });

  it('reports changed, missing and extra files, ignoring files without the marker and non-TypeScript files', async () => {
    const p = await project('check-drift');
    await writeGenerated(`${p.root}/generated`, FILES);
    await p.write('generated/router.ts', ts('export const router = 2;'));
    await p.write('generated/manifest.json', '{ "version": 1 }'); // a missing final newline is a change too
    await p.write('generated/zombie.ts', ts('export const zombie = 1;'));
    await p.write('generated/old.ts', ts('export const old = 1;'));
    await p.write('generated/mine.ts', 'export const mine = 1;\n');
    await p.write('generated/notes.md', ts('notes'));
    await rm(`${p.root}/generated/client.ts`);
    expect(await checkGenerated(`${p.root}/generated`, FILES)).toEqual({
      changed: ['manifest.json', 'router.ts'],
      missing: ['client.ts'],
      extra: ['old.ts', 'zombie.ts'],
    });
  });

  it('reports every file missing when the folder does not exist', async () => {
    const p = await project('check-none');
    expect(await checkGenerated(`${p.root}/nowhere`, FILES)).toEqual({
      changed: [],
      missing: ['client.ts', 'manifest.json', 'router.ts'],
      extra: [],
    });
  });
});
