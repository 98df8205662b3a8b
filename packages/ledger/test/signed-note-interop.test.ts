import { describe, expect, it } from 'vitest';
import { createNoteSigner, ed25519KeyId, openNote } from '../src/index.ts';
import { FIXTURES, fromBase64, readJson, toHex } from './helpers.ts';

// golang.org/x/mod/sumdb/note's published example, in test/fixtures/signed-note (source named there).
const vector = readJson(`${FIXTURES}signed-note/go-sumdb-note.json`) as { signerKey: string; verifierKey: string; text: string; note: string };

/** `PRIVATE+KEY+<name>+<id>+<base64>` / `<name>+<id>+<base64>`; the base64 starts with the 0x01 type byte. */
function splitKey(key: string, prefix: string): { name: string; id: string; material: Uint8Array } {
  const [name = '', id = '', ...rest] = key.slice(prefix.length).split('+');
  const bytes = fromBase64(rest.join('+'));
  expect(bytes[0]).toBe(0x01);
  return { name, id, material: bytes.subarray(1) };
}

describe('signed-note interoperability with Go sumdb/note', () => {
  const secret = splitKey(vector.signerKey, 'PRIVATE+KEY+');
  const verifier = splitKey(vector.verifierKey, '');

  it('derives the same key id from the name and public key', () => {
    expect(toHex(ed25519KeyId(verifier.name, verifier.material))).toBe(verifier.id);
  });

  it('signs the text into exactly the note Go produces', () => {
    const signer = createNoteSigner({ name: secret.name, privateKey: secret.material });
    expect(toHex(signer.publicKey)).toBe(toHex(verifier.material));
    expect(signer.sign(vector.text)).toBe(vector.note);
  });

  it('opens Go’s note, and refuses it with one character changed', () => {
    const key = { name: verifier.name, publicKey: verifier.material };
    expect(openNote(vector.note, key)).toEqual({ ok: true, text: vector.text });
    expect(openNote(vector.note.replace('cryptography', 'cryptographY'), key)).toMatchObject({ code: 'ERR_LEDGER_NOTE_SIGNATURE_INVALID' });
  });
});
