import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tryLockFile, type FileLock } from '../src/index.ts';

const dirs: string[] = [];
const locks: FileLock[] = [];
afterEach(() => {
  for (const lock of locks.splice(0)) lock.release();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-lock-'));
  dirs.push(dir);
  return join(dir, 'covenant.db-writer');
}

const HOLDER = fileURLToPath(new URL('./fixtures/hold-file-lock.ts', import.meta.url));

describe('tryLockFile', () => {
  it('is exclusive within one process too; release() hands it on; no journal file is left beside it', () => {
    const path = tempPath();
    const first = tryLockFile(path);
    expect(first).not.toBeNull();
    locks.push(first!);
    expect(tryLockFile(path)).toBeNull();
    first!.release();
    first!.release(); // idempotent
    const second = tryLockFile(path);
    expect(second).not.toBeNull();
    locks.push(second!);
    expect(readdirSync(join(path, '..'))).toEqual(['covenant.db-writer']);
  });

  it('is held against another process, and released by the operating system when that process is killed (SIGKILL)', async () => {
    const path = tempPath();
    const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, path], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('held') && resolve());
      child.on('close', (code) => reject(new Error(`the holder ended (${code}) before it held the lock`)));
    });
    expect(tryLockFile(path)).toBeNull();
    const ended = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGKILL');
    await ended;
    const taken = tryLockFile(path);
    expect(taken).not.toBeNull();
    locks.push(taken!);
  });

  it('refuses a path that is no file (TypeError)', () => {
    expect(() => tryLockFile(':memory:')).toThrow(TypeError);
    expect(() => tryLockFile('')).toThrow(TypeError);
  });
});
