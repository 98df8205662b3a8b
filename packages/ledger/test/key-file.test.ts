import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyFileError, createNodeCheckpointSigner, createSignerKeyFile, readSignerKeyFile } from '../src/node/index.ts';
import { createCheckpointSigner, verifyCheckpoint } from '../src/index.ts';

const NAME = 'audit.example/test';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-key-'));
  dirs.push(dir);
  return dir;
}

/** A key file with `content`, mode 0600 unless told otherwise. */
function keyFile(content: string, mode = 0o600): string {
  const path = join(tempDir(), 'ledger.key');
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

/** The thrown error, checked to be a KeyFileError naming the path and never quoting `secrets`. */
function keyFileError(fn: () => unknown, path: string, secrets: ReadonlyArray<string>): KeyFileError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KeyFileError);
  const error = caught as KeyFileError;
  expect(error.name).toBe('KeyFileError');
  expect(error.message).toContain(path);
  for (const secret of secrets) {
    expect(error.message).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  }
  return error;
}

const posix = process.platform !== 'win32';
const SEED = Buffer.alloc(32, 0x2a);
const KEY_TEXT = SEED.toString('base64');

describe('createSignerKeyFile', () => {
  it('writes one line, the base64 of 32 random bytes, with mode 0600, creating missing folders', () => {
    const dir = tempDir();
    const path = join(dir, 'nested', 'keys', 'ledger.key');
    createSignerKeyFile(path);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(Buffer.from(text.trim(), 'base64')).toHaveLength(32);
    if (posix) {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'nested', 'keys')).mode & 0o077).toBe(0);
    }
    // Each file gets a fresh key.
    const other = join(dir, 'other.key');
    createSignerKeyFile(other);
    expect(readFileSync(other, 'utf8')).not.toBe(text);
  });

  it('refuses to overwrite an existing file and leaves it unchanged', () => {
    const path = join(tempDir(), 'ledger.key');
    createSignerKeyFile(path);
    const before = readFileSync(path, 'utf8');
    const error = keyFileError(() => createSignerKeyFile(path), path, [before.trim()]);
    expect(error.message).toMatch(/EEXIST/);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });
});

describe('readSignerKeyFile', () => {
  it('round-trips: the signer from a created file signs checkpoints its public key verifies', () => {
    const path = join(tempDir(), 'ledger.key');
    createSignerKeyFile(path);
    const signer = readSignerKeyFile(path, NAME);
    expect(signer.name).toBe(NAME);
    expect(signer.publicKey).toHaveLength(32);
    const checkpoint = { origin: NAME, size: 3, root: new Uint8Array(32).fill(5) };
    const note = signer.sign(checkpoint);
    const result = verifyCheckpoint(note, { name: NAME, publicKey: signer.publicKey, origin: NAME });
    expect(result).toMatchObject({ ok: true, checkpoint: { origin: NAME, size: 3 } });
    // Reading it again yields the same key; the note does not verify under another key.
    expect(readSignerKeyFile(path, NAME).publicKey).toEqual(signer.publicKey);
    const stranger = createCheckpointSigner({ name: NAME, privateKey: new Uint8Array(32).fill(1) });
    expect(verifyCheckpoint(note, { name: NAME, publicKey: stranger.publicKey, origin: NAME }).ok).toBe(false);
  });

  it('reads the seed written in the file (with or without the final newline)', () => {
    const expected = createCheckpointSigner({ name: NAME, privateKey: new Uint8Array(SEED) }).publicKey;
    expect(readSignerKeyFile(keyFile(`${KEY_TEXT}\n`), NAME).publicKey).toEqual(expected);
    expect(readSignerKeyFile(keyFile(KEY_TEXT), NAME).publicKey).toEqual(expected);
    expect(readSignerKeyFile(keyFile(`${KEY_TEXT}\r\n`), NAME).publicKey).toEqual(expected);
  });

  it.runIf(posix).each([
    ['readable by others', 0o644],
    ['readable by the group', 0o640],
    ['writable by others', 0o602],
    ['writable by the group', 0o620],
    ['fully open', 0o777],
  ])('refuses a key file %s (mode %s) without reading the key', (_name, mode) => {
    const path = keyFile(`${KEY_TEXT}\n`, mode);
    const error = keyFileError(() => readSignerKeyFile(path, NAME), path, [KEY_TEXT]);
    expect(error.message).toMatch(/chmod 600/);
  });

  it.runIf(posix)('accepts an owner-only read-only file (0400)', () => {
    const path = keyFile(`${KEY_TEXT}\n`, 0o400);
    expect(readSignerKeyFile(path, NAME).publicKey).toHaveLength(32);
  });

  it.each([
    ['a key that is too short', Buffer.alloc(31, 0x2a).toString('base64')],
    ['a key that is too long', Buffer.alloc(33, 0x2a).toString('base64')],
    ['a 64-byte private key', Buffer.alloc(64, 0x2a).toString('base64')],
    ['junk inside the base64', `${KEY_TEXT.slice(0, 10)}!*${KEY_TEXT.slice(10)}`],
    ['URL-safe base64', Buffer.from(SEED.map((b, i) => (i === 0 ? 0xfb : b))).toString('base64url')],
    ['missing padding', KEY_TEXT.replace(/=$/, '')],
    ['two keys on two lines', `${KEY_TEXT}\n${Buffer.alloc(32, 0x11).toString('base64')}\n`],
    ['two keys on one line', `${KEY_TEXT}${Buffer.alloc(32, 0x11).toString('base64')}`],
    ['hex instead of base64', SEED.toString('hex')],
    ['an empty file', ''],
    ['a PEM file', `-----BEGIN PRIVATE KEY-----\n${KEY_TEXT}\n-----END PRIVATE KEY-----\n`],
  ])('refuses %s, naming the path but not the content', (_name, content) => {
    const path = keyFile(content);
    const secrets = content
      .split(/\s+/)
      .filter((part) => part.length >= 8)
      .concat(KEY_TEXT);
    const error = keyFileError(() => readSignerKeyFile(path, NAME), path, secrets);
    expect(error.message).toMatch(/32-byte/);
  });

  it('refuses a missing file', () => {
    const path = join(tempDir(), 'absent.key');
    const error = keyFileError(() => readSignerKeyFile(path, NAME), path, []);
    expect(error.message).toMatch(/ENOENT/);
  });

  it('refuses a folder in place of the file', () => {
    const dir = tempDir();
    if (posix) chmodSync(dir, 0o700);
    const error = keyFileError(() => readSignerKeyFile(dir, NAME), dir, []);
    expect(error.message).toMatch(/cannot read/);
  });
});

describe('createNodeCheckpointSigner', () => {
  it('signs with node:crypto exactly what noble signs (Ed25519 is deterministic), and the notes verify', () => {
    for (const fill of [0, 1, 7, 255]) {
      const privateKey = new Uint8Array(32).fill(fill);
      const node = createNodeCheckpointSigner({ name: NAME, privateKey });
      const noble = createCheckpointSigner({ name: NAME, privateKey });
      expect(node.publicKey).toEqual(noble.publicKey);
      for (const size of [1, 2, 1000, 2 ** 40]) {
        const checkpoint = { origin: NAME, size, root: new Uint8Array(32).fill(size % 256) };
        const note = node.sign(checkpoint);
        expect(note).toBe(noble.sign(checkpoint));
        expect(verifyCheckpoint(note, { name: NAME, publicKey: node.publicKey, origin: NAME })).toMatchObject({ ok: true });
      }
    }
  });

  it('a key file opens as the node signer', () => {
    const path = join(tempDir(), 'ledger.key');
    createSignerKeyFile(path);
    const seed = new Uint8Array(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
    const checkpoint = { origin: NAME, size: 3, root: new Uint8Array(32).fill(3) };
    expect(readSignerKeyFile(path, NAME).sign(checkpoint)).toBe(createCheckpointSigner({ name: NAME, privateKey: seed }).sign(checkpoint));
  });

  it('an injected signBytes that is not the key’s Ed25519 is refused when the signer is made', () => {
    const privateKey = new Uint8Array(32).fill(5);
    const otherKey = new Uint8Array(32).fill(6);
    expect(() => createCheckpointSigner({ name: NAME, privateKey, signBytes: () => new Uint8Array(64) })).toThrow(/does not produce the Ed25519 signatures/);
    // A real Ed25519 signature, of another key: refused too.
    expect(() => createCheckpointSigner({ name: NAME, privateKey, signBytes: (m) => ed25519.sign(m, otherKey) })).toThrow(/does not produce/);
    expect(() => createNodeCheckpointSigner({ name: NAME, privateKey: new Uint8Array(31) })).toThrow(TypeError);
  });
});
