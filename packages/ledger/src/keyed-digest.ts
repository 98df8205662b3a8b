import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from './encoding.ts';

/**
 * The ledger's keyed digest: `hmac-sha256:` and the lowercase hex of HMAC-SHA256 under a key derived from
 * the log's checkpoint key. The log records some values only as digests (a call's redacted input, an RBAC
 * change's free-text reason); a plain SHA-256 of them lets anyone holding the log confirm a guess (an
 * e-mail, a name, a short reason) by hashing it. Keyed, only the holder of the private key can: verifiers
 * need nothing but the public key, for every check they make, and learn nothing from a digest.
 *
 * The key is HKDF-SHA256 (RFC 5869) of the 32-byte Ed25519 seed, no salt, info {@link DIGEST_KEY_INFO}: one
 * derivation, domain-separated from the signatures the seed makes.
 */
export const DIGEST_KEY_INFO = 'covenant ledger keyed digest v1';

/** The prefix of a keyed digest (a digest written before keyed digests is `sha256:`). */
export const KEYED_DIGEST_PREFIX = 'hmac-sha256:';

/** The digest key of a checkpoint key (a 32-byte Ed25519 seed). */
export function deriveDigestKey(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new TypeError('the checkpoint key must be a 32-byte Ed25519 seed');
  return hkdf(sha256, seed, undefined, utf8(DIGEST_KEY_INFO), 32);
}

/** `hmac-sha256:<hex>` of the UTF-8 of `text` under `key` (portable: @noble/hashes). */
export function keyedDigest(key: Uint8Array, text: string): string {
  if (typeof text !== 'string') throw new TypeError('digest: text must be a string');
  return `${KEYED_DIGEST_PREFIX}${toHex(hmac(sha256, key, utf8(text)))}`;
}

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}
