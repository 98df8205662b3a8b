import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GeneratedFile } from './generate.ts';
import { GENERATED_MARKER } from './header.ts';

export interface DriftReport {
  /** Files whose content differs from what the contracts generate. */
  readonly changed: ReadonlyArray<string>;
  readonly missing: ReadonlyArray<string>;
  /** Generated files (they carry the marker) that the contracts no longer produce. */
  readonly extra: ReadonlyArray<string>;
}

/**
 * Writes the files into `outDir`. Each file is written to a temporary folder beside it first and then
 * renamed into place, so a reader never sees half a file and a failure leaves the old files intact.
 * Generated files that are no longer produced are removed; files without the marker are never touched.
 */
export async function writeGenerated(outDir: string, files: ReadonlyArray<GeneratedFile>): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const staging = await mkdtemp(join(dirname(outDir), '.covenant-tmp-'));
  try {
    for (const file of files) await writeFile(join(staging, file.name), file.content, 'utf8');
    for (const file of files) await rename(join(staging, file.name), join(outDir, file.name));
    const { extra } = await checkGenerated(outDir, files);
    for (const name of extra) await rm(join(outDir, name));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Compares `outDir` with the files the contracts generate now. */
export async function checkGenerated(outDir: string, files: ReadonlyArray<GeneratedFile>): Promise<DriftReport> {
  const changed: string[] = [];
  const missing: string[] = [];
  for (const file of files) {
    const current = await readFile(join(outDir, file.name), 'utf8').catch(() => undefined);
    if (current === undefined) missing.push(file.name);
    else if (current !== file.content) changed.push(file.name);
  }
  const expected = new Set(files.map((file) => file.name));
  const extra: string[] = [];
  const entries = await readdir(outDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || expected.has(entry.name) || !entry.name.endsWith('.ts')) continue;
    const content = await readFile(join(outDir, entry.name), 'utf8');
    if (content.startsWith(GENERATED_MARKER)) extra.push(entry.name);
  }
  return { changed, missing, extra: extra.sort() };
}
