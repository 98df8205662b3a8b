/**
 * Strict standard base64 (RFC 4648 §4, with padding), the encoding C2SP notes and our bundles use.
 * Decoders such as `Buffer.from(text, 'base64')` or `atob` skip garbage or accept non-zero padding bits,
 * which would let one value have many spellings; we accept only the one canonical spelling.
 * Written out here, not Buffer, so the verifier runs in a browser; these are notes and bundles (tens of
 * bytes per value), never the hashing hot path.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Character code → 6-bit value; only read for characters the regex has admitted ('=' reads as 0). */
const VALUES = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i += 1) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Decodes canonical standard base64, or returns undefined. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = new Uint8Array((text.length / 4) * 3 - padding);
  for (let i = 0, o = 0; i < text.length; i += 4, o += 3) {
    const n =
      (VALUES[text.charCodeAt(i)]! << 18) |
      (VALUES[text.charCodeAt(i + 1)]! << 12) |
      (VALUES[text.charCodeAt(i + 2)]! << 6) |
      VALUES[text.charCodeAt(i + 3)]!;
    bytes[o] = n >> 16;
    // Past the end (padding) a typed-array write is a no-op, so the last group needs no special case.
    bytes[o + 1] = (n >> 8) & 0xff;
    bytes[o + 2] = n & 0xff;
  }
  // The regex admits non-zero padding bits ("QR==" for "QQ=="); re-encoding catches them.
  if (encodeBase64(bytes) !== text) return undefined;
  return bytes;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  const whole = bytes.length - (bytes.length % 3);
  for (let i = 0; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  if (bytes.length - whole === 1) {
    const n = bytes[whole]! << 16;
    out += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}==`;
  } else if (bytes.length - whole === 2) {
    const n = (bytes[whole]! << 16) | (bytes[whole + 1]! << 8);
    out += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}${ALPHABET[(n >> 6) & 63]!}=`;
  }
  return out;
}

const ENCODER = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return ENCODER.encode(text);
}

/** Whether a JS string is well-formed Unicode (no lone surrogate), i.e. encodes to valid UTF-8 and back. */
export function isWellFormed(text: string): boolean {
  // ES2024 String.prototype.isWellFormed (Node 20), written out for this project's lib typings.
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
