import { describe, expect, it } from 'vitest';
import {
  assertCheckpoint,
  CheckpointError,
  createCheckpointSigner,
  createNoteSigner,
  ed25519KeyId,
  EMPTY_ROOT,
  formatCheckpoint,
  isValidKeyName,
  NoteError,
  openNote,
  parseCheckpoint,
  verifyCheckpoint,
} from '../src/index.ts';
import type { Checkpoint } from '../src/index.ts';
import { buildTree, fromHex, toHex } from './helpers.ts';
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';

const NAME = 'audit.example/log';
const PRIVATE_KEY = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'); // RFC 8032 §7.1 test 1
const OTHER_KEY = fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'); // RFC 8032 §7.1 test 2

const signer = createCheckpointSigner({ name: NAME, privateKey: PRIVATE_KEY });
const key = { name: NAME, publicKey: signer.publicKey };
const tree = buildTree(20);
const checkpoint: Checkpoint = { origin: NAME, size: 20, root: tree.root() };
const note = signer.sign(checkpoint);

/** Re-signs arbitrary text with the right key: isolates the checkpoint parser from the signature check. */
function signText(text: string): string {
  return createNoteSigner({ name: NAME, privateKey: PRIVATE_KEY }).sign(text);
}

/** Signs any text with the right key, bypassing the signer's own refusals (which would not sign a CR). */
function signRaw(text: string): string {
  const signature = ed25519.sign(new TextEncoder().encode(text), PRIVATE_KEY);
  const blob = Buffer.concat([Buffer.from(signer.keyId), Buffer.from(signature)]).toString('base64');
  return `${text}\n\u2014 ${NAME} ${blob}\n`;
}

describe('checkpoint and signed note formats', () => {
  it('the public key is the RFC 8032 test 1 key (signing uses the 32-byte seed)', () => {
    expect(toHex(signer.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });

  it('the key id is SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]', () => {
    const expected = createHash('sha256').update(NAME).update(Buffer.from([0x0a, 0x01])).update(signer.publicKey).digest().subarray(0, 4);
    expect(toHex(ed25519KeyId(NAME, signer.publicKey))).toBe(toHex(expected));
    expect(toHex(signer.keyId)).toBe(toHex(expected));
  });

  it('produces exactly origin, size, base64 root, a blank line and one em-dash signature line', () => {
    const lines = note.split('\n');
    expect(lines.slice(0, 4)).toEqual([NAME, '20', Buffer.from(tree.root()).toString('base64'), '']);
    expect(lines[5]).toBe('');
    expect(lines).toHaveLength(6);
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(lines[4] ?? '');
    expect(match?.[1]).toBe(NAME);
    const blob = Buffer.from(match?.[2] ?? '', 'base64');
    expect(blob).toHaveLength(68);
    expect(toHex(blob.subarray(0, 4))).toBe(toHex(signer.keyId));
    // The signature covers the note text including its final newline, and is plain RFC 8032 Ed25519.
    const text = `${NAME}\n20\n${Buffer.from(tree.root()).toString('base64')}\n`;
    expect(ed25519.verify(blob.subarray(4), new TextEncoder().encode(text), signer.publicKey, { zip215: false })).toBe(true);
  });

  it('formats the empty tree as size 0 with the empty root', () => {
    expect(formatCheckpoint({ origin: 'o', size: 0, root: EMPTY_ROOT })).toBe('o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n');
  });

  it('is deterministic (RFC 8032): the same checkpoint gives the same note', () => {
    expect(signer.sign(checkpoint)).toBe(note);
  });

  it('verifies the C2SP spec example structure: another implementation’s note with our key format', () => {
    // Built by hand, not by our signer: text, blank line, em dash line.
    const text = `${NAME}\n20\n${Buffer.from(tree.root()).toString('base64')}\n`;
    const signature = ed25519.sign(new TextEncoder().encode(text), PRIVATE_KEY);
    const blob = Buffer.concat([Buffer.from(ed25519KeyId(NAME, signer.publicKey)), Buffer.from(signature)]).toString('base64');
    expect(verifyCheckpoint(`${text}\n\u2014 ${NAME} ${blob}\n`, key).ok).toBe(true);
  });
});

describe('verifyCheckpoint', () => {
  it('round trip: returns origin, size and root', () => {
    const result = verifyCheckpoint(note, key);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.checkpoint.origin).toBe(NAME);
    expect(result.checkpoint.size).toBe(20);
    expect(toHex(result.checkpoint.root)).toBe(toHex(tree.root()));
    expect(assertCheckpoint(note, { ...key, origin: NAME }).size).toBe(20);
  });

  it('accepts sizes up to Number.MAX_SAFE_INTEGER and size 0', () => {
    for (const size of [0, 1, Number.MAX_SAFE_INTEGER]) {
      expect(assertCheckpoint(signer.sign({ origin: NAME, size, root: EMPTY_ROOT }), key).size).toBe(size);
    }
  });

  it('ignores signatures of other keys (a witness cosignature) next to ours', () => {
    const witness = createNoteSigner({ name: 'witness.example', privateKey: OTHER_KEY });
    const text = formatCheckpoint(checkpoint);
    const cosigned = `${note}${witness.sign(text).slice(text.length + 1)}`;
    expect(cosigned.split('\n').filter((line) => line.startsWith('\u2014'))).toHaveLength(2);
    expect(verifyCheckpoint(cosigned, key).ok).toBe(true);
  });

  const refusals: Array<[string, string, string]> = [
    ['missing final newline', note.slice(0, -1), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['CR line endings', note.replaceAll('\n', '\r\n'), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a validly signed CR inside the text', signRaw(`${NAME}\r\n20\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a tab', note.replace(NAME, `${NAME}\t`), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['no blank line before the signature', note.replace('\n\n', '\n'), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['no signature line', formatCheckpoint(checkpoint), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a hyphen instead of the em dash', note.replace('\u2014', '-'), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a signature line without a signature', note.replace(/ [A-Za-z0-9+/=]+\n$/, '\n'), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['non-canonical base64 in the signature', note.replace(/=\n$/, '\n'), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a lone surrogate (not UTF-8)', note.replace(NAME, `${NAME}\uD800`), 'ERR_LEDGER_NOTE_MALFORMED'],
    ['a signature by another key under our name', createCheckpointSigner({ name: NAME, privateKey: OTHER_KEY }).sign(checkpoint), 'ERR_LEDGER_NOTE_KEY_ID_MISMATCH'],
    ['a signature under an unknown key name only', createCheckpointSigner({ name: 'other.example/log', privateKey: PRIVATE_KEY }).sign(checkpoint), 'ERR_LEDGER_NOTE_UNKNOWN_KEY'],
    ['a changed size (signature no longer matches)', note.replace('\n20\n', '\n21\n'), 'ERR_LEDGER_NOTE_SIGNATURE_INVALID'],
    ['a changed root', note.replace(Buffer.from(tree.root()).toString('base64'), Buffer.from(tree.root(19)).toString('base64')), 'ERR_LEDGER_NOTE_SIGNATURE_INVALID'],
    ['a non-canonical decimal size "01"', signText(`${NAME}\n01\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'],
    ['a signed size "+1"', signText(`${NAME}\n+1\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'],
    ['a size "1e3"', signText(`${NAME}\n1e3\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'],
    ['a size beyond MAX_SAFE_INTEGER', signText(`${NAME}\n9007199254740992\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'],
    ['a size of 20 digits', signText(`${NAME}\n18446744073709551615\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID'],
    ['a root of 31 bytes', signText(`${NAME}\n20\n${Buffer.from(tree.root().subarray(1)).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'],
    ['a root of 33 bytes', signText(`${NAME}\n20\n${Buffer.from([...tree.root(), 0]).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'],
    ['a root in base64url', signText(`${NAME}\n20\n${Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64url')}=\n`), 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'],
    ['a root without padding', signText(`${NAME}\n20\n${Buffer.from(tree.root()).toString('base64').replace('=', '')}\n`), 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'],
    ['a root in hex', signText(`${NAME}\n20\n${toHex(tree.root())}\n`), 'ERR_LEDGER_CHECKPOINT_ROOT_INVALID'],
    ['an extension line', signText(`${formatCheckpoint(checkpoint)}timestamp 1\n`), 'ERR_LEDGER_CHECKPOINT_MALFORMED'],
    ['two lines only', signText(`${NAME}\n20\n`), 'ERR_LEDGER_CHECKPOINT_MALFORMED'],
    ['an empty origin', signText(`\n20\n${Buffer.from(tree.root()).toString('base64')}\n`), 'ERR_LEDGER_CHECKPOINT_MALFORMED'],
  ];

  for (const [what, text, code] of refusals) {
    it(`refuses ${what} (${code})`, () => {
      const result = verifyCheckpoint(text, key);
      expect(result).toMatchObject({ ok: false, code });
    });
  }

  it('refuses a note whose key-name signature fails even when another line from the same key verifies', () => {
    const lines = note.split('\n');
    const good = lines[4] ?? '';
    const bad = createCheckpointSigner({ name: NAME, privateKey: PRIVATE_KEY }).sign({ ...checkpoint, size: 21 }).split('\n')[4] ?? '';
    expect(verifyCheckpoint(`${lines.slice(0, 4).join('\n')}\n${good}\n${bad}\n`, key)).toMatchObject({ code: 'ERR_LEDGER_NOTE_SIGNATURE_INVALID' });
  });

  it('refuses more than 100 signature lines', () => {
    const line = note.split('\n')[4] ?? '';
    const many = `${formatCheckpoint(checkpoint)}\n${`${line}\n`.repeat(101)}`;
    expect(verifyCheckpoint(many, key)).toMatchObject({ code: 'ERR_LEDGER_NOTE_MALFORMED' });
    expect(verifyCheckpoint(`${formatCheckpoint(checkpoint)}\n${`${line}\n`.repeat(16)}`, key).ok).toBe(true);
  });

  it('a note signed by the right key for another origin parses with that origin; an expected origin refuses it', () => {
    const foreign = signer.sign({ ...checkpoint, origin: 'staging.example/log' });
    const parsed = verifyCheckpoint(foreign, key);
    expect(parsed.ok && parsed.checkpoint.origin).toBe('staging.example/log');
    expect(verifyCheckpoint(foreign, { ...key, origin: NAME })).toMatchObject({ ok: false, code: 'ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH' });
  });

  it('assertCheckpoint throws NoteError or CheckpointError with the code', () => {
    expect(() => assertCheckpoint(note.replace('\n20\n', '\n21\n'), key)).toThrow(NoteError);
    expect(() => assertCheckpoint(signer.sign({ ...checkpoint, origin: 'x' }), { ...key, origin: NAME })).toThrow(CheckpointError);
    expect(() => assertCheckpoint(signer.sign({ ...checkpoint, origin: 'x' }), { ...key, origin: NAME })).toThrow(
      expect.objectContaining({ code: 'ERR_LEDGER_CHECKPOINT_ORIGIN_MISMATCH' }),
    );
  });

  it('parseCheckpoint alone refuses what verifyCheckpoint refuses after the signature', () => {
    expect(parseCheckpoint(`${NAME}\n01\nAA==\n`)).toMatchObject({ code: 'ERR_LEDGER_CHECKPOINT_SIZE_INVALID' });
    expect(parseCheckpoint(`${NAME}\n1\nAA==`)).toMatchObject({ code: 'ERR_LEDGER_CHECKPOINT_MALFORMED' });
  });

  it('caller misuse throws TypeError: bad key names, keys, checkpoints to sign', () => {
    expect(isValidKeyName('audit.example/log')).toBe(true);
    for (const name of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u2028b', 'a\u0085b', 'a\nb']) {
      expect(isValidKeyName(name), JSON.stringify(name)).toBe(false);
      expect(() => createCheckpointSigner({ name, privateKey: PRIVATE_KEY })).toThrow(TypeError);
      expect(() => verifyCheckpoint(note, { name, publicKey: signer.publicKey })).toThrow(TypeError);
    }
    expect(() => createCheckpointSigner({ name: NAME, privateKey: new Uint8Array(64) })).toThrow(TypeError);
    expect(() => verifyCheckpoint(note, { name: NAME, publicKey: new Uint8Array(31) })).toThrow(TypeError);
    expect(() => verifyCheckpoint(42 as unknown as string, key)).toThrow(TypeError);
    expect(() => signer.sign({ ...checkpoint, size: -1 })).toThrow(TypeError);
    expect(() => signer.sign({ ...checkpoint, size: 2 ** 53 })).toThrow(TypeError);
    expect(() => signer.sign({ ...checkpoint, root: new Uint8Array(31) })).toThrow(TypeError);
    expect(() => signer.sign({ ...checkpoint, origin: 'a\nb' })).toThrow(TypeError);
    expect(() => signer.sign({ ...checkpoint, origin: '' })).toThrow(TypeError);
    expect(() => createNoteSigner({ name: NAME, privateKey: PRIVATE_KEY }).sign('no newline')).toThrow(TypeError);
    expect(() => createNoteSigner({ name: NAME, privateKey: PRIVATE_KEY }).sign('a\r\n')).toThrow(TypeError);
  });

  it('openNote returns the signed text only', () => {
    expect(openNote(note, key)).toEqual({ ok: true, text: formatCheckpoint(checkpoint) });
  });
});
