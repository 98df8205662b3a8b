import { createHmac, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createCheckpointSigner, type CheckpointSigner } from '../checkpoint.ts';

/**
 * Checkpoint signing keys on disk: one line, the base64 of a 32-byte Ed25519 seed, in a file only its
 * owner can read. Node only (the verifier and the rest of the ledger stay portable).
 */

/** The key file is missing, unreadable, malformed or readable by others. */
export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/**
 * Opens a signer from a key file. Refuses a file that group or others may read or write (POSIX): a
 * checkpoint key anyone on the machine can read signs anyone's history.
 *
 * @example
 * ```ts
 * const signer = readSignerKeyFile('/etc/covenant/ledger.key', 'audit.example/prod');
 * console.log(Buffer.from(signer.publicKey).toString('base64')); // for `covenant ledger verify`
 * ```
 */
export function readSignerKeyFile(path: string, name: string): CheckpointSigner {
  let text: string;
  try {
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
      throw new KeyFileError(`${path}: the checkpoint key must be readable by its owner only (chmod 600)`);
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    throw new KeyFileError(`${path}: cannot read the checkpoint key (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const line = text.trim();
  const seed = Buffer.from(line, 'base64');
  // Round-trip check: Buffer.from ignores junk, which would silently yield another key.
  if (seed.length !== 32 || seed.toString('base64') !== line) {
    throw new KeyFileError(`${path}: expected one line, the base64 of a 32-byte Ed25519 private key`);
  }
  return createNodeCheckpointSigner({ name, privateKey: new Uint8Array(seed) });
}

/**
 * A checkpoint signer that signs with node:crypto (OpenSSL), about 15x faster than noble on Node, which
 * matters when batches are small: one signature per batch is on every audited call's path. Ed25519 is
 * deterministic, so its notes are byte for byte those of `createCheckpointSigner`; that is checked once,
 * when the signer is made.
 *
 * @example
 * ```ts
 * const signer = createNodeCheckpointSigner({ name: 'audit.example/prod', privateKey: seed });
 * ```
 */
export function createNodeCheckpointSigner(options: { readonly name: string; readonly privateKey: Uint8Array }): CheckpointSigner {
  const seed = options?.privateKey;
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new TypeError('privateKey must be a 32-byte Ed25519 seed');
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(ed25519.getPublicKey(seed)).toString('base64url') },
    format: 'jwk',
  });
  return createCheckpointSigner({
    name: options.name,
    privateKey: seed,
    signBytes: (message) => new Uint8Array(sign(null, message, key)),
    // node:crypto's HMAC is several times noble's on these small inputs (one per audited call).
    macBytes: (digestKey, message) => new Uint8Array(createHmac('sha256', digestKey).update(message).digest()),
  });
}

/**
 * Creates a new key file (mode 0600, its folder if missing) with a random key. Never overwrites: an
 * existing file is an error, because replacing a log's key silently orphans its checkpoints.
 *
 * @example
 * ```ts
 * if (!existsSync(keyPath)) createSignerKeyFile(keyPath);
 * ```
 */
export function createSignerKeyFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new KeyFileError(`${path}: cannot create the checkpoint key (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Where a service and the CLI keep the ledger's state file (`createLedgerStore`'s `stateFile`) when none is
 * configured: beside the key file, `<key file>.state`. One rule for both, so that `covenant rbac …` and the
 * service it shares a log with hold the log to the same head.
 *
 * @example
 * ```ts
 * createLedgerStore({ db, origin, signer, stateFile: process.env.COVENANT_LEDGER_STATE_FILE ?? ledgerStateFileFor(keyPath) });
 * ```
 */
export function ledgerStateFileFor(keyFile: string): string {
  if (typeof keyFile !== 'string' || keyFile === '') throw new TypeError('ledgerStateFileFor: keyFile must be a path');
  return `${keyFile}.state`;
}
